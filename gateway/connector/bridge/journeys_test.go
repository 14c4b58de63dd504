package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/bridge"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/identity"
)

// sentMS is a message the Messenger simulator accepted, decoded.
type sentMS struct {
	Text     string
	Quick    []string // quick reply titles
	Payloads []string
	Cards    int
}

func decodeMS(raw json.RawMessage) sentMS {
	var req struct {
		Message struct {
			Text         string `json:"text"`
			QuickReplies []struct {
				Title   string `json:"title"`
				Payload string `json:"payload"`
			} `json:"quick_replies"`
			Attachment *struct {
				Payload struct {
					Elements []json.RawMessage `json:"elements"`
				} `json:"payload"`
			} `json:"attachment"`
		} `json:"message"`
	}
	_ = json.Unmarshal(raw, &req)
	out := sentMS{Text: req.Message.Text}
	for _, q := range req.Message.QuickReplies {
		out.Quick, out.Payloads = append(out.Quick, q.Title), append(out.Payloads, q.Payload)
	}
	if req.Message.Attachment != nil {
		out.Cards = len(req.Message.Attachment.Payload.Elements)
	}
	return out
}

func (s *stack) msSent() []sentMS {
	var out []sentMS
	for _, m := range s.ms.Sent() {
		out = append(out, decodeMS(m.Body))
	}
	return out
}

// wsClient is a person's WebSocket connection to the gateway.
type wsClient struct {
	t  testing.TB
	ws *websocket.Conn
}

func (s *stack) dial(person string) *wsClient {
	s.t.Helper()
	tok, err := s.svc.Identity.Issue(person, identity.RolePerson, time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.gwHTTP.URL, "http")+"/ws?token="+tok, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { ws.Close() })
	c := &wsClient{t: s.t, ws: ws}
	c.send(map[string]any{"type": "hello", "v": 1})
	c.until(func(f map[string]any) bool { return f["type"] == "ready" })
	return c
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

// until reads frames until ok holds for one, returning those before it.
func (c *wsClient) until(ok func(map[string]any) bool) (before []map[string]any) {
	c.t.Helper()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(time.Minute))
		var f map[string]any
		if err := c.ws.ReadJSON(&f); err != nil {
			c.t.Fatalf("read: %v (after %v)", err, before)
		}
		if ok(f) {
			return before
		}
		before = append(before, f)
	}
}

// linkCode asks the gateway for a link code as the web client does.
func (s *stack) linkCode(person string) string {
	s.t.Helper()
	tok, err := s.svc.Identity.Issue(person, identity.RolePerson, time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, s.gwHTTP.URL+"/link-code", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Code, Text string }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 || !strings.Contains(got.Text, "LINK "+got.Code) {
		s.t.Fatalf("POST /link-code: %d %+v %v", resp.StatusCode, got, err)
	}
	return got.Code
}

