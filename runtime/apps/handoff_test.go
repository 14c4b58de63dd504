package apps_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/handoff"
	"github.com/passerelle/passerelle/runtime/apps"
)

// TestHandedOffConversation: while a conversation is handed to the
// merchant's staff, the person's messages, actions and opens in it do not
// reach the app (and do not count as its events); other conversations
// and the events the host causes (a timer, the handback) do; once handed
// back, the person's messages reach the app again.
func TestHandedOffConversation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.upload(t, "m1", "shop", "1")
	hs, err := handoff.Open(e.db, handoff.Config{})
	if err != nil {
		t.Fatal(err)
	}
	router, err := apps.New(ctx, apps.Config{Registry: e.reg, Engine: e.eng, Identity: pseudonyms{}, Outbox: e.out, Handoffs: hs})
	if err != nil {
		t.Fatal(err)
	}
	defer router.Close(ctx)
	b, err := hs.Start(ctx, host.AppRef{Merchant: "m1", App: "shop", Version: "1"}, "c1", "p", "web", handoff.Request{Reason: "asked for a person"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	events := func() uint64 {
		var n uint64
		for _, st := range e.reg.Stats("shop") {
			n += st.Events
		}
		return n
	}
	steps := []struct {
		name    string
		conv    string
		ev      host.Event
		reaches bool
	}{
		{"message in the handed-off conversation", "c1", host.Event{Type: host.EventMessage, Text: "hello"}, false},
		{"action in it", "c1", host.Event{Type: host.EventAction, Action: &host.Action{ID: "b1"}}, false},
		{"open in it", "c1", host.Event{Type: host.EventOpen}, false},
		{"message in another conversation", "c2", host.Event{Type: host.EventMessage, Text: "hi"}, true},
		{"timer in it", "c1", host.Event{Type: host.EventTimer, Timer: &host.TimerEvent{ID: "t1"}}, true},
		{"handoff event in it", "c1", host.Event{Type: host.EventHandoff, Handoff: &host.HandoffEvent{ID: b.Handoff.ID, Status: "taken", Agent: "Sam"}}, true},
	}
	for _, st := range steps {
		before := events()
		if err := router.Deliver(ctx, "shop", host.AppEvent{Person: "p", Conversation: st.conv, Surface: "web", Event: st.ev}); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		outs := e.out.take()
		if got := len(outs) == 1 && events() == before+1; got != st.reaches {
			t.Fatalf("%s: the app sent %d messages, events %d -> %d; reaching the app: %v, want %v", st.name, len(outs), before, events(), got, st.reaches)
		}
		if st.reaches && st.ev.Type == host.EventHandoff {
			var s sent
			if err := json.Unmarshal([]byte(outs[0].Message.Text), &s); err != nil || s.Event.Handoff == nil || s.Event.Handoff.Agent != "Sam" || s.Event.Handoff.ID != b.Handoff.ID {
				t.Fatalf("the guest saw %+v (%v)", s.Event, err)
			}
		}
	}
	if _, err := hs.Return(ctx, "m1", b.Handoff.ID, "Sam", "done"); err != nil {
		t.Fatal(err)
	}
	if err := router.Deliver(ctx, "shop", host.AppEvent{Person: "p", Conversation: "c1", Surface: "web", Event: host.Event{Type: host.EventMessage, Text: "back"}}); err != nil {
		t.Fatal(err)
	}
	if outs := e.out.take(); len(outs) != 1 {
		t.Fatalf("after the handback the app sent %d messages, want 1", len(outs))
	}
}

// BenchmarkDeliverHandoffs is BenchmarkDeliver on a router that asks the
// handoff state before every person's message: "open" when the
// conversation is not handed off (the guest runs, as in BenchmarkDeliver),
// "held" when it is (the router stops before the guest).
func BenchmarkDeliverHandoffs(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b)
	if _, _, err := e.router.Upload(ctx, "m1", "m1", "shop", module(b, "shop", "1")); err != nil {
		b.Fatal(err)
	}
	hs, err := handoff.Open(e.db, handoff.Config{})
	if err != nil {
		b.Fatal(err)
	}
	router, err := apps.New(ctx, apps.Config{Registry: e.reg, Engine: e.eng, Identity: pseudonyms{}, Outbox: e.out, Handoffs: hs})
	if err != nil {
		b.Fatal(err)
	}
	defer router.Close(ctx)
	for i := range 1000 { // other conversations handed off
		bg, err := hs.Start(ctx, host.AppRef{Merchant: "m1", App: "shop", Version: "1"}, fmt.Sprint("other-", i), "p", "web", handoff.Request{Reason: "r"})
		if err == nil {
			err = bg.Commit()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	bg, err := hs.Start(ctx, host.AppRef{Merchant: "m1", App: "shop", Version: "1"}, "held", "p", "web", handoff.Request{Reason: "r"})
	if err == nil {
		err = bg.Commit()
	}
	if err != nil {
		b.Fatal(err)
	}
	for _, conv := range []string{"open", "held"} {
		b.Run(conv, func(b *testing.B) {
			ev := host.AppEvent{Person: "p", Conversation: conv, Surface: "web", Event: host.Event{Type: host.EventMessage, Text: "hi"}}
			b.ReportAllocs()
			for b.Loop() {
				if err := router.Deliver(ctx, "shop", ev); err != nil {
					b.Fatal(err)
				}
				e.out.take()
			}
		})
	}
}
