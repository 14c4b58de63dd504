//go:build !wasip1

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/runtime/apptest"
)

// newPlatform loads this app, built with the real Go toolchain, into the
// real sandbox with the real host services, and returns it with Chloé.
func newPlatform(t *testing.T) (*apptest.Platform, *apptest.Person) {
	t.Helper()
	p := apptest.New(t, ".", apptest.Options{Ref: host.AppRef{Merchant: "m_atelier", App: "shop", Version: "1.0.0"}})
	return p, p.NewPerson("Chloé")
}

func pick(t *testing.T, a *apptest.Person, id string) []host.Message {
	t.Helper()
	msgs, _ := a.Action(host.Action{ID: id})
	return msgs
}

// addToCart opens a product and presses its size button.
func addToCart(t *testing.T, a *apptest.Person, product, size string) *host.Card {
	t.Helper()
	card := apptest.OnlyCard(t, pick(t, a, "product:"+product))
	// The photo ships with the app: the card names it and the platform
	// sends the URL the gateway serves it at.
	photo, err := os.ReadFile(filepath.Join("assets", product+".png"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(photo)
	if want := "/assets/" + hex.EncodeToString(sum[:]) + ".png"; card.Image != want {
		t.Fatalf("product card image %q, want %q: %s", card.Image, want, apptest.JSON(card))
	}
	msgs, _ := a.Press(card, "size:"+size)
	return apptest.OnlyCard(t, msgs)
}

// TestWasmShop browses, fills a cart, checks out and pays in the real
// sandbox with the real storage and payment services.
func TestWasmShop(t *testing.T) {
	ctx := context.Background()
	p, chloe := newPlatform(t)
	chloe.Fund("EUR", 10000)
	msgs, _ := chloe.Open()
	if cat := apptest.OnlyCard(t, msgs); cat.List == nil || len(cat.List.Items) != 4 {
		t.Fatalf("catalogue %s", apptest.JSON(cat))
	}
	added := addToCart(t, chloe, "tee", "M")
	if !strings.Contains(added.Text, "Cart: 1 item, €29.00") {
		t.Fatalf("added: %q", added.Text)
	}
	added = addToCart(t, chloe, "jeans", "32")
	if !strings.Contains(added.Text, "Cart: 2 items, €98.00") {
		t.Fatalf("added: %q", added.Text)
	}

	msgs, prompts := chloe.Press(added, "checkout")
	var prompt pay.PromptBody
	apptest.OnlyPrompt(t, prompts, "payment", &prompt)
	if prompt.Amount != 9800 || prompt.Currency != "EUR" {
		t.Fatalf("prompt %+v, want 9800 EUR", prompt)
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "€98.00. Please confirm") {
		t.Fatalf("checkout: %s", apptest.JSON(msgs))
	}
	// A second press on the same cart asks for the same order.
	_, prompts = chloe.Press(added, "checkout")
	var again pay.PromptBody
	apptest.OnlyPrompt(t, prompts, "payment", &again)
	if again.Order != prompt.Order {
		t.Fatalf("checking out the same cart twice made two orders: %s and %s", prompt.Order, again.Order)
	}

	if err := chloe.Confirm(prompt.Order); err != nil {
		t.Fatal(err)
	}
	msgs = p.DeliverPayments()
	thanks := apptest.OnlyCard(t, msgs)
	for _, want := range []string{"1 × Linen tee (M): €29.00", "1 × Straight jeans (32): €69.00", "Total paid: €98.00", "\nOrder "} {
		if !strings.Contains(thanks.Text, want) {
			t.Errorf("receipt %q lacks %q", thanks.Text, want)
		}
	}
	if strings.Contains(thanks.Text, prompt.Order) {
		t.Errorf("receipt %q shows the platform's payment id %s", thanks.Text, prompt.Order)
	}
	if person, merchant := p.Balances(chloe, "EUR"); person != 200 || merchant != 9800 {
		t.Fatalf("balances: person %d, merchant %d; want 200 and 9800", person, merchant)
	}
	msgs, _ = chloe.Message("cart")
	if c := apptest.OnlyCard(t, msgs); !strings.Contains(c.Text, "Your cart is empty") {
		t.Fatalf("cart after payment: %s", apptest.JSON(c))
	}

	// Too little money: declined, cart kept, retry after a top-up pays.
	added = addToCart(t, chloe, "hoodie", "L")
	_, prompts = chloe.Press(added, "checkout")
	apptest.OnlyPrompt(t, prompts, "payment", &prompt)
	if err := chloe.Confirm(prompt.Order); err == nil {
		t.Fatal("a €55.00 order was paid from a €2.00 wallet")
	}
	notPaid := apptest.OnlyCard(t, p.DeliverPayments())
	if notPaid.Title != "Not paid" || !strings.Contains(notPaid.Text, "does not hold enough money") || !strings.Contains(notPaid.Text, "cart is kept") {
		t.Fatalf("declined: %s", apptest.JSON(notPaid))
	}
	chloe.Fund("EUR", 6000)
	_, prompts = chloe.Press(notPaid, "retry")
	apptest.OnlyPrompt(t, prompts, "payment", &again)
	if again.Order == prompt.Order || again.Amount != 5500 {
		t.Fatalf("retry prompt %+v", again)
	}
	if err := chloe.Confirm(again.Order); err != nil {
		t.Fatal(err)
	}
	if c := apptest.OnlyCard(t, p.DeliverPayments()); c.Title != "Thank you for your order" {
		t.Fatalf("after retry: %s", apptest.JSON(c))
	}
	if person, merchant := p.Balances(chloe, "EUR"); person != 200+6000-5500 || merchant != 9800+5500 {
		t.Fatalf("balances: person %d, merchant %d", person, merchant)
	}
	if err := p.Services.Pay.Audit(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := p.Engine.Check(ctx, p.Wasm)
	if err != nil || len(rep.Violations) > 0 {
		t.Fatalf("check: %v %+v", err, rep)
	}
}

// TestWasmCartIsPrivate checks that two people of the same app do not see
// each other's cart.
func TestWasmCartIsPrivate(t *testing.T) {
	p, chloe := newPlatform(t)
	addToCart(t, chloe, "cap", "One size")
	bob := p.NewPerson("Bob")
	msgs, _ := bob.Message("cart")
	if c := apptest.OnlyCard(t, msgs); !strings.Contains(c.Text, "Your cart is empty") {
		t.Fatalf("Bob sees a cart: %s", apptest.JSON(c))
	}
}
