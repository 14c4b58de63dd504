//go:build !wasip1

package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/gateway/surface"
	"github.com/passerelle/passerelle/host"
	passerelle "github.com/passerelle/passerelle/sdk/go"
	"github.com/passerelle/passerelle/sdk/go/sdktest"
)

// newHost runs the shop on sdktest with an in-memory person storage.
func newHost(t *testing.T) (*sdktest.Host, map[string]string) {
	h := sdktest.New(newApp(DefaultCatalogue()))
	h.AppID = "shop"
	h.Permissions = []string{"chat", "storage", "pay"}
	kv := map[string]string{}
	type req struct {
		Scope string  `json:"scope"`
		Key   string  `json:"key"`
		Value *string `json:"value"`
	}
	decode := func(b []byte) (req, error) {
		var r req
		err := json.Unmarshal(b, &r)
		if err == nil && r.Scope != "person" {
			t.Errorf("cart keys belong in the person scope, got %q", r.Scope)
		}
		return r, err
	}
	h.Handle("kv.get", func(b []byte) (any, error) {
		r, err := decode(b)
		if err != nil {
			return nil, err
		}
		v, ok := kv[r.Key]
		if !ok {
			return nil, &passerelle.Error{Status: passerelle.StatusNotFound, Message: "no such key"}
		}
		return map[string]string{"value": v}, nil
	})
	h.Handle("kv.set", func(b []byte) (any, error) {
		r, err := decode(b)
		if err != nil {
			return nil, err
		}
		kv[r.Key] = *r.Value
		return struct{}{}, nil
	})
	h.Handle("kv.delete", func(b []byte) (any, error) {
		r, err := decode(b)
		if err != nil {
			return nil, err
		}
		_, ok := kv[r.Key]
		delete(kv, r.Key)
		return map[string]bool{"deleted": ok}, nil
	})
	return h, kv
}

func one(t *testing.T, h *sdktest.Host) passerelle.Message {
	t.Helper()
	sent := h.TakeSent()
	if len(sent) != 1 {
		t.Fatalf("app sent %d messages, want 1: %+v", len(sent), sent)
	}
	return sent[0]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestBrowseAndCart(t *testing.T) {
	h, kv := newHost(t)
	must(t, h.Action(passerelle.Action{ID: "product:tee"}))
	card := one(t, h).Card
	if card.Title != "Linen tee · €29.00" || card.Image != "asset:tee.png" || len(card.Buttons) != 4 {
		t.Fatalf("product card %+v", card)
	}
	for _, size := range []string{"M", "M", "L"} {
		must(t, h.Action(passerelle.Action{ID: "size:" + size, Value: "tee"}))
		h.TakeSent()
	}
	var cart Cart
	if err := json.Unmarshal([]byte(kv["cart"]), &cart); err != nil || len(cart.Lines) != 2 || cart.Version != 3 {
		t.Fatalf("stored cart %q", kv["cart"])
	}
	must(t, h.Message("Cart"))
	view := one(t, h).Card
	if want := "2 × Linen tee (M): €58.00\n1 × Linen tee (L): €29.00\nTotal: €87.00"; view.Text != want {
		t.Fatalf("cart %q, want %q", view.Text, want)
	}
	must(t, h.Action(passerelle.Action{ID: "empty"}))
	if got := one(t, h).Text; got != "Your cart is empty." || kv["cart"] != "" {
		t.Fatalf("empty: %q, stored %q", got, kv["cart"])
	}
}

func TestForgedSizes(t *testing.T) {
	for _, a := range []passerelle.Action{
		{ID: "size:XXXL", Value: "tee"},
		{ID: "size:M", Value: "socks"},
		{ID: "size:M"},
		{ID: "product:socks"},
	} {
		t.Run(a.ID+"/"+a.Value, func(t *testing.T) {
			h, kv := newHost(t)
			must(t, h.Action(a))
			if c := one(t, h).Card; c == nil || c.List == nil || !strings.Contains(c.Text, "Here is what we have") {
				t.Fatalf("want the catalogue again, got %+v", c)
			}
			if kv["cart"] != "" {
				t.Fatalf("forged action stored a cart: %q", kv["cart"])
			}
		})
	}
}

func TestCheckoutEmptyCart(t *testing.T) {
	h, _ := newHost(t)
	must(t, h.Message("checkout"))
	if c := one(t, h).Card; c == nil || !strings.Contains(c.Text, "Your cart is empty") {
		t.Fatalf("got %+v", c)
	}
	for _, c := range h.Calls() {
		if c.Op == "pay.request" {
			t.Fatal("an empty cart asked for a payment")
		}
	}
}

// TestFourSizesOnWhatsApp shows the tee's four size buttons where WhatsApp
// allows three: the card degrades to a numbered menu, and the reply "2"
// comes back to the app as the same action a button press sends.
func TestFourSizesOnWhatsApp(t *testing.T) {
	h, kv := newHost(t)
	must(t, h.Action(passerelle.Action{ID: "product:tee"}))
	var card host.Message
	b, _ := json.Marshal(one(t, h))
	must(t, json.Unmarshal(b, &card))
	r := surface.Render(surface.WhatsApp, card)
	if !r.Degraded() {
		t.Fatalf("four buttons rendered as %s on WhatsApp, want a menu", r.Kind)
	}
	choice, ok := r.Pick("2")
	if !ok {
		t.Fatalf("reply 2 does not pick from %+v", r.Choices)
	}
	must(t, h.Action(passerelle.Action{ID: choice.ID, Value: choice.Value}))
	if got := one(t, h).Card; got == nil || got.Title != "Added to your cart" || !strings.Contains(got.Text, "Linen tee, size M") {
		t.Fatalf("after replying 2: %+v", got)
	}
	if !strings.Contains(kv["cart"], `"size":"M"`) {
		t.Fatalf("cart %q", kv["cart"])
	}
	if r := surface.Render(surface.Messenger, card); r.Degraded() {
		t.Fatalf("four buttons degrade on Messenger too (%s)", r.Kind)
	}
}
