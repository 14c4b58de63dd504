//go:build !wasip1

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/surface"
	"github.com/passerelle/passerelle/host"
	passerelle "github.com/passerelle/passerelle/sdk/go"
	"github.com/passerelle/passerelle/sdk/go/sdktest"
)

// fakeHost serves the operations lunch uses from memory, with the request
// and response shapes of the platform's host APIs.
type fakeHost struct {
	t       *testing.T
	kv      map[string]string // person scope
	granted bool
	name    string
	pays    []payRequest
	timers  []timerRequest
	payFail *passerelle.Error
	orders  map[string]string // idempotency key → order id
	status  map[string]string // order id → status, when not awaiting confirmation
}

type payRequest struct {
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	Description    string `json:"description"`
	IdempotencyKey string `json:"idempotency_key"`
}

type timerRequest struct {
	AfterMS int64           `json:"after_ms"`
	Payload json.RawMessage `json:"payload"`
}

func newFake(t *testing.T) (*sdktest.Host, *fakeHost) { return newFakeConfig(t, DefaultConfig()) }

func newFakeConfig(t *testing.T, cfg Config) (*sdktest.Host, *fakeHost) {
	f := &fakeHost{t: t, kv: map[string]string{}, name: "Alice", orders: map[string]string{}, status: map[string]string{}}
	h := sdktest.New(newApp(cfg))
	h.AppID = "lunch"
	h.Permissions = []string{"chat", "storage", "identity.profile", "pay", "timer"}
	type kvReq struct {
		Scope string  `json:"scope"`
		Key   string  `json:"key"`
		Value *string `json:"value"`
	}
	decodeKV := func(req []byte) (kvReq, error) {
		var r kvReq
		if err := json.Unmarshal(req, &r); err != nil {
			return r, err
		}
		if r.Scope != "person" {
			return r, fmt.Errorf("lunch must keep its keys in the person scope, got scope %q for %q", r.Scope, r.Key)
		}
		return r, nil
	}
	h.Handle("kv.get", func(req []byte) (any, error) {
		r, err := decodeKV(req)
		if err != nil {
			return nil, err
		}
		v, ok := f.kv[r.Key]
		if !ok {
			return nil, &passerelle.Error{Status: passerelle.StatusNotFound, Message: "kv: key not found"}
		}
		return map[string]string{"value": v}, nil
	})
	h.Handle("kv.set", func(req []byte) (any, error) {
		r, err := decodeKV(req)
		if err != nil {
			return nil, err
		}
		if r.Value == nil {
			return nil, &passerelle.Error{Status: passerelle.StatusBadRequest, Message: "no value"}
		}
		f.kv[r.Key] = *r.Value
		return map[string]any{}, nil
	})
	h.Handle("kv.delete", func(req []byte) (any, error) {
		r, err := decodeKV(req)
		if err != nil {
			return nil, err
		}
		_, ok := f.kv[r.Key]
		delete(f.kv, r.Key)
		return map[string]bool{"deleted": ok}, nil
	})
	h.Handle("identity.profile", func(req []byte) (any, error) {
		if !f.granted {
			return nil, &passerelle.Error{Status: passerelle.StatusConsentRequired, Message: "a consent prompt was sent"}
		}
		return map[string]string{"user": "u1", "union": "x1", "name": f.name}, nil
	})
	h.Handle("pay.request", func(req []byte) (any, error) {
		var r payRequest
		if err := json.Unmarshal(req, &r); err != nil {
			return nil, err
		}
		if f.payFail != nil {
			return nil, f.payFail
		}
		f.pays = append(f.pays, r)
		id, ok := f.orders[r.IdempotencyKey]
		if !ok {
			id = fmt.Sprintf("ord_%d", len(f.orders)+1)
			f.orders[r.IdempotencyKey] = id
		}
		st := f.status[id]
		if st == "" {
			st = "awaiting_confirmation"
		}
		return map[string]any{"order": id, "status": st,
			"amount": r.Amount, "currency": r.Currency, "description": r.Description, "idempotency_key": r.IdempotencyKey}, nil
	})
	h.Handle("timer.after", func(req []byte) (any, error) {
		var r timerRequest
		if err := json.Unmarshal(req, &r); err != nil {
			return nil, err
		}
		f.timers = append(f.timers, r)
		return map[string]string{"id": fmt.Sprintf("tm_%d", len(f.timers))}, nil
	})
	return h, f
}

