package gateway

import (
	"runtime"
	"testing"
	"weak"
)

// A conversation's state is held by a staged message while its effect is
// reachable (Committed may still run), and let go once the runtime
// dropped the effect of an event whose commit failed.
func TestStagedMessageHoldsWhileReachable(t *testing.T) {
	cs := &convState{staged: map[weak.Pointer[stagedMsg]]struct{}{}}
	m := &stagedMsg{conv: "c"}
	cs.staged[weak.Make(m)] = struct{}{}
	runtime.GC()
	if !cs.pinned() {
		t.Fatal("a staged message that may still be committed does not hold its conversation's state")
	}
	runtime.KeepAlive(m)
	runtime.GC()
	if cs.pinned() || len(cs.staged) != 0 {
		t.Fatalf("a dropped staged message still holds the state (%d held)", len(cs.staged))
	}
}
