package sandbox_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// noFuelLimit leaves a metered event to its deadline: the highest budget
// a manifest may ask for.
var noFuelLimit = sandbox.BuiltinMax().EventFuelMillions

// TestMeteredShapes runs guests without a single loop, which wazero's own
// termination checks (at loop back-edges) never stop: each must end with
// the typed error, twice, and a good app on the same engine keeps serving.
func TestMeteredShapes(t *testing.T) {
	deadline := wantLimit("deadline", 100, 0, "deadline: ")
	fuel := func(t *testing.T, err error) {
		t.Helper()
		wantLimit("fuel", 5_000_000, 0, "fuel: ")(t, err)
		if le := (*sandbox.LimitError)(nil); errors.As(err, &le) && le.Got <= le.Max {
			t.Errorf("fuel used %d, not above the budget %d", le.Got, le.Max)
		}
	}
	tests := []struct {
		name, fixture string
		limits        host.Limits
		check         func(*testing.T, error)
	}{
		{"call tree past the deadline", "tree", host.Limits{EventTimeoutMS: 100, EventFuelMillions: noFuelLimit}, deadline},
		{"call tree past the budget", "tree", host.Limits{EventFuelMillions: 5}, fuel},
		{"host call at every level past the deadline", "host_tree", host.Limits{EventTimeoutMS: 100, EventFuelMillions: noFuelLimit}, deadline},
		{"host call at every level past the budget", "host_tree", host.Limits{EventFuelMillions: 5}, fuel},
		{"straight-line code past the deadline", "straight", host.Limits{EventTimeoutMS: 100, EventFuelMillions: noFuelLimit}, deadline},
		{"straight-line code past the budget", "straight", host.Limits{EventFuelMillions: 5}, fuel},
		{"unbounded recursion", "recurse", host.Limits{}, wantLimit("call_depth", sandbox.MaxCallDepth, sandbox.MaxCallDepth+1, "call_depth: ")},
	}
	e, _ := newEngine(t, nil)
	good := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := load(t, e, fixture(t, tt.fixture, nil, tt.limits))
			defer bad.Close(context.Background())
			for round := range 2 {
				_, err := bad.Dispatch(context.Background(), event(nil))
				if err == nil {
					t.Fatalf("round %d: hostile event succeeded", round)
				}
				tt.check(t, err)
				t.Logf("round %d: %v", round, err)
				if _, err := good.Dispatch(context.Background(), event(&outbox{})); err != nil {
					t.Fatalf("round %d: good app after hostile event: %v", round, err)
				}
			}
			if st := bad.Stats(); st.Discarded != 2 {
				t.Errorf("stats = %+v, want both failed instances discarded", st)
			}
		})
	}
}

// TestCallDepth: recursion just under the bound succeeds, its fuel is the
// same every time, and the next level fails with the typed error.
func TestCallDepth(t *testing.T) {
	e, _ := newEngine(t, nil)
	a := load(t, e, fixture(t, "deep", nil, host.Limits{}))
	// deep.wasm recurses 100 times the event's first byte; on_event is one
	// more frame.
	under := []byte{sandbox.MaxCallDepth/100 - 1}
	var fuel []uint64
	for range 2 {
		res, err := a.Dispatch(context.Background(), &sandbox.Event{Payload: under})
		if err != nil {
			t.Fatalf("recursion to depth %d: %v", int(under[0])*100, err)
		}
		fuel = append(fuel, res.Fuel)
	}
	if fuel[0] != fuel[1] || fuel[0] < uint64(under[0])*100 {
		t.Errorf("fuel used = %v, want the same twice and at least one unit per call", fuel)
	}
	_, err := a.Dispatch(context.Background(), &sandbox.Event{Payload: []byte{sandbox.MaxCallDepth / 100}})
	wantLimit("call_depth", sandbox.MaxCallDepth, sandbox.MaxCallDepth+1, "call_depth: 10001 calls > limit 10000 calls")(t, err)
}

// TestGCWhileGuestRuns: a garbage collection completes while a guest
// without loops runs. Before metering, compiled guest code never reached a
// Go safepoint: the collection's stop-the-world waited for the guest, and
// with every other goroutine stopped nothing could stop the guest (this
// test then hung until go test's own timeout).
func TestGCWhileGuestRuns(t *testing.T) {
	e, _ := newEngine(t, nil)
	a := load(t, e, fixture(t, "tree", nil, host.Limits{EventTimeoutMS: 10000, EventFuelMillions: noFuelLimit}))
	done := make(chan error, 1)
	go func() {
		_, err := a.Dispatch(context.Background(), event(nil))
		done <- err
	}()
	for a.Stats().Busy == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // well inside the guest
	gcDone := make(chan struct{})
	go func() {
		runtime.GC()
		close(gcDone)
	}()
	select {
	case <-gcDone:
	case err := <-done:
		t.Fatalf("the event ended (%v) before the garbage collection did", err)
	}
	select {
	case err := <-done:
		t.Fatalf("the event ended (%v) before its 10 s deadline", err)
	default:
	}
	// Stop it through its caller's context: the app's close.
	if err := a.Close(canceled()); err != nil {
		t.Error(err)
	}
	if err := <-done; err == nil {
		t.Error("the stopped event succeeded")
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestCheckHidesMeter: the imports the instrumentation adds are not the
// merchant's and are not reported as theirs.
func TestCheckHidesMeter(t *testing.T) {
	e, _ := newEngine(t, nil)
	rep, err := e.Check(context.Background(), fixture(t, "echo", chat, host.Limits{}))
	if err != nil || !rep.OK() {
		t.Fatalf("Check = %+v, %v", rep, err)
	}
	for _, imp := range rep.Imports {
		if strings.HasPrefix(imp, "passerelle_meter.") {
			t.Errorf("Imports lists %s", imp)
		}
	}
	if len(rep.Imports) != 4 {
		t.Errorf("Imports = %v, want echo's 4", rep.Imports)
	}
}