// one returns the only message sent since the last call.
func one(t *testing.T, h *sdktest.Host) passerelle.Message {
	t.Helper()
	sent := h.TakeSent()
	if len(sent) != 1 {
		var all []string
		for _, m := range sent {
			all = append(all, sdktest.Render(m))
		}
		t.Fatalf("app sent %d messages, want 1: %q", len(sent), all)
	}
	return sent[0]
}

// press presses the button id of card, as the person's client does.
func press(h *sdktest.Host, card *passerelle.Card, id string) error {
	if card == nil {
		return fmt.Errorf("no card to press %q on", id)
	}
	for _, b := range card.Buttons {
		if b.ID == id {
			return h.Action(passerelle.Action{ID: b.ID, Value: b.Value})
		}
	}
	return fmt.Errorf("card %q has no button %q", card.Title, id)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// order picks dish, size and side and returns what the app answered.
func order(t *testing.T, h *sdktest.Host, dish, size, side string) passerelle.Message {
	t.Helper()
	must(t, h.Action(passerelle.Action{ID: "dish:" + dish}))
	must(t, press(h, one(t, h).Card, "size:"+size))
	must(t, press(h, one(t, h).Card, "side:"+side))
	return one(t, h)
}

func buttonTitles(c *passerelle.Card) []string {
	var s []string
	for _, b := range c.Buttons {
		s = append(s, b.ID+"="+b.Title)
	}
	return s
}

func TestOrderFlow(t *testing.T) {
	h, f := newFake(t)

	must(t, h.Open())
	menu := one(t, h).Card
	if menu == nil || menu.List == nil || len(menu.List.Items) != 4 {
		t.Fatalf("open: want a menu card listing 4 dishes, got %+v", menu)
	}
	if it := menu.List.Items[0]; it.ID != "dish:soup" || it.Title != "Tomato soup" || it.Description != "€6.50 · basil, croutons" {
		t.Fatalf("first dish %+v", it)
	}

	must(t, h.Action(passerelle.Action{ID: "dish:soup"}))
	size := one(t, h).Card
	if got := strings.Join(buttonTitles(size), "|"); got != "size:regular=Regular €6.50|size:large=Large €9.00" {
		t.Fatalf("size buttons %q", got)
	}
	must(t, press(h, size, "size:large"))
	side := one(t, h).Card
	if got := strings.Join(buttonTitles(side), "|"); got != "side:none=No side|side:fries=Fries +€3.00|side:greens=Side salad +€2.50" {
		t.Fatalf("side buttons %q", got)
	}
	if side.Title != "Tomato soup (large)" {
		t.Fatalf("side card title %q", side.Title)
	}

	// No consent yet: the app says it will continue once allowed.
	must(t, press(h, side, "side:fries"))
	ask := one(t, h).Card
	if ask == nil || !strings.Contains(ask.Text, "continue as soon as you allow it") || len(ask.Buttons) != 2 {
		t.Fatalf("consent card %+v", ask)
	}
	if len(f.pays) != 0 {
		t.Fatalf("payment requested before the name step: %+v", f.pays)
	}

	if f.kv[keyWaiting] == "" {
		t.Fatal("the order waiting for consent is not kept")
	}

	// The person allows it: the consent event continues the order by itself.
	f.granted = true
	must(t, h.Consent(passerelle.Consent{Prompt: "cp_1", Scopes: []string{"identity.profile"}, Granted: true}))
	thanks := one(t, h).Text
	if len(f.pays) != 1 {
		t.Fatalf("want one payment request, got %+v", f.pays)
	}
	p := f.pays[0]
	if p.Amount != 1200 || p.Currency != "EUR" || !strings.HasPrefix(p.IdempotencyKey, "lunch:") || !strings.HasSuffix(p.IdempotencyKey, ":1") {
		t.Fatalf("payment request %+v", p)
	}
	ref, _ := refOfKey(p.IdempotencyKey)
	if want := "Thanks, Alice! Order " + ref + ": Tomato soup (large, fries), €12.00. Please confirm the payment in the prompt."; thanks != want {
		t.Fatalf("got %q\nwant %q", thanks, want)
	}

	if _, ok := f.kv[keyWaiting]; ok {
		t.Fatal("the order still waits for consent after it continued")
	}
	// The same answer delivered again finds nothing waiting.
	must(t, h.Consent(passerelle.Consent{Prompt: "cp_1", Scopes: []string{"identity.profile"}, Granted: true}))
	if sent := h.TakeSent(); len(sent) != 0 || len(f.pays) != 1 {
		t.Fatalf("a repeated consent event sent %+v, pays %+v", sent, f.pays)
	}

	// Pressing Continue (still on the card, for people whose surface
	// answered earlier) asks with the same key: the platform returns the
	// same order.
	must(t, press(h, ask, "continue"))
	h.TakeSent()
	if len(f.pays) != 2 || f.pays[1] != p {
		t.Fatalf("a repeated press must repeat the same request: %+v", f.pays)
	}

	must(t, h.Payment(passerelle.Payment{Order: "ord_1", Status: "paid", Amount: 1200, Currency: "EUR", IdempotencyKey: p.IdempotencyKey}))
	sent := h.TakeSent()
	if len(sent) != 2 || sent[0].Card == nil || sent[0].Card.Title != "Receipt" {
		t.Fatalf("paid: want a receipt card and a note, got %+v", sent)
	}
	wantReceipt := "Tomato soup: €6.50\nLarge: +€2.50\nFries: +€3.00\nTotal paid: €12.00\nOrder " + ref
	if sent[0].Card.Text != wantReceipt {
		t.Fatalf("receipt %q\nwant %q", sent[0].Card.Text, wantReceipt)
	}
	if sent[1].Text != "The kitchen is on it: ready in about 5 seconds." {
		t.Fatalf("note %q", sent[1].Text)
	}
	if len(f.timers) != 1 || f.timers[0].AfterMS != 5000 {
		t.Fatalf("timers %+v", f.timers)
	}
	if f.kv["usual"] != `{"dish":"soup","size":"large","side":"fries"}` {
		t.Fatalf("usual = %q", f.kv["usual"])
	}

	must(t, h.Timer(passerelle.Timer{ID: "tm_1", Payload: f.timers[0].Payload}))
	if got, want := one(t, h).Text, "Alice, your order "+ref+" is ready: Tomato soup (large, fries). Enjoy your lunch!"; got != want {
		t.Fatalf("ready: %q, want %q", got, want)
	}
	if _, ok := f.kv["order:"+ref]; ok {
		t.Fatal("the order record is kept after the food is ready")
	}

	// Next time the menu offers the usual, and picking it goes straight to payment.
	must(t, h.Open())
	menu = one(t, h).Card
	if it := menu.List.Items[0]; it.ID != "usual" || it.Description != "Tomato soup (large, fries) · €12.00" {
		t.Fatalf("usual item %+v", it)
	}
	must(t, h.Action(passerelle.Action{ID: "usual"}))
	h.TakeSent()
	if len(f.pays) != 3 || f.pays[2].Amount != 1200 || f.pays[2].IdempotencyKey == p.IdempotencyKey {
		t.Fatalf("usual: want a new €12.00 order with a new key, got %+v", f.pays)
	}
}

func TestDeclinedAndRetry(t *testing.T) {
	tests := []struct {
		name, status, reason, want string
	}{
		{"insufficient funds", "declined", "insufficient_funds", "your wallet does not hold enough money"},
		{"person declined", "declined", "declined_by_person", "You declined the payment of €6.50"},
		{"expired", "expired", "", "expired before it was confirmed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, f := newFake(t)
			f.granted = true
			order(t, h, "soup", "regular", "none")
			if len(f.pays) != 1 || f.pays[0].Amount != 650 {
				t.Fatalf("pays %+v", f.pays)
			}
			key := f.pays[0].IdempotencyKey
			must(t, h.Payment(passerelle.Payment{Order: "ord_1", Status: tt.status, Reason: tt.reason, Amount: 650, Currency: "EUR", IdempotencyKey: key}))
			card := one(t, h).Card
			if card == nil || !strings.Contains(card.Text, tt.want) || !strings.Contains(card.Text, "Nothing was charged") {
				t.Fatalf("not-paid card %+v, want text with %q", card, tt.want)
			}
			if len(card.Buttons) != 2 || card.Buttons[0].ID != "retry" {
				t.Fatalf("want Try again and menu buttons, got %v", buttonTitles(card))
			}
			if len(f.timers) != 0 || f.kv["usual"] != "" {
				t.Fatalf("an unpaid order set a timer (%v) or became the usual (%q)", f.timers, f.kv["usual"])
			}
			must(t, press(h, card, "retry"))
			h.TakeSent()
			if len(f.pays) != 2 || f.pays[1].Amount != 650 || !strings.HasSuffix(f.pays[1].IdempotencyKey, ":2") {
				t.Fatalf("retry: want a second attempt for €6.50, got %+v", f.pays)
			}
			r1, _ := refOfKey(key)
			r2, _ := refOfKey(f.pays[1].IdempotencyKey)
			if r1 != r2 {
				t.Fatalf("retry changed the order number: %s → %s", r1, r2)
			}
		})
	}
}

