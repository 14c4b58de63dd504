// The SDK probe in Go: every operation and event of passerelle_v1, answered
// in text the conformance vectors (../probe.json) spell out. Its twin in C is
// ../c/probe.c; both must give the same answers.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

func init() {
	app := passerelle.NewApp()
	app.OnOpen(func(c *passerelle.Context, ev *passerelle.Event) error {
		return say(c, "open text=%s surface=%s", ev.Text, ev.Surface)
	})
	app.OnMessage(onMessage)
	app.OnAction(func(c *passerelle.Context, ev *passerelle.Event) error {
		a := ev.Action
		// A Go map loses the order of the form's fields: the vectors
		// submit one field.
		var fields string
		for k, v := range a.Fields {
			fields += " " + k + "=" + v
		}
		name, ok := a.Fields["name"]
		if !ok {
			name = "none"
		}
		return say(c, "action %s value=%s fields=[%s] name=%s", a.ID, a.Value, fields, name)
	})
	app.OnPayment(func(c *passerelle.Context, ev *passerelle.Event) error {
		p := ev.Payment
		return say(c, "payment %s %d %s refunded=%d key=%s reason=%s", p.Status, p.Amount, p.Currency, p.Refunded, p.IdempotencyKey, p.Reason)
	})
	app.OnTimer(func(c *passerelle.Context, ev *passerelle.Event) error {
		return say(c, "timer fired %s", ev.Timer.Payload)
	})
	app.OnConsent(func(c *passerelle.Context, ev *passerelle.Event) error {
		cs := ev.Consent
		if err := say(c, "consent granted=%d profile=%d scopes=%d", b2i(cs.Granted), b2i(cs.Has("identity.profile")), len(cs.Scopes)); err != nil {
			return err
		}
		return profile(c)
	})
	onHandoff := func(c *passerelle.Context, ev *passerelle.Event) error {
		h := ev.Handoff
		return say(c, "%s %s agent=%s note=%s id=%s", ev.Type, h.Status, h.Agent, h.Note, map[bool]string{true: "set", false: "none"}[h.ID != ""])
	}
	app.OnHandoff(onHandoff)
	app.OnHandback(onHandoff)
	app.OnStatus(func(c *passerelle.Context, ev *passerelle.Event) error {
		st := ev.Status
		return say(c, "status message=%s state=%s code=%s network_code=%d surface=%s", st.Message, st.State, st.Code, st.NetworkCode, st.Surface)
	})
	app.OnOther(func(c *passerelle.Context, ev *passerelle.Event) error {
		return say(c, "other %s", ev.Type)
	})
	passerelle.Serve(app)
}

func main() {}