// TestStopFollowsThePerson: a person signed in on the web links their
// WhatsApp number and their Messenger account with one-time codes
// ("LINK 123456"); STOP on WhatsApp then silences the business on
// Messenger and on the web, with one confirmation, and the ledger says so.
func TestStopFollowsThePerson(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, stackOpts{})
	ana, err := s.svc.Identity.CreatePerson(ctx, "Ana", "")
	if err != nil {
		t.Fatal(err)
	}
	const waAna, psidAna = "15550002", "psid-ana"

	code := s.linkCode(ana.ID)
	s.deliver(s.waHook, waText(waAna, "Ana on WA", s.wamid(), "LINK "+code))
	linked, n := s.nextWA(0)
	if !strings.HasPrefix(linked.Text, "Linked") || !strings.Contains(linked.Text, "Ana") {
		t.Fatalf("LINK answered %q", linked.Text)
	}
	code, _, err = s.svc.Identity.IssueLinkCode(ctx, ana.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.deliver(s.msHook, msMessage(psidAna, map[string]any{"mid": "m.link", "text": "link " + code}))
	waitFor(t, "the Messenger LINK answer", func() bool { return len(s.ms.Sent()) == 1 })
	for _, a := range []identity.Account{{Surface: connector.NetworkWhatsApp, External: waAna}, {Surface: connector.NetworkMessenger, External: psidAna}} {
		p, err := s.svc.Identity.PersonByAccount(ctx, a)
		if err != nil || p.ID != ana.ID {
			t.Fatalf("%s account belongs to %+v (%v), want Ana", a.Surface, p, err)
		}
	}

	s.deliver(s.waHook, waText(waAna, "Ana", s.wamid(), "hi"))
	menu, n := s.nextWA(n)
	if menu.Type != "interactive:list" {
		t.Fatalf("the menu went out as %+v", menu)
	}
	s.deliver(s.waHook, waText(waAna, "Ana", s.wamid(), "STOP"))
	stop, n := s.nextWA(n)
	if stop.Text != consent.StopText("The Kitchen") {
		t.Fatalf("STOP answered %q", stop.Text)
	}

	// Messenger: "hi" reaches the app, whose menu the consent rules refuse;
	// HELP, answered by the platform after it, marks the end.
	s.deliver(s.msHook, msMessage(psidAna, map[string]any{"mid": "m.hi", "text": "hi"}))
	s.deliver(s.msHook, msMessage(psidAna, map[string]any{"mid": "m.help", "text": "HELP"}))
	waitFor(t, "the HELP answer on Messenger", func() bool { return len(s.ms.Sent()) == 2 })
	sent := s.msSent()
	if !strings.Contains(sent[1].Text, "Reply STOP") || sent[1].Cards != 0 || len(sent[1].Quick) != 0 {
		t.Fatalf("Messenger got %+v after STOP on WhatsApp", sent)
	}

	// The web: opening the app draws no menu.
	c := s.dial(ana.ID)
	c.send(map[string]any{"type": "open", "id": "o1", "app": "lunch"})
	var conv string
	c.until(func(f map[string]any) bool {
		if f["type"] == "ack" && f["id"] == "o1" {
			conv, _ = f["conv"].(string)
			return true
		}
		return false
	})
	c.send(map[string]any{"type": "send", "id": "s1", "conv": conv, "text": "HELP"})
	before := c.until(func(f map[string]any) bool {
		return f["type"] == "msg" && strings.Contains(fmt.Sprint(f["message"]), "Reply STOP")
	})
	for _, f := range before {
		if f["type"] == "msg" && strings.Contains(fmt.Sprint(f), "card") {
			t.Fatalf("the web got a card after STOP on WhatsApp: %v", f)
		}
	}
	if got := len(s.wa.Sent()); got != n {
		t.Fatalf("WhatsApp got %d more messages after STOP", got-n)
	}
	recs, err := s.svc.Consent.Records(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(recs, func(r consent.Record) bool {
		return r.Kind == consent.KindOptOut && r.Person == ana.ID && r.Business == merchant && r.Surface == connector.NetworkWhatsApp
	}) {
		t.Fatalf("no opt-out from WhatsApp in the ledger: %+v", recs)
	}
}

// TestRideFormOnWhatsApp: the ride app's form, which WhatsApp cannot
// draw, is asked one question at a time; a reply that does not fit is
// asked again with the reason; the app gets the form's action with the
// values and answers with a quote.
func TestRideFormOnWhatsApp(t *testing.T) {
	s := newStack(t, stackOpts{waApp: "ride"})
	const who = "15550003"
	s.deliver(s.waHook, waText(who, "Chloe", s.wamid(), "hello"))
	q, n := s.nextWA(0)
	if !strings.Contains(q.Text, "Book a ride") || !strings.Contains(q.Text, "1/3 Pick-up address") {
		t.Fatalf("first question: %q", q.Text)
	}
	s.deliver(s.waHook, waText(who, "Chloe", s.wamid(), "1 Main Street"))
	q, n = s.nextWA(n)
	if !strings.HasPrefix(q.Text, "2/3 Destination") {
		t.Fatalf("second question: %q", q.Text)
	}
	s.deliver(s.waHook, waText(who, "Chloe", s.wamid(), "Airport"))
	q, n = s.nextWA(n)
	if !strings.HasPrefix(q.Text, "3/3 Passengers") || !strings.Contains(q.Text, "skip") {
		t.Fatalf("third question: %q", q.Text)
	}
	s.deliver(s.waHook, waText(who, "Chloe", s.wamid(), "three"))
	q, n = s.nextWA(n)
	if !strings.Contains(q.Text, `"three" is not a number`) || !strings.Contains(q.Text, "3/3 Passengers") {
		t.Fatalf("a wrong reply was answered %q", q.Text)
	}
	s.deliver(s.waHook, waText(who, "Chloe", s.wamid(), "2"))
	quote, _ := s.until(n, "the quote", hasTitle("Book "))
	if !strings.Contains(quote.Text, "1 Main Street") || !strings.Contains(quote.Text, "2 passengers") {
		t.Fatalf("quote: %+v", quote)
	}
}

// TestUnsupportedIsAnswered: a photo is kept in the conversation and
// answered politely, never dropped and never handed to the app.
func TestUnsupportedIsAnswered(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, stackOpts{})
	const who = "15550004"
	photo := waMessage(who, "Dan", "wamid.photo", map[string]any{"type": "image", "image": map[string]any{"id": "media-1", "mime_type": "image/jpeg"}})
	s.deliver(s.waHook, photo)
	s.deliver(s.waHook, photo)
	m, n := s.nextWA(0)
	if m.Text != bridge.UnsupportedText {
		t.Fatalf("a photo was answered %+v", m)
	}
	// The point after which the redelivery was handled.
	s.deliver(s.waHook, waText(who, "Dan", s.wamid(), "hi"))
	s.until(n, "the menu", func(m sentWA) bool { return m.Type == "interactive:list" })
	p, err := s.svc.Identity.PersonByAccount(ctx, identity.Account{Surface: connector.NetworkWhatsApp, External: who})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.gw.Range(ctx, gateway.NetworkConvID("lunch", "c_wa", p.ID), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range msgs {
		texts = append(texts, m.From.Kind+":"+m.Msg.Text)
	}
	if texts[0] != "person:[image]" || texts[1] != "app:"+bridge.UnsupportedText || strings.Count(strings.Join(texts, "\n"), "[image]") != 1 {
		t.Fatalf("the conversation holds %q", texts)
	}
}