// TestConsentEvent covers the answers to the name prompt arriving as
// consent events.
func TestConsentEvent(t *testing.T) {
	profile := []string{"identity.profile"}
	tests := []struct {
		name    string
		before  func(t *testing.T, h *sdktest.Host, f *fakeHost, ask *passerelle.Card)
		consent passerelle.Consent
		granted bool // what identity.profile answers afterwards
		want    string
		pays    int
	}{
		{"granted", nil, passerelle.Consent{Prompt: "cp_1", Scopes: profile, Granted: true}, true, "Thanks, Alice! Order ", 1},
		{"refused: continue without a name", nil, passerelle.Consent{Prompt: "cp_1", Scopes: profile}, false, "Thanks! Order ", 1},
		{"another scope", nil, passerelle.Consent{Prompt: "cp_1", Scopes: []string{"identity.phone"}, Granted: true}, true, "", 0},
		{"continued by hand before the answer", func(t *testing.T, h *sdktest.Host, f *fakeHost, ask *passerelle.Card) {
			must(t, press(h, ask, "anon"))
			h.TakeSent()
		}, passerelle.Consent{Prompt: "cp_1", Scopes: profile, Granted: true}, true, "", 1},
		{"damaged waiting order", func(t *testing.T, h *sdktest.Host, f *fakeHost, ask *passerelle.Card) {
			f.kv[keyWaiting] = "n=X;d=nope"
		}, passerelle.Consent{Prompt: "cp_1", Scopes: profile, Granted: true}, true, "[Lunch menu]\nSorry, I lost track of that order.", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, f := newFake(t)
			ask := order(t, h, "soup", "large", "fries")
			if tt.before != nil {
				tt.before(t, h, f, ask.Card)
			}
			f.granted = tt.granted
			must(t, h.Consent(tt.consent))
			sent := h.TakeSent()
			got := ""
			if len(sent) > 0 {
				got = sdktest.Render(sent[0])
			}
			if len(sent) > 1 || !strings.HasPrefix(got, tt.want) || (tt.want == "") != (got == "") {
				t.Fatalf("sent %q, want one message starting with %q", got, tt.want)
			}
			if len(f.pays) != tt.pays {
				t.Fatalf("%d payment requests, want %d", len(f.pays), tt.pays)
			}
			if tt.pays == 1 && f.pays[0].Amount != 1200 {
				t.Fatalf("payment %+v, want €12.00", f.pays[0])
			}
		})
	}
}

