package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/eventstore"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sched"
)

// consumingApps is a runtime that consumes every event it handles in a
// commit of its own (ConsumesEvents), as runtime/apps.Router does with a
// store: it consumes a message in a transaction, except "lost", whose
// commit fails (done is told the error and the event is not consumed).
type consumingApps struct {
	e     *env
	sched *sched.Scheduler
	ran   chan host.AppEvent
}

func (a *consumingApps) ConsumesEvents() bool { return true }

func (a *consumingApps) Catalog(context.Context) ([]host.AppInfo, error) {
	return []host.AppInfo{{ID: "lunch", Name: "Lunch"}}, nil
}

func (a *consumingApps) Submit(app string, ev host.AppEvent, done func(error)) error {
	db := a.e.db // this process's
	return a.sched.Submit(app, ev.Conversation, func(ctx context.Context, _ func()) {
		var err error
		if ev.Event.Text == "lost" {
			err = errors.New("the commit failed")
		} else if ev.Consume != nil {
			err = db.Update(ev.Consume)
		}
		done(err)
		a.ran <- ev
	})
}

// A runtime that consumes events in its own commits is trusted with them:
// once it reports an event handled the gateway deletes nothing, so an
// event whose commit failed stays kept and Resume hands it on again at
// the next start.
func TestConsumingRuntimeKeepsWhatItDidNotConsume(t *testing.T) {
	e := newEnv(t, nil)
	apps := &consumingApps{e: e, sched: sched.New(sched.Config{Workers: 2}), ran: make(chan host.AppEvent, 8)}
	t.Cleanup(func() { apps.sched.Close(context.Background()) })
	e.stop()
	e.start(func(c *gateway.Config) { c.Apps = apps })
	alice, _ := e.connect("alice", "web", nil)
	conv := alice.request(map[string]any{"type": "open", "id": "o", "app": "lunch"})["conv"].(string)
	<-apps.ran
	for _, text := range []string{"lost", "fine"} {
		alice.request(map[string]any{"type": "send", "id": text, "conv": conv, "text": text})
		<-apps.ran
	}
	// Had the gateway deleted an event once it was reported handled, the
	// deletion would be queued on the store before done returned: an
	// event kept after it (through the same queue) is kept after that.
	barrier := &eventstore.Event{App: "lunch", Person: "alice", Conversation: conv, Event: host.Event{Type: host.EventMessage, Text: "barrier"}}
	if err := e.evs.Put(context.Background(), barrier); err != nil {
		t.Fatal(err)
	}
	kept, err := e.evs.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.Update(func(tx *bbolt.Tx) error { return e.evs.ConsumeTx(tx, barrier.Key) }); err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, k := range kept {
		if k.Key != barrier.Key {
			texts = append(texts, k.Event.Text)
		}
	}
	if fmt.Sprint(texts) != "[lost]" {
		t.Fatalf("kept %q, want only the event whose commit failed", texts)
	}

	again := &consumingApps{e: e, sched: sched.New(sched.Config{Workers: 2}), ran: make(chan host.AppEvent, 8)}
	t.Cleanup(func() { again.sched.Close(context.Background()) })
	if n := e.crash(again); n != 1 {
		t.Fatalf("Resume handed on %d events, want 1", n)
	}
	if ev := <-again.ran; ev.Event.Text != "lost" || ev.Consume == nil {
		t.Fatalf("resumed %+v, want the lost message", ev.Event)
	}
}

// A runtime that does not consume events (no ConsumesEvents) gets them
// deleted by the gateway once it reports them handled, whatever the
// outcome.
func TestNonConsumingRuntimeEventsDeletedWhenHandled(t *testing.T) {
	e := newEnv(t, nil)
	ran := make(chan host.AppEvent, 8)
	e.apps.set(func(ev host.AppEvent) *host.Message { return nil }, ran)
	alice, _ := e.connect("alice", "web", nil)
	conv := alice.request(map[string]any{"type": "open", "id": "o", "app": "lunch"})["conv"].(string)
	<-ran
	alice.request(map[string]any{"type": "send", "id": "m", "conv": conv, "text": "hello"})
	if ev := <-ran; ev.Event.Text != "hello" {
		t.Fatalf("ran %+v", ev.Event)
	}
	e.keptDrained()
}
