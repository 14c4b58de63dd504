package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// TestHammer dispatches from many goroutines to several apps at once while
// hostile events run on others, then checks every outcome and the pools.
func TestHammer(t *testing.T) {
	e, _ := newEngine(t, func(c *sandbox.Config) { c.PoolSize = 3 })
	type target struct {
		app   *sandbox.App
		check func(error) error
	}
	ok := func(err error) error { return err }
	status7 := func(err error) error {
		var ge *sandbox.GuestError
		if !errors.As(err, &ge) || ge.Status != 7 {
			return fmt.Errorf("want GuestError 7, got %v", err)
		}
		return nil
	}
	limit := func(name string) func(error) error {
		return func(err error) error {
			var le *sandbox.LimitError
			if !errors.As(err, &le) || le.Limit != name {
				return fmt.Errorf("want %s LimitError, got %v", name, err)
			}
			return nil
		}
	}
	abi := func(err error) error {
		var ae *sandbox.ABIError
		if !errors.As(err, &ae) {
			return fmt.Errorf("want ABIError, got %v", err)
		}
		return nil
	}
	// Only the looping app has a short deadline: on a loaded machine the
	// others must not turn a scheduling stall into a deadline error.
	long := uint32(30000)
	huge := sandbox.BuiltinMax().EventFuelMillions // fuel: leave it to the deadline
	targets := []target{
		{load(t, e, fixture(t, "echo", chat, host.Limits{EventTimeoutMS: long})), ok},
		{load(t, e, fixture(t, "noop", nil, host.Limits{EventTimeoutMS: long})), ok},
		{load(t, e, fixture(t, "status", nil, host.Limits{EventTimeoutMS: long})), status7},
		{load(t, e, fixture(t, "loop", nil, host.Limits{EventTimeoutMS: 20})), limit("deadline")},
		{load(t, e, fixture(t, "flood", chat, host.Limits{HostCallsPerEvent: 50, EventTimeoutMS: long})), limit("host_calls")},
		{load(t, e, fixture(t, "grow_past", nil, host.Limits{MemoryPages: 8, EventTimeoutMS: long})), limit("memory")},
		{load(t, e, fixture(t, "badptr", chat, host.Limits{EventTimeoutMS: long})), abi},
		// Shapes only metering stops: no loop anywhere.
		{load(t, e, fixture(t, "tree", nil, host.Limits{EventTimeoutMS: 20, EventFuelMillions: huge})), limit("deadline")},
		{load(t, e, fixture(t, "host_tree", nil, host.Limits{EventTimeoutMS: long, EventFuelMillions: 20})), limit("fuel")},
		{load(t, e, fixture(t, "straight", nil, host.Limits{EventTimeoutMS: long, EventFuelMillions: 20})), limit("fuel")},
		{load(t, e, fixture(t, "recurse", nil, host.Limits{EventTimeoutMS: long})), limit("call_depth")},
	}
	const honest = 3 // the first targets; the others are hostile
	const workers, perWorker = 12, 60
	ob := &outbox{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				// Hostile apps get one event in eight; good apps the rest.
				k := (w + i) % honest
				if i%8 == 7 {
					k = honest + (w+i)%(len(targets)-honest)
				}
				tg := targets[k]
				ev := &sandbox.Event{Payload: []byte(payload), Out: ob,
					Caller: host.Caller{EventID: fmt.Sprintf("w%d-%d", w, i), Conversation: "c"}}
				_, err := tg.app.Dispatch(context.Background(), ev)
				if err := tg.check(err); err != nil {
					t.Errorf("worker %d event %d to %s: %v", w, i, tg.app.Ref(), err)
				}
			}
		})
	}
	wg.Wait()
	var events uint64
	for _, tg := range targets {
		st := tg.app.Stats()
		events += st.Events
		if st.Busy != 0 || st.Created > uint64(st.Size)+st.Discarded || int(st.Created-st.Discarded) != st.Idle {
			t.Errorf("%s: inconsistent stats %+v", tg.app.Ref(), st)
		}
	}
	if events != workers*perWorker {
		t.Errorf("%d events counted, want %d", events, workers*perWorker)
	}
	var echoes int
	for i := range perWorker {
		for w := range workers {
			if i%8 != 7 && (w+i)%3 == 0 {
				echoes++
			}
		}
	}
	got := 0
	for _, m := range ob.all() {
		if m.Message.Text == payload {
			got++
		}
	}
	if got != echoes {
		t.Errorf("outbox has %d messages, want %d", got, echoes)
	}
}