func TestOrderWithoutName(t *testing.T) {
	h, f := newFake(t)
	ask := order(t, h, "bowl", "regular", "greens")
	must(t, press(h, ask.Card, "anon"))
	if got := one(t, h).Text; !strings.HasPrefix(got, "Thanks! Order ") {
		t.Fatalf("got %q", got)
	}
	if len(f.pays) != 1 || f.pays[0].Amount != 1540 {
		t.Fatalf("pays %+v", f.pays)
	}
	asked := 0
	for _, c := range h.Calls() {
		if c.Op == "identity.profile" {
			asked++
		}
	}
	if asked != 1 {
		t.Fatalf("identity.profile called %d times; after \"Order without name\" it must not be asked again", asked)
	}
}

func TestUntrustedActions(t *testing.T) {
	tests := []struct {
		name string
		a    passerelle.Action
		want string
	}{
		{"unknown dish", passerelle.Action{ID: "dish:caviar"}, "not on the menu any more"},
		{"forged value", passerelle.Action{ID: "side:fries", Value: "n=X;d=caviar;s=large"}, "lost track of that order"},
		{"garbage value", passerelle.Action{ID: "side:fries", Value: "%%%"}, "lost track of that order"},
		{"unknown button", passerelle.Action{ID: "explode", Value: "n=X;d=soup"}, "did not understand"},
	}
	// Steps pressed out of order ask again for what is missing.
	steps := []struct {
		name  string
		a     passerelle.Action
		title string
		text  string
	}{
		{"side before size", passerelle.Action{ID: "side:fries", Value: "n=X;d=soup"}, "Tomato soup", "Which size?"},
		{"unknown size", passerelle.Action{ID: "size:huge", Value: "n=X;d=soup"}, "Tomato soup", "Which size?"},
		{"unknown side", passerelle.Action{ID: "side:caviar", Value: "n=X;d=soup;s=large"}, "Tomato soup (large)", "Anything on the side?"},
		{"continue before choosing", passerelle.Action{ID: "continue", Value: "n=X;d=soup"}, "Tomato soup", "Which size?"},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			h, f := newFake(t)
			must(t, h.Action(tt.a))
			c := one(t, h).Card
			if c == nil || c.Title != tt.title || c.Text != tt.text {
				t.Fatalf("got %+v, want %q asking %q", c, tt.title, tt.text)
			}
			for _, b := range c.Buttons {
				if d, err := DecodeDraft(b.Value); err != nil || d.Side != "" || (tt.text == "Which size?" && d.Size != "") {
					t.Fatalf("button %s carries %q", b.ID, b.Value)
				}
			}
			if len(f.pays) != 0 {
				t.Fatalf("paid: %+v", f.pays)
			}
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, f := newFake(t)
			must(t, h.Action(tt.a))
			m := one(t, h)
			if m.Card == nil || !strings.Contains(m.Card.Text, tt.want) {
				t.Fatalf("got %q, want the menu saying %q", sdktest.Render(m), tt.want)
			}
			if len(f.pays) != 0 {
				t.Fatalf("paid for a forged order: %+v", f.pays)
			}
		})
	}
}

