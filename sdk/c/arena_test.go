//go:build !wasip1

package csdk_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apptest"
)

// TestArena checks the C SDK's memory rules in the sandbox: the arena is
// reset when an event starts, so events that each allocate most of the
// app's memory_pages (48 pages, 3 MiB) run one after another on the same
// instance; an event needing more than the limit is logged and ends in a
// trap, and the next event gets a fresh instance.
func TestArena(t *testing.T) {
	p := apptest.New(t, "testdata/arena", apptest.Options{})
	ada := p.NewPerson("Ada")
	send := func(text string) ([]host.Message, error) {
		msgs, _, err := ada.TrySend(host.Event{Type: host.EventMessage, Text: text})
		return msgs, err
	}
	for i := 0; i < 5; i++ {
		msgs, err := send("alloc 2048")
		if err != nil || len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "ok pages=") {
			t.Fatalf("event %d allocating 2 MiB: %+v, %v", i, msgs, err)
		}
	}
	if st := p.App.Stats(); st.Created != 1 || st.Discarded != 0 {
		t.Fatalf("pool %+v: the arena should be reset by each event, on one instance", st)
	}
	if msgs, err := send("alloc 4096"); err == nil {
		t.Fatalf("allocating 4 MiB under a 3 MiB limit succeeded: %+v", msgs)
	}
	if !slices.ContainsFunc(p.Log(), func(l string) bool {
		return strings.HasPrefix(l, "log ERROR passerelle: out of memory")
	}) {
		t.Fatalf("app log %q does not say the event ran out of memory", p.Log())
	}
	if msgs, err := send("alloc 16"); err != nil || len(msgs) != 1 || msgs[0].Text != "ok pages=2" {
		t.Fatalf("after the trap: %+v, %v; want a fresh instance of 2 pages", msgs, err)
	}
	if st := p.App.Stats(); st.Discarded != 1 || st.Created != 2 {
		t.Fatalf("pool %+v: the instance that trapped should be discarded and replaced", st)
	}
}
