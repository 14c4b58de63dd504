// Package promptstore keeps the host-drawn prompts the gateway shows people
// (a payment to confirm, a scope to grant, a card to share) and their
// answers, on bbolt. The gateway uses it through a small interface of its
// own (gateway.PromptStore); a replicated store would be a key-value bucket
// with the same three operations.
//
// # Storage
//
// It owns the buckets gateway.prompts (prompt id -> Prompt as JSON) and
// gateway.pending (person, 0, prompt id -> "": the unanswered prompts of a
// person). Writes go through a bolt.Committer.
package promptstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
)

// Errors of the store; both are *host.Error, so every edge maps them from
// their status.
var (
	ErrNotFound = &host.Error{Status: host.StatusNotFound, Message: "no such prompt; it may have been answered elsewhere"}
	ErrClosed   = &host.Error{Status: host.StatusUnavailable, Message: "the prompt store is closed; the server is stopping, retry shortly"}
)

var (
	bucketPrompts = []byte("gateway.prompts") // prompt id -> Prompt as JSON
	bucketPending = []byte("gateway.pending") // person 0 prompt id -> ""
)

// Prompt is one prompt to one person, with its answer once given.
type Prompt struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"` // payment, consent, or what the body says
	Person  string          `json:"person"`
	App     host.AppRef     `json:"app"`
	Conv    string          `json:"conv,omitempty"`
	Body    json.RawMessage `json:"body"`
	Created int64           `json:"created"`
	Answer  string          `json:"answer,omitempty"`
}

// Store keeps prompts. It is safe for concurrent use.
type Store struct {
	db     *bbolt.DB
	commit *bolt.Committer
}

// Open returns the store kept in db, creating its buckets. Close it before
// closing db.
func Open(db *bbolt.DB) (*Store, error) {
	if err := bolt.CreateBuckets(db, bucketPrompts, bucketPending); err != nil {
		return nil, fmt.Errorf("promptstore: create buckets: %w", err)
	}
	return &Store{db: db, commit: bolt.NewCommitter(db, bolt.Config{})}, nil
}

// Close refuses new writes with ErrClosed and waits for those under way.
func (s *Store) Close() { s.commit.Close() }

// Put stores p, replacing the prompt with its id; an unanswered prompt is
// pending for p.Person, an answered one no longer.
func (s *Store) Put(_ context.Context, p Prompt) error {
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	err = s.commit.Do(func(tx *bbolt.Tx) error { return put(tx, p, v) })
	if errors.Is(err, bolt.ErrClosed) {
		return ErrClosed
	}
	return err
}

// PutTx is Put inside tx, a write transaction of the store's database that
// the caller commits or rolls back.
func (s *Store) PutTx(tx *bbolt.Tx, p Prompt) error {
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return put(tx, p, v)
}

func put(tx *bbolt.Tx, p Prompt, v []byte) error {
	if err := tx.Bucket(bucketPrompts).Put([]byte(p.ID), v); err != nil {
		return err
	}
	if p.Answer == "" {
		return tx.Bucket(bucketPending).Put(bolt.Key(p.Person, p.ID), nil)
	}
	return tx.Bucket(bucketPending).Delete(bolt.Key(p.Person, p.ID))
}

// GetTx is Get inside tx, seeing what tx itself wrote.
func (s *Store) GetTx(tx *bbolt.Tx, id string) (Prompt, error) {
	var p Prompt
	v := tx.Bucket(bucketPrompts).Get([]byte(id))
	if v == nil {
		return p, fmt.Errorf("prompt %q: %w", id, ErrNotFound)
	}
	return p, json.Unmarshal(v, &p)
}

// Get returns the prompt id.
func (s *Store) Get(_ context.Context, id string) (Prompt, error) {
	var p Prompt
	err := s.db.View(func(tx *bbolt.Tx) (err error) {
		p, err = s.GetTx(tx, id)
		return err
	})
	return p, err
}

// Pending lists person's unanswered prompts, oldest first.
func (s *Store) Pending(_ context.Context, person string) ([]Prompt, error) {
	var out []Prompt
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketPending).Cursor()
		prefix := bolt.Key(person, "")
		prompts := tx.Bucket(bucketPrompts)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			v := prompts.Get(k[len(prefix):])
			if v == nil {
				continue
			}
			var p Prompt
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Prompt) int { return int(a.Created - b.Created) })
	return out, err
}
