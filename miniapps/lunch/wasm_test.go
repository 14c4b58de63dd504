//go:build !wasip1

package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/runtime/apptest"
)

// newPlatform loads this app, built with the real Go toolchain, into the
// real sandbox with the real host services, and returns it with Alice.
func newPlatform(t *testing.T) (*apptest.Platform, *apptest.Person) {
	t.Helper()
	p := apptest.New(t, ".", apptest.Options{Ref: host.AppRef{Merchant: "m_bistro", App: "lunch", Version: "1.0.0"}})
	return p, p.NewPerson("Alice")
}

// TestWasmOrderFlow drives the whole order in the real sandbox with the
// real host services: open → dish → size → side → consent (granted; the
// consent event continues the order) → payment → receipt → timer → ready,
// and checks the money moved exactly once.
func TestWasmOrderFlow(t *testing.T) {
	ctx := context.Background()
	p, alice := newPlatform(t)
	alice.Fund("EUR", 5000)

	msgs, _ := alice.Open()
	menu := apptest.OnlyCard(t, msgs)
	if menu.List == nil || len(menu.List.Items) != 4 || menu.List.Items[0].ID != "dish:soup" {
		t.Fatalf("menu %s", apptest.JSON(menu))
	}
	msgs, _ = alice.Action(host.Action{ID: menu.List.Items[0].ID})
	size := apptest.OnlyCard(t, msgs)
	msgs, _ = alice.Press(size, "size:large")
	side := apptest.OnlyCard(t, msgs)

	// The name needs the person's consent: the platform prompts them and
	// the app waits.
	msgs, prompts := alice.Press(side, "side:fries")
	ask := apptest.OnlyCard(t, msgs)
	var consent identity.ConsentPromptBody
	apptest.OnlyPrompt(t, prompts, "consent", &consent)
	if !slices.Contains(consent.Scopes, identity.ScopeProfile) || consent.App != "lunch" {
		t.Fatalf("consent prompt %+v", consent)
	}
	if ask.Title != "May I have your name?" {
		t.Fatalf("consent card %s", apptest.JSON(ask))
	}
	if err := alice.Grant(consent.ID); err != nil {
		t.Fatal(err)
	}

	// The consent event continues the order: no button to press.
	msgs, prompts = p.DeliverConsents()
	var prompt pay.PromptBody
	apptest.OnlyPrompt(t, prompts, "payment", &prompt)
	if prompt.Amount != 1200 || prompt.Currency != "EUR" || prompt.Merchant != p.Ref.Merchant {
		t.Fatalf("payment prompt %+v, want 1200 EUR to %s", prompt, p.Ref.Merchant)
	}
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "Thanks, Alice! Order ") || !strings.Contains(msgs[0].Text, "Tomato soup (large, fries), €12.00") {
		t.Fatalf("after the name: %s", apptest.JSON(msgs))
	}
	if person, merchant := p.Balances(alice, "EUR"); person != 5000 || merchant != 0 {
		t.Fatalf("money moved before confirmation: person %d, merchant %d", person, merchant)
	}

	// The person confirms in host-drawn UI; a second confirmation does nothing.
	if err := alice.Confirm(prompt.Order); err != nil {
		t.Fatal(err)
	}
	if err := alice.Confirm(prompt.Order); err != nil {
		t.Fatal(err)
	}
	msgs = p.DeliverPayments()
	if len(msgs) != 2 || msgs[0].Card == nil || msgs[0].Card.Title != "Receipt" {
		t.Fatalf("after payment: %s", apptest.JSON(msgs))
	}
	receipt := msgs[0].Card.Text
	for _, want := range []string{"Tomato soup: €6.50", "Large: +€2.50", "Fries: +€3.00", "Total paid: €12.00", "\nOrder "} {
		if !strings.Contains(receipt, want) {
			t.Errorf("receipt %q lacks %q", receipt, want)
		}
	}
	if strings.Contains(receipt, prompt.Order) {
		t.Errorf("receipt %q shows the platform's payment id %s", receipt, prompt.Order)
	}
	if person, merchant := p.Balances(alice, "EUR"); person != 5000-1200 || merchant != 1200 {
		t.Fatalf("balances after payment: person %d, merchant %d; want 3800 and 1200", person, merchant)
	}

	// Not yet due: nothing fires. Then the kitchen's timer fires.
	if msgs := p.FireTimers(0); len(msgs) != 0 {
		t.Fatalf("timer fired early: %s", apptest.JSON(msgs))
	}
	msgs = p.FireTimers(time.Minute)
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "Alice, your order ") || !strings.Contains(msgs[0].Text, "is ready: Tomato soup (large, fries)") {
		t.Fatalf("ready message: %s", apptest.JSON(msgs))
	}

	// Next time: the usual is remembered in the person's storage.
	msgs, _ = alice.Open()
	menu = apptest.OnlyCard(t, msgs)
	if it := menu.List.Items[0]; it.ID != "usual" || it.Description != "Tomato soup (large, fries) · €12.00" {
		t.Fatalf("usual item %+v", it)
	}
	// The usual goes straight to payment: the name is already allowed.
	_, prompts = alice.Action(host.Action{ID: "usual"})
	var usual pay.PromptBody
	apptest.OnlyPrompt(t, prompts, "payment", &usual)
	if usual.Amount != 1200 || usual.Order == prompt.Order {
		t.Fatalf("usual: prompt %+v, want a new order of 1200", usual)
	}
	if err := alice.Confirm(usual.Order); err != nil {
		t.Fatal(err)
	}
	if msgs := p.DeliverPayments(); len(msgs) != 2 || msgs[0].Card == nil || msgs[0].Card.Title != "Receipt" {
		t.Fatalf("usual paid: %s", apptest.JSON(msgs))
	}
	if person, merchant := p.Balances(alice, "EUR"); person != 5000-2*1200 || merchant != 2*1200 {
		t.Fatalf("balances after two lunches: person %d, merchant %d", person, merchant)
	}
	if err := p.Services.Pay.Audit(ctx); err != nil {
		t.Fatalf("ledger audit: %v", err)
	}
}

