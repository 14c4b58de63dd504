//go:build !wasip1

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/miniapps/internal/money"
	"github.com/passerelle/passerelle/runtime/apptest"
)

// newPlatform loads this app, built with the real Go toolchain, into the
// real sandbox with the real host services, and returns it with Alice.
func newPlatform(t *testing.T) (*apptest.Platform, *apptest.Person) {
	t.Helper()
	p := apptest.New(t, ".", apptest.Options{Ref: host.AppRef{Merchant: "m_taxi", App: "ride", Version: "1.0.0"}})
	return p, p.NewPerson("Alice")
}

// quoteAndBook fills the form, books the quote and returns the quote card
// and the payment prompt.
func quoteAndBook(t *testing.T, a *apptest.Person) (*host.Card, pay.PromptBody) {
	t.Helper()
	msgs, _ := a.Open()
	form := apptest.OnlyCard(t, msgs)
	if form.Form == nil || form.Form.ID != "ride" || len(form.Form.Fields) != 3 {
		t.Fatalf("open: %s", apptest.JSON(form))
	}
	msgs, _ = a.Action(host.Action{ID: "ride",
		Fields: map[string]string{"pickup": "12 Rue Oberkampf", "dropoff": "Gare de Lyon", "passengers": "2"}})
	quote := apptest.OnlyCard(t, msgs)
	if !strings.HasPrefix(quote.Title, "Your ride · ") || !strings.Contains(quote.Text, "From: 12 Rue Oberkampf\nTo: Gare de Lyon") {
		t.Fatalf("quote: %s", apptest.JSON(quote))
	}
	msgs, prompts := a.Press(quote, "book")
	var prompt pay.PromptBody
	apptest.OnlyPrompt(t, prompts, "payment", &prompt)
	if !strings.HasSuffix(quote.Title, money.Format(prompt.Amount, "EUR")) || prompt.Amount < 350+2*110 {
		t.Fatalf("prompt of %d for quote %q", prompt.Amount, quote.Title)
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "Please confirm the payment") {
		t.Fatalf("book: %s", apptest.JSON(msgs))
	}
	return quote, prompt
}

// TestWasmRide books, pays and waits for the driver in the real sandbox
// with the real storage, payment and timer services.
func TestWasmRide(t *testing.T) {
	p, alice := newPlatform(t)
	alice.Fund("EUR", 5000)
	_, prompt := quoteAndBook(t, alice)
	if err := alice.Confirm(prompt.Order); err != nil {
		t.Fatal(err)
	}
	booked := apptest.OnlyCard(t, p.DeliverPayments())
	if !strings.HasPrefix(booked.Title, "Booked") || !strings.Contains(booked.Text, "arriving at 12 Rue Oberkampf in about 10 seconds") {
		t.Fatalf("booked: %s", apptest.JSON(booked))
	}
	if person, merchant := p.Balances(alice, "EUR"); person != 5000-prompt.Amount || merchant != prompt.Amount {
		t.Fatalf("balances: person %d, merchant %d after paying %d", person, merchant, prompt.Amount)
	}
	if msgs := p.FireTimers(0); len(msgs) != 0 {
		t.Fatalf("the driver arrived at once: %s", apptest.JSON(msgs))
	}
	msgs := p.FireTimers(time.Minute)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "is arriving at 12 Rue Oberkampf. Look for the") {
		t.Fatalf("arrival: %s", apptest.JSON(msgs))
	}
	// Too late to cancel now.
	msgs, _ = alice.Press(booked, "cancel")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "already arrived") {
		t.Fatalf("late cancel: %s", apptest.JSON(msgs))
	}
	if person, _ := p.Balances(alice, "EUR"); person != 5000-prompt.Amount {
		t.Fatalf("a late cancel refunded: person %d", person)
	}
}

// TestWasmCancel cancels a booked ride before the driver arrives: the
// payment is refunded in full, the refund reaches the app, and the arrival
// timer never fires.
func TestWasmCancel(t *testing.T) {
	ctx := context.Background()
	p, alice := newPlatform(t)
	alice.Fund("EUR", 5000)
	_, prompt := quoteAndBook(t, alice)
	if err := alice.Confirm(prompt.Order); err != nil {
		t.Fatal(err)
	}
	booked := apptest.OnlyCard(t, p.DeliverPayments())
	msgs, _ := alice.Press(booked, "cancel")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "is cancelled. "+money.Format(prompt.Amount, "EUR")+" goes back to your wallet") {
		t.Fatalf("cancel: %s", apptest.JSON(msgs))
	}
	// The refund's payment event reaches the app, which already told the
	// person at cancellation and says nothing more.
	if got := p.PendingPayments(); len(got) != 1 || got[0].Status != string(pay.StateRefunded) {
		t.Fatalf("want one refunded outcome, got %+v", got)
	}
	if msgs := p.DeliverPayments(); len(msgs) != 0 {
		t.Fatalf("refund event: %s", apptest.JSON(msgs))
	}
	if person, merchant := p.Balances(alice, "EUR"); person != 5000 || merchant != 0 {
		t.Fatalf("balances after the refund: person %d, merchant %d; want 5000 and 0", person, merchant)
	}
	if msgs := p.FireTimers(time.Hour); len(msgs) != 0 {
		t.Fatalf("the cancelled ride's driver arrived: %s", apptest.JSON(msgs))
	}
	// Cancelling twice refunds once.
	msgs, _ = alice.Press(booked, "cancel")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "already cancelled") {
		t.Fatalf("second cancel: %s", apptest.JSON(msgs))
	}
	if err := p.Services.Pay.Audit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWasmDeclinedRide pays from an empty wallet and retries after a top-up.
func TestWasmDeclinedRide(t *testing.T) {
	ctx := context.Background()
	p, alice := newPlatform(t)
	_, prompt := quoteAndBook(t, alice)
	if err := alice.Confirm(prompt.Order); err == nil {
		t.Fatal("paid from an empty wallet")
	}
	notBooked := apptest.OnlyCard(t, p.DeliverPayments())
	if notBooked.Title != "Not booked" || !strings.Contains(notBooked.Text, "no driver was sent") {
		t.Fatalf("declined: %s", apptest.JSON(notBooked))
	}
	alice.Fund("EUR", 5000)
	_, prompts := alice.Press(notBooked, "retry")
	var again pay.PromptBody
	apptest.OnlyPrompt(t, prompts, "payment", &again)
	if again.Order == prompt.Order || again.Amount != prompt.Amount {
		t.Fatalf("retry prompt %+v after %+v", again, prompt)
	}
	// A double press on Try again asks for the same order.
	_, prompts = alice.Press(notBooked, "retry")
	var twice pay.PromptBody
	apptest.OnlyPrompt(t, prompts, "payment", &twice)
	if twice.Order != again.Order {
		t.Fatalf("a double press made two orders: %s and %s", again.Order, twice.Order)
	}
	if err := alice.Confirm(again.Order); err != nil {
		t.Fatal(err)
	}
	if c := apptest.OnlyCard(t, p.DeliverPayments()); !strings.HasPrefix(c.Title, "Booked") {
		t.Fatalf("after retry: %s", apptest.JSON(c))
	}
	rep, err := p.Engine.Check(ctx, p.Wasm)
	if err != nil || len(rep.Violations) > 0 {
		t.Fatalf("check: %v %+v", err, rep)
	}
}
