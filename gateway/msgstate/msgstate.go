// Package msgstate keeps, on bbolt, what became of the messages apps sent:
// for each message, its state on the person's surface (sent, delivered,
// read, failed) and the history of its moves with their times, and for
// each app, surface and state, how many messages reached it. The
// connector runtime (WhatsApp, Messenger, Instagram statuses) and the
// gateway (a web client's delivered and read marks) move the states; the
// merchant API reads them.
//
// States only move forward: sent, delivered, read; failed is final. A
// state reached past one that never came (read before delivered) implies
// it: the message counts as delivered in the figures, and its history
// shows only what came.
//
// # Storage
//
// It owns two buckets: msgstate.messages, the message id to the Message as
// JSON, and msgstate.figures, app, 0, surface, 0, state[, 0, code] to an
// 8-byte big-endian count. A move is written inside the caller's
// transaction (RecordTx), so that what it causes (the app's status event,
// kept in gateway/eventstore) commits with it or not at all; Record writes
// one in a transaction of its own, through a bolt.Committer.
package msgstate

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
)

// ErrNotFound is returned by Get for a message no move names (not an
// app's message, not one of this app's, or forgotten).
var ErrNotFound = &host.Error{Status: host.StatusNotFound, Code: "message_not_found",
	Message: "no state is known for this message; check the id chat.send answered (msg_...) and the app"}

// ErrClosed is the store's error after Close.
var ErrClosed = &host.Error{Status: host.StatusUnavailable, Message: "the message-state store is closed; the server is stopping, retry shortly"}

var (
	bucketMessages = []byte("msgstate.messages")
	bucketFigures  = []byte("msgstate.figures")
)

// Move is a message of an app reaching a state on a person's surface.
type Move struct {
	Message      string // the message's id (msg_...)
	App          string
	Conversation string
	Surface      string // whatsapp, messenger, instagram, web
	State        string // host.StateSent, StateDelivered, StateRead, StateFailed
	Code         string // failed: the stable code (window_closed, opted_out, undeliverable, ...)
	NetworkCode  int    // failed: the network's number, 0 when it gave none
	At           time.Time
}

// Entry is one move in a message's history.
type Entry struct {
	State       string    `json:"state"`
	At          time.Time `json:"at"`
	Code        string    `json:"code,omitempty"`
	NetworkCode int       `json:"network_code,omitempty"`
}

// Message is what became of one message of an app.
type Message struct {
	ID           string  `json:"id"`
	App          string  `json:"app"`
	Conversation string  `json:"conversation,omitempty"`
	Surface      string  `json:"surface"`
	State        string  `json:"state"`
	Code         string  `json:"code,omitempty"`
	NetworkCode  int     `json:"network_code,omitempty"`
	History      []Entry `json:"history"`
}

// Change is what a move did.
type Change struct {
	// Moved is false when the message was already at the state or past it.
	Moved bool
	// Reached lists the states the message reached, in order: the implied
	// ones first (delivered when read came first), then the move's.
	Reached []string
	Message Message
}

// Figure is how many of an app's messages on a surface reached a state
// (for failed, with a code).
type Figure struct {
	Surface string `json:"surface"`
	State   string `json:"state"`
	Code    string `json:"code,omitempty"`
	Count   uint64 `json:"count"`
}

// Rank orders the states: a message never moves to a state of a rank not
// above its own. Unknown states rank 0.
func Rank(state string) int {
	switch state {
	case host.StateSent:
		return 1
	case host.StateDelivered:
		return 2
	case host.StateRead:
		return 3
	case host.StateFailed:
		return 4
	}
	return 0
}

// Store keeps messages' states. It is safe for concurrent use.
type Store struct {
	db     *bbolt.DB
	commit *bolt.Committer
}

// Open returns the store kept in db, creating its buckets. Close it before
// closing db.
func Open(db *bbolt.DB) (*Store, error) {
	if err := bolt.CreateBuckets(db, bucketMessages, bucketFigures); err != nil {
		return nil, fmt.Errorf("msgstate: create buckets: %w", err)
	}
	return &Store{db: db, commit: bolt.NewCommitter(db, bolt.Config{})}, nil
}

// Close refuses new writes with ErrClosed and waits for those under way.
func (s *Store) Close() { s.commit.Close() }