// TestWasmDeclined pays with too little money: the order is declined, no
// money moves, the app offers a retry, and the retry after a top-up pays.
func TestWasmDeclined(t *testing.T) {
	ctx := context.Background()
	p, alice := newPlatform(t)
	alice.Fund("EUR", 500)
	if err := p.Services.Identity.GrantScopes(ctx, alice.ID, p.Ref, []identity.Scope{identity.ScopeProfile}, "web"); err != nil {
		t.Fatal(err)
	}
	msgs, _ := alice.Action(host.Action{ID: "dish:soup"})
	msgs, _ = alice.Press(apptest.OnlyCard(t, msgs), "size:regular")
	_, prompts := alice.Press(apptest.OnlyCard(t, msgs), "side:none")
	var prompt pay.PromptBody
	apptest.OnlyPrompt(t, prompts, "payment", &prompt)
	if prompt.Amount != 650 {
		t.Fatalf("prompt %+v, want 650", prompt)
	}
	if err := alice.Confirm(prompt.Order); err == nil {
		t.Fatal("confirm with €5.00 for a €6.50 order succeeded")
	}
	msgs = p.DeliverPayments()
	card := apptest.OnlyCard(t, msgs)
	if card.Title != "Not paid" || !strings.Contains(card.Text, "does not hold enough money") {
		t.Fatalf("declined: %s", apptest.JSON(card))
	}
	if person, merchant := p.Balances(alice, "EUR"); person != 500 || merchant != 0 {
		t.Fatalf("a declined order moved money: person %d, merchant %d", person, merchant)
	}
	if len(p.FireTimers(time.Hour)) != 0 {
		t.Fatal("a declined order set the ready timer")
	}

	alice.Fund("EUR", 1000)
	_, prompts = alice.Press(card, "retry")
	var again pay.PromptBody
	apptest.OnlyPrompt(t, prompts, "payment", &again)
	if again.Order == prompt.Order || again.Amount != 650 {
		t.Fatalf("retry prompt %+v: want a new order of 650", again)
	}
	if err := alice.Confirm(again.Order); err != nil {
		t.Fatal(err)
	}
	msgs = p.DeliverPayments()
	if len(msgs) == 0 || msgs[0].Card == nil || msgs[0].Card.Title != "Receipt" {
		t.Fatalf("after the retry: %s", apptest.JSON(msgs))
	}
	if person, merchant := p.Balances(alice, "EUR"); person != 1500-650 || merchant != 650 {
		t.Fatalf("balances: person %d, merchant %d; want 850 and 650", person, merchant)
	}
}

