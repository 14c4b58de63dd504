//go:build !wasip1

package main

import (
	"strings"
	"testing"

	passerelle "github.com/passerelle/passerelle/sdk/go"
	"github.com/passerelle/passerelle/sdk/go/sdktest"
)

// TestReadyUnderSubscription: after the payment lunch asks for a one-time
// subscription to "order-ready" naming the order; when the timer fires
// after the service window closed, the ready message goes out with
// chat.notify under that template if the person accepted, and nothing
// reaches them (the event still succeeds) if they declined or sent STOP.
func TestReadyUnderSubscription(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(h *sdktest.Host, prompt string) error
		told   bool
	}{
		{"accepted", func(h *sdktest.Host, p string) error {
			return h.AcceptPrompt(p)
		}, true},
		{"declined", func(h *sdktest.Host, p string) error {
			return h.DeclinePrompt(p)
		}, false},
		{"accepted, then STOP", func(h *sdktest.Host, p string) error {
			if err := h.AcceptPrompt(p); err != nil {
				return err
			}
			return h.Stop()
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, f := newFake(t)
			f.granted = true
			order(t, h, "soup", "regular", "none")
			ref, _ := refOfKey(f.pays[0].IdempotencyKey)
			must(t, h.Payment(passerelle.Payment{Order: "ord_1", Status: "paid", Amount: 650, Currency: "EUR", IdempotencyKey: f.pays[0].IdempotencyKey}))
			h.TakeSent()
			prompts := h.Prompts()
			if len(prompts) != 1 || prompts[0].Template != templateReady || !strings.Contains(prompts[0].Text, ref) {
				t.Fatalf("prompts %+v: want one subscription to %q naming order %s", prompts, templateReady, ref)
			}
			must(t, tc.answer(h, prompts[0].ID))
			h.TakeSent()
			h.WindowClosed = true // the person left long ago
			must(t, h.Timer(passerelle.Timer{ID: "tm_1", Payload: f.timers[0].Payload}))
			sent := h.TakeSent()
			if tc.told != (len(sent) == 1) || len(sent) > 1 {
				t.Fatalf("sent %+v, want the ready message: %v", sent, tc.told)
			}
			if tc.told && !strings.Contains(sent[0].Text, "order "+ref+" is ready") {
				t.Fatalf("ready message %q", sent[0].Text)
			}
			calls := h.Calls()
			if last := calls[len(calls)-1]; last.Op != "chat.notify" && last.Op != "kv.delete" {
				t.Fatalf("last call %+v", last)
			}
			if _, ok := f.kv["order:"+ref]; ok {
				t.Fatal("the order record is kept after the food is ready")
			}
		})
	}
}
