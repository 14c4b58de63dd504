//go:build !wasip1

package main

import (
	"strings"
	"testing"

	passerelle "github.com/passerelle/passerelle/sdk/go"
	"github.com/passerelle/passerelle/sdk/go/sdktest"
)

// readyNotice runs an order to the ready notice and returns its message
// id and the order's ref.
func readyNotice(t *testing.T, h *sdktest.Host, f *fakeHost) (id, ref string) {
	t.Helper()
	f.granted = true
	order(t, h, "soup", "regular", "none")
	ref, _ = refOfKey(f.pays[0].IdempotencyKey)
	must(t, h.Payment(passerelle.Payment{Order: "ord_1", Status: "paid", Amount: 650, Currency: "EUR", IdempotencyKey: f.pays[0].IdempotencyKey}))
	must(t, h.AcceptPrompt(h.Prompts()[0].ID))
	h.TakeSent()
	must(t, h.Timer(passerelle.Timer{ID: "tm_1", Payload: f.timers[0].Payload}))
	sent := h.TakeSent()
	if len(sent) != 1 || !strings.Contains(sent[0].Text, "is ready") {
		t.Fatalf("sent %+v, want the ready notice", sent)
	}
	for k, v := range f.kv {
		if strings.HasPrefix(k, keyNoticePrefix) && v == ref {
			return strings.TrimPrefix(k, keyNoticePrefix), ref
		}
	}
	t.Fatalf("no ready notice remembered for order %s in %v", ref, f.kv)
	return "", ""
}

// TestStatusOfReadyNotice: lunch follows its ready notice's status
// events. Read, it is forgotten and nothing is said; failed (WhatsApp
// refused it outside the window), the failure is logged and the person
// hears at their next visit that their order is waiting, once.
func TestStatusOfReadyNotice(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		h, f := newFake(t)
		id, _ := readyNotice(t, h, f)
		must(t, h.Status(passerelle.MessageStatus{Message: id, State: passerelle.StateDelivered, Surface: "whatsapp"}))
		if _, ok := f.kv[keyNoticePrefix+id]; !ok {
			t.Fatal("a delivered notice is forgotten before it is read")
		}
		must(t, h.Status(passerelle.MessageStatus{Message: id, State: passerelle.StateRead, Surface: "whatsapp"}))
		if _, ok := f.kv[keyNoticePrefix+id]; ok {
			t.Fatal("a read notice is still remembered")
		}
		if sent := h.TakeSent(); len(sent) != 0 {
			t.Fatalf("status events sent %+v; they need no answer", sent)
		}
		must(t, h.Message("hi"))
		if sent := h.TakeSent(); len(sent) != 1 || strings.Contains(sent[0].Card.Text, "could not reach") {
			t.Fatalf("after a read notice the menu says %+v", sent)
		}
	})
	t.Run("failed", func(t *testing.T) {
		h, f := newFake(t)
		id, ref := readyNotice(t, h, f)
		must(t, h.Status(passerelle.MessageStatus{Message: id, State: passerelle.StateFailed, Code: "window_closed", NetworkCode: 131047, Surface: "whatsapp"}))
		if sent := h.TakeSent(); len(sent) != 0 {
			t.Fatalf("a failed notice sent %+v in the conversation it could not reach", sent)
		}
		logged := false
		for _, l := range h.Logs() {
			logged = logged || strings.Contains(l.Message, "order "+ref) && strings.Contains(l.Message, "window_closed") && strings.Contains(l.Message, "131047")
		}
		if !logged {
			t.Fatalf("logs %+v: want the failed notice with its codes", h.Logs())
		}
		must(t, h.Message("hi"))
		sent := h.TakeSent()
		if len(sent) != 1 || sent[0].Card == nil || !strings.Contains(sent[0].Card.Text, "Your order "+ref+" is ready for you: we could not reach you on WhatsApp") {
			t.Fatalf("next visit: %+v, want the menu saying the order waits", sent)
		}
		must(t, h.Message("hi"))
		if sent := h.TakeSent(); len(sent) != 1 || strings.Contains(sent[0].Card.Text, "could not reach") {
			t.Fatalf("the missed notice is told twice: %+v", sent)
		}
		// A status of another message (a menu) changes nothing.
		must(t, h.Status(passerelle.MessageStatus{Message: "m1", State: passerelle.StateFailed, Code: "undeliverable"}))
		if _, ok := f.kv[keyMissed]; ok {
			t.Fatal("a failed menu was taken for a missed notice")
		}
	})
}
