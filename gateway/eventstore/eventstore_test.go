package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/eventstore"
	"github.com/passerelle/passerelle/host"
)

var errAbort = errors.New("the caller aborts")

func open(t *testing.T, path string) (*bbolt.DB, *eventstore.Store) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := eventstore.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	return db, s
}

func texts(t *testing.T, s *eventstore.Store) []string {
	t.Helper()
	evs, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprint(e.Key, ":", e.Conversation, ":", e.Event.Text))
	}
	return out
}

func event(conv, text string) *eventstore.Event {
	return &eventstore.Event{App: "echo", Person: "alice", Conversation: conv, Surface: "web",
		Event: host.Event{V: 1, Type: host.EventMessage, ID: "ev_" + text, App: "echo", Conversation: conv, Text: text}}
}

// Events are listed in the order they were kept, across restarts, until
// consumed; an event kept or consumed in a transaction that rolls back is
// as if it had not been.
func TestKeptUntilConsumed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "e.db")
	db, s := open(t, path)
	if err := s.Put(ctx, event("c1", "one")); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		if err := s.PutTx(tx, event("c2", "lost")); err != nil {
			return err
		}
		return errAbort
	}); !errors.Is(err, errAbort) {
		t.Fatal(err)
	}
	two := event("c2", "two")
	if err := db.Update(func(tx *bbolt.Tx) error { return s.PutTx(tx, two) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, event("c1", "three")); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(texts(t, s)), "[1:c1:one 2:c2:two 3:c1:three]"; got != want {
		t.Fatalf("kept %s, want %s", got, want)
	}
	// Consumed in a transaction that rolls back: still kept.
	if err := db.Update(func(tx *bbolt.Tx) error {
		if err := s.ConsumeTx(tx, two.Key); err != nil {
			return err
		}
		return errAbort
	}); !errors.Is(err, errAbort) {
		t.Fatal(err)
	}
	s.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, s = open(t, path)
	defer db.Close()
	defer s.Close()
	evs, err := s.List(ctx)
	if err != nil || len(evs) != 3 {
		t.Fatalf("after a restart: %d events, %v", len(evs), err)
	}
	if e := evs[1]; e.App != "echo" || e.Person != "alice" || e.Surface != "web" || e.Event.ID != "ev_two" || e.Event.Type != host.EventMessage {
		t.Fatalf("event read back as %+v", e)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return s.ConsumeTx(tx, two.Key) }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	if err := s.Consume(ctx, 1, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Already consumed: nothing is written, then is not called.
	if err := s.Consume(ctx, 1, func(err error) { t.Errorf("then called for an event already consumed: %v", err) }); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(texts(t, s)), "[3:c1:three]"; got != want {
		t.Fatalf("kept %s, want %s", got, want)
	}
	if err := s.Put(ctx, event("c1", "four")); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(texts(t, s)), "[3:c1:three 4:c1:four]"; got != want {
		t.Fatalf("a key was reused: kept %s, want %s", got, want)
	}
}

// After Close, Put is refused with ErrClosed.
func TestClosed(t *testing.T) {
	db, s := open(t, filepath.Join(t.TempDir(), "e.db"))
	defer db.Close()
	s.Close()
	if err := s.Put(context.Background(), event("c1", "late")); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
}