// TestWasmModule checks the module against the ABI with every host API on
// offer: no violations, a reactor, and exactly the operations lunch uses.
func TestWasmModule(t *testing.T) {
	ctx := context.Background()
	p, _ := newPlatform(t)
	if m := p.App.Manifest(); m.ID != "lunch" || len(m.Permissions) != 5 {
		t.Fatalf("manifest %+v", m)
	}
	rep, err := p.Engine.Check(ctx, p.Wasm)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		t.Fatalf("violations: %+v", rep.Violations)
	}
	var ours []string
	for _, imp := range rep.Imports {
		if op, ok := strings.CutPrefix(imp, "passerelle_v1."); ok {
			ours = append(ours, op)
		}
	}
	slices.Sort(ours)
	want := []string{"chat_send", "event_read", "identity_profile", "kv_delete", "kv_get", "kv_set", "log", "pay_request", "result_read", "timer_after"}
	if !slices.Equal(ours, want) {
		t.Fatalf("imports %v, want %v", ours, want)
	}
	if !slices.Contains(rep.Exports, "_initialize") || slices.Contains(rep.Exports, "_start") {
		t.Fatalf("exports %v: want a reactor", rep.Exports)
	}
}

// TestWasmConsent covers the person's say over their name: a refused
// prompt lets them order without it, a revoked grant is asked for again,
// and the consent card's buttons keep working beside the consent event.
func TestWasmConsent(t *testing.T) {
	ctx := context.Background()
	p, alice := newPlatform(t)
	alice.Fund("EUR", 5000)
	choose := func() (*host.Card, []host.Outgoing) {
		t.Helper()
		msgs, _ := alice.Action(host.Action{ID: "dish:salad"})
		msgs, _ = alice.Press(apptest.OnlyCard(t, msgs), "size:regular")
		msgs, prompts := alice.Press(apptest.OnlyCard(t, msgs), "side:none")
		return apptest.OnlyCard(t, msgs), prompts
	}

	ask, prompts := choose()
	var consent identity.ConsentPromptBody
	apptest.OnlyPrompt(t, prompts, "consent", &consent)
	if err := alice.Refuse(consent.ID); err != nil {
		t.Fatal(err)
	}
	// Refused: the consent event continues the order without the name.
	msgs, prompts := p.DeliverConsents()
	var prompt pay.PromptBody
	apptest.OnlyPrompt(t, prompts, "payment", &prompt)
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "Thanks! Order ") || prompt.Amount != 890 {
		t.Fatalf("without a name: %s, prompt %+v", apptest.JSON(msgs), prompt)
	}
	// The buttons of the consent card still work: the same order.
	msgs, prompts = alice.Press(ask, "anon")
	var again pay.PromptBody
	apptest.OnlyPrompt(t, prompts, "payment", &again)
	if again.Order != prompt.Order || len(msgs) != 1 {
		t.Fatalf("anon after the consent event: %s, prompt %+v; want order %s again", apptest.JSON(msgs), again, prompt.Order)
	}

	if err := p.Services.Identity.GrantScopes(ctx, alice.ID, p.Ref, []identity.Scope{identity.ScopeProfile}, "web"); err != nil {
		t.Fatal(err)
	}
	if err := p.Services.Identity.Revoke(ctx, alice.ID, p.Ref, identity.ScopeProfile); err != nil {
		t.Fatal(err)
	}
	ask, prompts = choose()
	apptest.OnlyPrompt(t, prompts, "consent", &consent)
	if ask.Title != "May I have your name?" {
		t.Fatalf("after a revoke: %s", apptest.JSON(ask))
	}
	// Granted, and Continue pressed before the consent event arrives: the
	// order goes on from the button, and the event then finds nothing to do.
	if err := alice.Grant(consent.ID); err != nil {
		t.Fatal(err)
	}
	msgs, prompts = alice.Press(ask, "continue")
	apptest.OnlyPrompt(t, prompts, "payment", &prompt)
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "Thanks, Alice! Order ") {
		t.Fatalf("continue after the grant: %s", apptest.JSON(msgs))
	}
	if msgs, prompts := p.DeliverConsents(); len(msgs) != 0 || len(prompts) != 0 {
		t.Fatalf("the consent event continued an order already continued: %s %s", apptest.JSON(msgs), apptest.JSON(prompts))
	}
}
