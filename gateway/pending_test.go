package gateway_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/host"
)

// holdApps takes every event and runs none, as a runtime that stopped
// before running them.
type holdApps struct {
	mu     sync.Mutex
	events []host.AppEvent
}

func (a *holdApps) Submit(_ string, ev host.AppEvent, _ func(error)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, ev)
	return nil
}

func (a *holdApps) Catalog(context.Context) ([]host.AppInfo, error) {
	return []host.AppInfo{{ID: "lunch", Name: "Lunch"}}, nil
}

// keptDrained waits until no event is kept any more: each was consumed
// once its app ran it. It fails the test when events stay kept.
func (e *env) keptDrained() {
	e.t.Helper()
	for i := 0; ; i++ {
		kept, err := e.evs.List(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if len(kept) == 0 {
			return
		}
		if i == 1000 {
			e.t.Fatalf("%d events still kept after their app ran them: %+v", len(kept), kept)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// describe is an event as "type text/action id".
func describe(ev host.Event) string {
	if ev.Action != nil {
		return ev.Type + " " + ev.Action.ID
	}
	return ev.Type + " " + ev.Text
}

// Every event a person caused (an open, messages, an action) that its app
// did not run before the server stopped is kept, and Resume hands them to
// the app again, in order, as the same events. Once the app ran them they
// are consumed, even by a runtime that does not consume them in its own
// commit (as the load generator's echo app): the gateway deletes them.
func TestKeptEventsResumedInOrder(t *testing.T) {
	e := newEnv(t, nil)
	held := &holdApps{}
	e.stop()
	e.start(func(c *gateway.Config) { c.Apps = held })
	alice, _ := e.connect("alice", "web", nil)
	conv := alice.request(map[string]any{"type": "open", "id": "o", "app": "lunch", "payload": "table-4"})["conv"].(string)
	for _, text := range []string{"one", "two"} {
		alice.request(map[string]any{"type": "send", "id": text, "conv": conv, "text": text})
	}
	alice.request(map[string]any{"type": "action", "id": "a", "conv": conv, "action": map[string]any{"id": "salad", "value": "v"}})
	held.mu.Lock()
	before := held.events
	held.mu.Unlock()
	want := "[open table-4 message one message two action salad]"
	var got []string
	for _, ev := range before {
		got = append(got, describe(ev.Event))
	}
	if fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %s", got, want)
	}

	ran := make(chan host.AppEvent, 8)
	e.apps.set(nil, ran)
	if n := e.crash(e.apps); n != len(before) {
		t.Fatalf("Resume handed on %d events, want %d", n, len(before))
	}
	if n, err := e.srv.Resume(context.Background()); n != 0 || err == nil {
		t.Fatalf("a second Resume: %d, %v; want it refused", n, err)
	}
	for i, old := range before {
		ev := <-ran
		if ev.Event.ID != old.Event.ID || describe(ev.Event) != describe(old.Event) || ev.Person != "alice" || ev.Conversation != conv ||
			ev.Surface != "web" || ev.Consume == nil || ev.Event.Action != nil && ev.Event.Action.Value != "v" {
			t.Fatalf("resumed event %d: %+v, want %+v", i, ev, old)
		}
	}
	e.keptDrained()
}

// Without an event store, Resume has nothing to do.
func TestResumeWithoutEventStore(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.Events = nil })
	if n, err := e.srv.Resume(context.Background()); n != 0 || err != nil {
		t.Fatalf("Resume: %d, %v", n, err)
	}
}
