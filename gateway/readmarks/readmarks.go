// Package readmarks keeps read markers on bbolt: for every member of a
// conversation, the highest seq their clients have received (delivered)
// and shown (read). They live on the server, not in a client, so that
// unread counts are right on every device and after every reload, and so
// that a sender sees its messages delivered and read. The gateway uses it
// through a small interface of its own (gateway.MarkStore).
//
// Markers only move forward; read implies delivered. Bounding a marker by
// the conversation's last message is the caller's business.
//
// # Storage
//
// It owns the bucket gateway.readmarks: conv, 0, person -> delivered, read
// (8+8 bytes big-endian), so that a conversation's markers are one prefix
// scan. Writes go through a bolt.Committer; a mark that moves nothing is
// answered from a read transaction.
package readmarks

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
)

// ErrClosed is returned by Set once the store is closing; a *host.Error so
// that every edge maps it from its status.
var ErrClosed = &host.Error{Status: host.StatusUnavailable, Message: "the read-marker store is closed; the server is stopping, retry shortly"}

var bucket = []byte("gateway.readmarks")

// States a marker is moved to.
const (
	Delivered = "delivered"
	Read      = "read"
)

// Marker is one member's position in a conversation.
type Marker struct {
	Person    string `json:"person"`
	Delivered uint64 `json:"delivered"`
	Read      uint64 `json:"read"`
}

// Store keeps read markers. It is safe for concurrent use.
type Store struct {
	db     *bbolt.DB
	commit *bolt.Committer
}

// Open returns the store kept in db, creating its bucket. Close it before
// closing db.
func Open(db *bbolt.DB) (*Store, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("readmarks: create bucket: %w", err)
	}
	return &Store{db: db, commit: bolt.NewCommitter(db, bolt.Config{})}, nil
}

// Close refuses new writes with ErrClosed and waits for those under way.
func (s *Store) Close() { s.commit.Close() }

func key(conv, person string) []byte {
	k := make([]byte, 0, len(conv)+1+len(person))
	k = append(k, conv...)
	k = append(k, 0)
	return append(k, person...)
}

func decode(person string, v []byte) Marker {
	m := Marker{Person: person}
	if len(v) == 16 {
		m.Delivered, m.Read = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
	}
	return m
}

func (m Marker) covers(state string, seq uint64) bool {
	return m.Delivered >= seq && (state != Read || m.Read >= seq)
}

// Set moves person's marker in conv forward to seq: state Delivered moves
// the delivered seq, Read moves both. It returns the marker and whether it
// moved.
func (s *Store) Set(ctx context.Context, conv, person, state string, seq uint64) (m Marker, moved bool, err error) {
	return s.SetWith(ctx, conv, person, state, seq, nil)
}

// SetWith is Set that also runs with, when not nil and the marker moves,
// in the transaction that moves it, with the marker before and after:
// what with writes commits with the move, or neither does. with may run
// more than once, each time in a new transaction.
func (s *Store) SetWith(_ context.Context, conv, person, state string, seq uint64, with func(tx *bbolt.Tx, old, m Marker) error) (m Marker, moved bool, err error) {
	if state != Delivered && state != Read {
		return Marker{}, false, fmt.Errorf("readmarks: state %q is neither %q nor %q", state, Delivered, Read)
	}
	k := key(conv, person)
	// Most marks repeat what is stored (another device got there first).
	err = s.db.View(func(tx *bbolt.Tx) error {
		m = decode(person, tx.Bucket(bucket).Get(k))
		return nil
	})
	if err != nil || m.covers(state, seq) {
		return m, false, err
	}
	err = s.commit.Do(func(tx *bbolt.Tx) error { // may run again: computed afresh each time
		b := tx.Bucket(bucket)
		m = decode(person, b.Get(k))
		old := m
		if state == Read {
			m.Read = max(m.Read, seq)
		}
		m.Delivered = max(m.Delivered, seq, m.Read)
		if moved = m != old; !moved {
			return nil
		}
		v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), m.Delivered)
		if err := b.Put(k, binary.BigEndian.AppendUint64(v, m.Read)); err != nil || with == nil {
			return err
		}
		return with(tx, old, m)
	})
	if errors.Is(err, bolt.ErrClosed) {
		return Marker{}, false, ErrClosed
	}
	return m, moved, err
}

// Of returns the markers of every conversation in convs that has any, in
// one read transaction.
func (s *Store) Of(_ context.Context, convs []string) (map[string][]Marker, error) {
	out := map[string][]Marker{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for _, conv := range convs {
			prefix := key(conv, "")
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				out[conv] = append(out[conv], decode(string(k[len(prefix):]), v))
			}
		}
		return nil
	})
	return out, err
}