func TestPayRequestFails(t *testing.T) {
	h, f := newFake(t)
	f.granted = true
	f.payFail = &passerelle.Error{Status: passerelle.StatusUnavailable, Message: "try later"}
	must(t, h.Action(passerelle.Action{ID: "dish:soup"}))
	must(t, press(h, one(t, h).Card, "size:regular"))
	err := press(h, one(t, h).Card, "side:none")
	if err == nil || passerelle.StatusOf(err) != passerelle.StatusUnavailable {
		t.Fatalf("err = %v, want the unavailable status passed up", err)
	}
	sent := h.TakeSent()
	if last := sent[len(sent)-1].Text; !strings.Contains(last, "could not ask for the payment") {
		t.Fatalf("the person was not told: %q", last)
	}
}

func TestReadyAfterIsConfigurable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReadyAfter = 2 * time.Minute
	h, f := newFakeConfig(t, cfg)
	f.granted = true
	order(t, h, "soup", "regular", "none")
	must(t, h.Payment(passerelle.Payment{Order: "ord_1", Status: "paid", Amount: 650, Currency: "EUR", IdempotencyKey: f.pays[0].IdempotencyKey}))
	sent := h.TakeSent()
	if len(f.timers) != 1 || f.timers[0].AfterMS != 120000 {
		t.Fatalf("timers %+v, want one after 120000 ms", f.timers)
	}
	if got := sent[len(sent)-1].Text; got != "The kitchen is on it: ready in about 2 minutes." {
		t.Fatalf("note %q", got)
	}
}

