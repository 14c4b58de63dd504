// Package eventstore keeps the events of people meant for mini-apps (a
// message in an app's conversation, a button pressed, an app opened) from
// the moment the gateway accepts them until their app consumed them, on
// bbolt, so that an event accepted before a crash is delivered again after
// it. The gateway writes an event in the transaction that stores what
// caused it (the person's message) or on its own (an open, an action); the
// runtime deletes it (ConsumeTx) in the transaction that commits the
// event's effects, so that it is delivered again until those effects are
// committed, and never after.
//
// # Storage
//
// It owns the bucket gateway.events: a big-endian sequence, drawn from the
// bucket, to the Event as JSON. The sequence orders every event the store
// keeps, and so the events of each conversation: List returns them in the
// order they were accepted. Standalone writes go through a bolt.Committer.
package eventstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
)

// ErrClosed is the store's error after Close: a *host.Error, so every
// edge maps it from its status.
var ErrClosed = &host.Error{Status: host.StatusUnavailable, Message: "the event store is closed; the server is stopping, retry shortly"}

var bucketEvents = []byte("gateway.events") // seq (8 bytes BE) -> Event as JSON

// Event is a person's event for an app, as kept until the app consumed it:
// what host.AppEvent carries besides where the app's answers go (the
// gateway) and how the event is consumed (this store).
type Event struct {
	Key          uint64     `json:"-"` // its place among the kept events, from 1; set by Put and PutTx
	App          string     `json:"app"`
	Person       string     `json:"person"`
	Conversation string     `json:"conversation"`
	Surface      string     `json:"surface,omitempty"`
	Event        host.Event `json:"event"`
}

// Store keeps events until they are consumed. It is safe for concurrent
// use.
type Store struct {
	db     *bbolt.DB
	commit *bolt.Committer
}

// Open returns the store kept in db, creating its bucket. Close it before
// closing db.
func Open(db *bbolt.DB) (*Store, error) {
	if err := bolt.CreateBuckets(db, bucketEvents); err != nil {
		return nil, fmt.Errorf("eventstore: create bucket: %w", err)
	}
	return &Store{db: db, commit: bolt.NewCommitter(db, bolt.Config{})}, nil
}

// Close refuses new writes with ErrClosed and waits for those under way.
func (s *Store) Close() { s.commit.Close() }

// PutTx keeps e inside tx, a write transaction of the store's database,
// after every event kept before, and sets e.Key. When tx rolls back, e is
// not kept; PutTx may be called again for e in a new transaction.
func (s *Store) PutTx(tx *bbolt.Tx, e *Event) error {
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("eventstore: encode an event of %q: %w", e.App, err)
	}
	b := tx.Bucket(bucketEvents)
	if b == nil {
		return fmt.Errorf("eventstore: the transaction is not one of the store's database")
	}
	b.FillPercent = 1 // keys only ever grow: full pages
	k, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("eventstore: keep an event of %q: %w", e.App, err)
	}
	if err := b.Put(key(k), v); err != nil {
		return fmt.Errorf("eventstore: keep an event of %q: %w", e.App, err)
	}
	e.Key = k
	return nil
}

// Put keeps e in a transaction of its own, shared with other writers of
// the store, and returns once it is committed, with e.Key set.
func (s *Store) Put(_ context.Context, e *Event) error {
	return closed(s.commit.Do(func(tx *bbolt.Tx) error { return s.PutTx(tx, e) }))
}

// ConsumeTx deletes the event kept under k inside tx: when tx commits, the
// event is consumed and never listed again. An event already consumed is
// no error.
func (s *Store) ConsumeTx(tx *bbolt.Tx, k uint64) error {
	b := tx.Bucket(bucketEvents)
	if b == nil {
		return fmt.Errorf("eventstore: the transaction is not one of the store's database")
	}
	if b.Get(key(k)) == nil {
		return nil
	}
	return b.Delete(key(k))
}

// Consume deletes the event kept under k, if it is still kept, without
// waiting: it returns once the deletion is queued for the store's group
// commit, and then, when not nil, gets the deletion's outcome once it is
// committed (on the goroutine that committed it; it must be quick). When
// the event was already consumed (the usual case once the runtime consumed
// it with the event's effects), Consume writes nothing and then is not
// called. Until the deletion commits, List may still return the event.
func (s *Store) Consume(_ context.Context, k uint64, then func(error)) error {
	var kept bool
	if err := s.db.View(func(tx *bbolt.Tx) error { kept = tx.Bucket(bucketEvents).Get(key(k)) != nil; return nil }); err != nil || !kept {
		return err
	}
	if then == nil {
		then = func(error) {}
	}
	return closed(s.commit.Go(func(tx *bbolt.Tx) error { return s.ConsumeTx(tx, k) }, then))
}

// List returns every event kept, in the order they were kept.
func (s *Store) List(context.Context) ([]Event, error) {
	var out []Event
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("eventstore: a key of %d bytes in %s", len(k), bucketEvents)
			}
			e := Event{Key: binary.BigEndian.Uint64(k)}
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("eventstore: event %d: %w", e.Key, err)
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

func key(k uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), k) }

// closed is err with the committer's ErrClosed as the store's.
func closed(err error) error {
	if errors.Is(err, bolt.ErrClosed) {
		return ErrClosed
	}
	return err
}