// RecordTx applies m inside tx, a write transaction of the store's
// database: the message's state and history move forward and the figures
// count every state reached. A move to a state the message already
// reached or passed changes nothing (Moved false).
func (s *Store) RecordTx(tx *bbolt.Tx, m Move) (Change, error) {
	if m.Message == "" || m.App == "" {
		return Change{}, errors.New("msgstate: a move names no message or no app")
	}
	if Rank(m.State) == 0 {
		return Change{}, fmt.Errorf("msgstate: state %q is none of sent, delivered, read, failed", m.State)
	}
	b := tx.Bucket(bucketMessages)
	if b == nil {
		return Change{}, errors.New("msgstate: the transaction is not one of the store's database")
	}
	var cur Message
	if v := b.Get([]byte(m.Message)); v != nil {
		if err := json.Unmarshal(v, &cur); err != nil {
			return Change{}, fmt.Errorf("msgstate: message %q: %w", m.Message, err)
		}
	} else {
		cur = Message{ID: m.Message, App: m.App, Conversation: m.Conversation, Surface: m.Surface}
	}
	if Rank(m.State) <= Rank(cur.State) {
		return Change{Message: cur}, nil
	}
	var reached []string
	if m.State != host.StateFailed {
		for _, st := range []string{host.StateSent, host.StateDelivered} {
			if Rank(st) > Rank(cur.State) && Rank(st) < Rank(m.State) {
				reached = append(reached, st)
			}
		}
	} else if cur.State == "" {
		reached = append(reached, host.StateSent) // a refusal at send still counts the message
	}
	reached = append(reached, m.State)
	at := m.At.UTC().Truncate(time.Millisecond)
	cur.State, cur.Code, cur.NetworkCode = m.State, m.Code, m.NetworkCode
	cur.History = append(cur.History, Entry{State: m.State, At: at, Code: m.Code, NetworkCode: m.NetworkCode})
	if cur.Surface == "" {
		cur.Surface = m.Surface
	}
	v, err := json.Marshal(cur)
	if err != nil {
		return Change{}, err
	}
	if err := b.Put([]byte(m.Message), v); err != nil {
		return Change{}, err
	}
	f := tx.Bucket(bucketFigures)
	for _, st := range reached {
		code := ""
		if st == host.StateFailed {
			code = m.Code
		}
		k := figureKey(cur.App, cur.Surface, st, code)
		var n uint64
		if v := f.Get(k); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		if err := f.Put(k, binary.BigEndian.AppendUint64(nil, n+1)); err != nil {
			return Change{}, err
		}
	}
	return Change{Moved: true, Reached: reached, Message: cur}, nil
}

// Record applies m in a transaction of its own, together with what with
// writes (when not nil, and only when m moved the message): both commit or
// neither does. with may run more than once, each time in a new
// transaction.
func (s *Store) Record(_ context.Context, m Move, with func(tx *bbolt.Tx, c Change) error) (Change, error) {
	var c Change
	err := s.commit.Do(func(tx *bbolt.Tx) error {
		var err error
		if c, err = s.RecordTx(tx, m); err != nil || !c.Moved || with == nil {
			return err
		}
		return with(tx, c)
	})
	if errors.Is(err, bolt.ErrClosed) {
		return Change{}, ErrClosed
	}
	return c, err
}

// Get returns the message id of app.
func (s *Store) Get(_ context.Context, app, id string) (Message, error) {
	var m Message
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketMessages).Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("msgstate: message %q: %w", id, err)
		}
		if m.App != app {
			return ErrNotFound // another app's: as if unknown
		}
		return nil
	})
	return m, err
}

// Figures returns how many of app's messages reached each state, by
// surface, state and code, sorted.
func (s *Store) Figures(_ context.Context, app string) ([]Figure, error) {
	var out []Figure
	prefix := append([]byte(app), 0)
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketFigures).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			parts := bytes.Split(k[len(prefix):], []byte{0})
			if len(parts) < 2 || len(v) != 8 {
				continue
			}
			f := Figure{Surface: string(parts[0]), State: string(parts[1]), Count: binary.BigEndian.Uint64(v)}
			if len(parts) > 2 {
				f.Code = string(parts[2])
			}
			out = append(out, f)
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Surface != out[j].Surface {
			return out[i].Surface < out[j].Surface
		}
		if Rank(out[i].State) != Rank(out[j].State) {
			return Rank(out[i].State) < Rank(out[j].State)
		}
		return out[i].Code < out[j].Code
	})
	return out, err
}

// Prune forgets the messages whose last move is older than before, at
// most limit of them, and says how many; the figures stay.
func (s *Store) Prune(_ context.Context, before time.Time, limit int) (int, error) {
	var n int
	err := s.commit.Do(func(tx *bbolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketMessages)
		var old [][]byte
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(old) < limit; k, v = c.Next() {
			var m Message
			if json.Unmarshal(v, &m) != nil || len(m.History) == 0 || m.History[len(m.History)-1].At.Before(before) {
				old = append(old, bytes.Clone(k))
			}
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if errors.Is(err, bolt.ErrClosed) {
		return 0, ErrClosed
	}
	return n, err
}

func figureKey(app, surface, state, code string) []byte {
	k := make([]byte, 0, len(app)+len(surface)+len(state)+len(code)+3)
	k = append(append(append(append(append(k, app...), 0), surface...), 0), state...)
	if code != "" {
		k = append(append(k, 0), code...)
	}
	return k
}
