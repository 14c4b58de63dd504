package timer_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/timer"
)

func commitTx(db *bbolt.DB, tx *host.Tx) error {
	if err := db.Update(tx.Apply); err != nil {
		return err
	}
	tx.Committed()
	return nil
}

// Inside an event timer.after and timer.cancel are staged: a timer exists
// only once its event committed, a timer set and cancelled by one event is
// never written, a cancel of a timer that fired meanwhile is a conflict,
// and Consume takes a fired timer out for good.
func TestTimersInTx(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "t.db"))
	defer db.Close()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f := &fired{}
	s, err := timer.Open(db, timer.Config{Fire: f.Fire, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ref := host.AppRef{Merchant: "acme", App: "lunch", Version: "1"}
	ops := map[string]host.Func{}
	for _, fn := range s.Funcs() {
		ops[fn.Op] = fn
	}
	call := func(tx *host.Tx, op string, req any) (string, error) {
		data, _ := json.Marshal(req)
		c := &host.Call{Caller: host.Caller{App: ref, Permissions: []host.Permission{host.PermTimer}}, Tx: tx}
		resp, err := ops[op].Handle(context.Background(), c, data)
		var r struct{ ID string }
		json.Unmarshal(resp, &r)
		return r.ID, err
	}
	pending := func() int {
		ts, err := s.Pending(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		return len(ts)
	}

	tx := &host.Tx{}
	kept, _ := call(tx, "timer.after", map[string]any{"after_ms": 1000})
	gone, _ := call(tx, "timer.after", map[string]any{"after_ms": 1000})
	if _, err := call(tx, "timer.cancel", map[string]any{"id": gone}); err != nil {
		t.Fatal(err)
	}
	if _, err := call(tx, "timer.cancel", map[string]any{"id": gone}); !errors.Is(err, timer.ErrNotFound) {
		t.Fatalf("second cancel: %v", err)
	}
	if pending() != 0 {
		t.Fatal("a staged timer is pending before its event committed")
	}
	if err := commitTx(db, tx); err != nil {
		t.Fatal(err)
	}
	if pending() != 1 {
		t.Fatalf("%d pending after the commit, want 1 (%s)", pending(), kept)
	}

	// An event cancels the timer while it fires: the commit conflicts.
	cancel := &host.Tx{}
	if _, err := call(cancel, "timer.cancel", map[string]any{"id": kept}); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Second)
	if n, err := s.FireDue(context.Background(), clk.Now()); n != 1 || err != nil {
		t.Fatalf("fired %d: %v", n, err)
	}
	if err := commitTx(db, cancel); !errors.Is(err, host.ErrTxConflict) {
		t.Fatalf("cancel of a fired timer: %v, want a conflict", err)
	}

	// A fired timer's event consumes it in its commit.
	tx = &host.Tx{}
	call(tx, "timer.after", map[string]any{"after_ms": 1000})
	if err := commitTx(db, tx); err != nil {
		t.Fatal(err)
	}
	ts, _ := s.Pending(context.Background(), ref)
	if err := db.Update(s.Consume(ts[0])); err != nil {
		t.Fatal(err)
	}
	if pending() != 0 {
		t.Fatal("a consumed timer is still pending")
	}
}