// TestSameChoiceAfterDecline presses the old side button again after a
// declined payment: the app must not promise a prompt for the declined
// order but ask anew with the next attempt.
func TestSameChoiceAfterDecline(t *testing.T) {
	h, f := newFake(t)
	f.granted = true
	must(t, h.Action(passerelle.Action{ID: "dish:salad"}))
	must(t, press(h, one(t, h).Card, "size:regular"))
	side := one(t, h).Card
	must(t, press(h, side, "side:none"))
	h.TakeSent()
	first := f.pays[0].IdempotencyKey
	f.status[f.orders[first]] = "declined"

	must(t, press(h, side, "side:none"))
	if got := one(t, h).Text; !strings.Contains(got, "Please confirm the payment") {
		t.Fatalf("got %q", got)
	}
	if len(f.pays) != 3 || f.pays[1].IdempotencyKey != first || !strings.HasSuffix(f.pays[2].IdempotencyKey, ":2") {
		t.Fatalf("want the declined attempt then a second one, got %+v", f.pays)
	}

	// Once paid, pressing again says so instead of asking for money.
	f.status[f.orders[f.pays[2].IdempotencyKey]] = "paid"
	f.status[f.orders[first]] = "declined"
	must(t, press(h, side, "side:none"))
	if got := one(t, h).Text; !strings.Contains(got, "is already paid") {
		t.Fatalf("got %q", got)
	}
}

// TestCardsFitEverySurface runs a whole order and checks that every card
// lunch draws is shown natively on every surface: none has to degrade to a
// numbered text menu.
func TestCardsFitEverySurface(t *testing.T) {
	h, f := newFake(t)
	f.kv["usual"] = `{"dish":"burger","size":"large","side":"greens"}`
	must(t, h.Open())
	menu := one(t, h)
	must(t, h.Action(passerelle.Action{ID: "dish:bowl"}))
	size := one(t, h)
	must(t, press(h, size.Card, "size:large"))
	side := one(t, h)
	must(t, press(h, side.Card, "side:greens"))
	ask := one(t, h)
	must(t, h.Payment(passerelle.Payment{Order: "ord_9", Status: "declined", Reason: "insufficient_funds", Amount: 1790, Currency: "EUR",
		IdempotencyKey: "lunch:" + Draft{Nonce: "X", Choice: Choice{"bowl", "large", "greens"}}.Ref() + ":1"}))
	notPaid := one(t, h)
	for _, m := range []passerelle.Message{menu, size, side, ask, notPaid} {
		var hm host.Message
		b, _ := json.Marshal(m)
		if err := json.Unmarshal(b, &hm); err != nil {
			t.Fatal(err)
		}
		for _, s := range surface.All() {
			if r := surface.Render(s, hm); r.Degraded() {
				t.Errorf("card %q degrades to a menu on %s", m.Card.Title, s)
			}
		}
	}
}