func say(c *passerelle.Context, format string, args ...any) error {
	_, err := c.SendText(fmt.Sprintf(format, args...))
	return err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// code is the stable code of a failed call.
func code(err error) string {
	var e *passerelle.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "ok"
}

func onMessage(c *passerelle.Context, ev *passerelle.Event) error {
	t := ev.Text
	switch t {
	case "buttons", "list", "form":
		return cards(c, t)
	case "kv":
		return kv(c, c.Store(), "app")
	case "kv person":
		return kv(c, c.PersonStore(), "person")
	case "pages":
		return pages(c)
	case "quota":
		return quota(c)
	case "profile":
		return profile(c)
	case "refund":
		return refund(c)
	case "timer":
		return timer(c)
	case "cancel-timer": // not "cancel", which the platform keeps for STOP
		return cancel(c)
	case "share":
		id, err := c.Share(passerelle.Card{Title: "Probe", Text: "Open me"}, "from-share")
		if err != nil {
			return err
		}
		return say(c, "share id=%s", map[bool]string{true: "set", false: "none"}[id != ""])
	case "handoff":
		r, err := c.Handoff(passerelle.HandoffRequest{Reason: "probe", Summary: `a "summary"`, Fields: map[string]string{"order": "42"}})
		if err != nil {
			return err
		}
		_, empty := c.Handoff(passerelle.HandoffRequest{})
		return say(c, "handoff id=%s already=%d empty_reason=%s", map[bool]string{true: "set", false: "none"}[r.ID != ""], b2i(r.Already), code(empty))
	case "log":
		c.Log(passerelle.LevelDebug, "debug line")
		c.Logf(passerelle.LevelWarn, "warn %q %d", "q\"\n", -7)
		return say(c, "logged")
	case "fail":
		_, err := c.SendText("")
		return err
	case "internal":
		return errors.New("the probe failed on purpose")
	}
	if arg, ok := strings.CutPrefix(t, "pay "); ok {
		return pay(c, arg)
	}
	return say(c, "message %s", t)
}

func cards(c *passerelle.Context, which string) error {
	card := passerelle.Card{Title: "Probe", Text: "Pick one"}
	switch which {
	case "buttons":
		card.Image = "https://example.com/p.png"
		card.Buttons = []passerelle.Button{{ID: "yes", Title: "Yes"}, {ID: "no", Title: "No", Value: "n"}}
	case "list":
		card.List = &passerelle.List{Button: "Fruit", Items: []passerelle.ListItem{
			{ID: "a", Title: "Apple", Description: `Red "and" round`}, {ID: "b", Title: "Banana"}}}
	default:
		card.Form = &passerelle.Form{ID: "about", Submit: "Send", Fields: []passerelle.FormField{
			{Name: "name", Label: "Your name", Required: true}, {Name: "age", Label: "Age", Type: "number"}}}
	}
	_, err := c.SendCard(card)
	return err
}

func kv(c *passerelle.Context, s passerelle.KV, scope string) error {
	if err := s.Set("greeting", `héllo "w"`); err != nil {
		return err
	}
	v, err := s.Get("greeting")
	if err != nil {
		return err
	}
	if err := s.SetBytes("bin", []byte{0, 1, 0xff, 'x'}); err != nil {
		return err
	}
	bin, err := s.GetBytes("bin")
	if err != nil {
		return err
	}
	keys, _, err := s.List("", "", 0)
	if err != nil {
		return err
	}
	d1, _ := s.Delete("greeting")
	d2, _ := s.Delete("greeting")
	missing := "found"
	if _, err := s.Get("greeting"); errors.Is(err, passerelle.ErrNotFound) {
		missing = code(err)
	}
	return say(c, "kv %s len=%d bin=%x keys=%s deleted=%d,%d after=%s", scope, len(v), bin, strings.Join(keys, ","), b2i(d1), b2i(d2), missing)
}

func pages(c *passerelle.Context) error {
	s := c.Store()
	for i := 1; i <= 3; i++ {
		s.Set("p/"+strconv.Itoa(i), "x")
	}
	s.Set("q/1", "x")
	a, ac, err := s.List("p/", "", 2)
	if err != nil {
		return err
	}
	b, bc, err := s.List("p/", ac, 2)
	if err != nil {
		return err
	}
	if bc == "" {
		bc = "none"
	}
	_, _, err = s.List("p/", "", 5000)
	return say(c, "pages %s,%s cursor=%s then %s cursor=%s limit5000=%s", a[0], a[1], ac, b[0], bc, code(err))
}

func quota(c *passerelle.Context) error {
	err := c.Store().Set("big", strings.Repeat("q", 65*1024))
	var e *passerelle.Error
	if !errors.As(err, &e) {
		return say(c, "quota status=0 code=ok op= message=no")
	}
	return say(c, "quota status=%d code=%s op=%s message=%s", e.Status, e.Code, e.Op, map[bool]string{true: "yes", false: "no"}[e.Message != ""])
}

func profile(c *passerelle.Context) error {
	p, err := c.Profile(passerelle.FieldName)
	if errors.Is(err, passerelle.ErrConsentRequired) {
		return say(c, "profile consent_required")
	}
	if err != nil {
		return err
	}
	union := "?"
	if strings.HasPrefix(p.Union, "u_") {
		union = "u_"
	}
	return say(c, "profile name=%s user=%s union=%s", p.Name, map[bool]string{true: "set", false: "empty"}[p.User != ""], union)
}

func pay(c *passerelle.Context, arg string) error {
	amount, _ := strconv.ParseInt(arg, 10, 64)
	o, err := c.RequestPayment(passerelle.PaymentRequest{Amount: amount, Currency: "EUR", Description: "Probe order", IdempotencyKey: "probe-" + strconv.FormatInt(amount, 10)})
	if err != nil {
		return say(c, "pay %s", code(err))
	}
	c.Store().Set("order", o.Order)
	return say(c, "pay %s %d %s %s key=%s expires=%s", o.Status, o.Amount, o.Currency, o.Description, o.IdempotencyKey, map[bool]string{true: "set", false: "none"}[o.Expires != ""])
}

func refund(c *passerelle.Context) error {
	order, err := c.Store().Get("order")
	if err != nil {
		return err
	}
	o, err := c.Refund(order, 100, "r-1")
	if err != nil {
		return say(c, "refund %s", code(err))
	}
	s, err := c.PaymentStatus(order)
	if err != nil {
		return err
	}
	_, err = c.Refund(order, 999999, "r-2")
	return say(c, "refund %s refunded=%d status=%s too_much=%s", o.Status, o.Refunded, s.Status, code(err))
}

func timer(c *passerelle.Context) error {
	id, err := c.After(time.Second, json.RawMessage(`{"a":[true,null,-2.5e3],"n":1,"s":"x\u00e9"}`))
	if err != nil {
		return err
	}
	c.Store().Set("timer", id)
	return say(c, "timer set=%s", map[bool]string{true: "yes", false: "no"}[id != ""])
}

func cancel(c *passerelle.Context) error {
	id, err := c.Store().Get("timer")
	if err != nil {
		return err
	}
	first := c.CancelTimer(id)
	second := c.CancelTimer(id)
	return say(c, "cancel %s then %s", code(first), code(second))
}
