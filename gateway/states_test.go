package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/msgstate"
	"github.com/passerelle/passerelle/host"
)

// statusApps is fakeApps that asks for status events (wants) and records
// those it gets.
type statusApps struct {
	*fakeApps
	wants bool
	mu    sync.Mutex
	got   []string
}

func (a *statusApps) Wants(app, typ string) bool { return a.wants || typ != host.EventStatus }

func (a *statusApps) Submit(app string, ev host.AppEvent, done func(error)) error {
	if st := ev.Event.Status; ev.Event.Type == host.EventStatus && st != nil {
		a.mu.Lock()
		a.got = append(a.got, fmt.Sprintf("%s %s %s %s %s", app, st.Message, st.State, st.Surface, ev.Person))
		a.mu.Unlock()
		if done != nil {
			done(nil)
		}
		return nil
	}
	return a.fakeApps.Submit(app, ev, done)
}

func (a *statusApps) statuses() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

// TestWebMarksAreStates: a web client's delivered and read marks that pass
// an app's messages are those messages' states: an app that asks gets a
// delivered then a read event for each, once, however often the marks
// come; a read that passes a message not yet delivered is one read. An
// app that does not ask gets none, and the states are recorded all the
// same. A person's own messages have no state.
func TestWebMarksAreStates(t *testing.T) {
	for _, wants := range []bool{true, false} {
		t.Run(fmt.Sprintf("wants=%v", wants), func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, nil)
			states, err := msgstate.Open(e.db)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(states.Close)
			apps := &statusApps{fakeApps: e.apps, wants: wants}
			e.stop()
			e.start(func(c *gateway.Config) { c.Apps, c.States = apps, states })
			if _, err := e.srv.Resume(ctx); err != nil {
				t.Fatal(err)
			}

			alice, _ := e.connect("alice", "web", nil)
			conv := alice.request(map[string]any{"type": "open", "id": "o1", "app": "lunch"})["conv"].(string)
			alice.request(map[string]any{"type": "send", "id": "m1", "conv": conv, "text": "hello"}) // seq 1, alice's
			for i := 1; i <= 3; i++ {                                                                // seq 2..4, the app's
				if err := e.srv.Emit(ctx, host.Outgoing{App: host.AppRef{Merchant: "m", App: "lunch"}, Conversation: conv,
					ID: fmt.Sprintf("msg_%d", i), Message: &host.Message{Text: fmt.Sprint("answer ", i)}}); err != nil {
					t.Fatal(err)
				}
			}
			mark := func(state string, seq int) {
				t.Helper()
				ack := alice.request(map[string]any{"type": "mark", "id": fmt.Sprint(state, seq), "conv": conv, "seq": seq, "state": state})
				if ack["type"] != "ack" {
					t.Fatalf("mark %s %d: %v", state, seq, ack)
				}
			}
			mark("delivered", 3)
			mark("delivered", 3)
			mark("read", 2)
			mark("read", 4) // msg_3 read before it was marked delivered
			mark("delivered", 4)
			mark("read", 4)

			want := []string{"lunch msg_1 delivered web alice", "lunch msg_2 delivered web alice", "lunch msg_1 read web alice",
				"lunch msg_2 read web alice", "lunch msg_3 read web alice"}
			if !wants {
				want = nil
			}
			if got := apps.statuses(); !slices.Equal(got, want) {
				t.Fatalf("status events %q\nwant %q", got, want)
			}
			for id, st := range map[string]string{"msg_1": "read", "msg_2": "read", "msg_3": "read"} {
				if m, err := states.Get(ctx, "lunch", id); err != nil || m.State != st || m.Surface != "web" {
					t.Errorf("%s: %+v, %v; want %s on web", id, m, err, st)
				}
			}
			figs, err := states.Figures(ctx, "lunch")
			if err != nil {
				t.Fatal(err)
			}
			wantFigs := []msgstate.Figure{{Surface: "web", State: "sent", Count: 3}, {Surface: "web", State: "delivered", Count: 3},
				{Surface: "web", State: "read", Count: 3}}
			if !slices.Equal(figs, wantFigs) {
				t.Fatalf("figures %+v\nwant %+v", figs, wantFigs)
			}
			deadline := time.Now().Add(10 * time.Second)
			for { // the events handled are deleted by the store's next group commit
				kept, err := e.evs.List(ctx)
				if err == nil && len(kept) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("kept events left: %+v, %v", kept, err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}
