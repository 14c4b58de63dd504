package connector

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
)

// Buckets of a store named n: n.seen (event key -> inbox seq, recorded at
// unix ms, 8+8 bytes BE), n.expiry (recorded at unix ms, 8 bytes BE, and
// the event key -> "") and n.inbox (seq, 8 bytes BE -> the event as JSON).
type buckets struct{ seen, expiry, inbox []byte }

// DefaultRetention is how long an event key is remembered when
// StoreConfig.Retention is 0. Meta retries a notification that was not
// answered with 200 for up to 7 days; a key must outlive that.
const DefaultRetention = 7 * 24 * time.Hour

// expirePerRecord is how many expired keys a Record forgets at most.
const expirePerRecord = 8

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("the store is closed; the server is stopping, Meta will deliver again")

// StoreConfig says how long keys are kept.
type StoreConfig struct {
	// Retention is how long a recorded event's key is remembered, so a
	// redelivery within it is recognised (DefaultRetention if 0). It must
	// be at least as long as Meta retries.
	Retention time.Duration
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// Store records webhook events of type E (JSON-encodable) on bbolt: each
// key once, durably, and the new events in an inbox, in the order
// recorded, until the gateway has consumed them. It is safe for concurrent
// use.
type Store[E any] struct {
	name   string
	key    func(E) string
	b      buckets
	db     *bbolt.DB
	commit *bolt.Committer
	cfg    StoreConfig
}

// Entry is an event of the inbox with its place in it.
type Entry[E any] struct {
	Seq   uint64
	Event E
}

// OpenStore returns the store named name kept in db, creating its buckets
// (name.seen, name.expiry, name.inbox); key gives an event's dedupe key.
// Close it before closing db.
func OpenStore[E any](db *bbolt.DB, name string, key func(E) string, cfg StoreConfig) (*Store[E], error) {
	if name == "" || key == nil {
		return nil, errors.New("connector: a store needs a name (the network: whatsapp, messenger) for its buckets and a function giving an event's key")
	}
	if cfg.Retention < 0 {
		return nil, fmt.Errorf("%s: retention %v is negative; give a duration of at least 7 days (168h)", name, cfg.Retention)
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	bs := buckets{seen: []byte(name + ".seen"), expiry: []byte(name + ".expiry"), inbox: []byte(name + ".inbox")}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bs.seen, bs.expiry, bs.inbox} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: create buckets: %w", name, err)
	}
	return &Store[E]{name: name, key: key, b: bs, db: db, commit: bolt.NewCommitter(db, bolt.Config{}), cfg: cfg}, nil
}

// Close refuses new records with ErrClosed and waits for those under way.
func (s *Store[E]) Close() { s.commit.Close() }

// Record stores e in the inbox unless an event with its key was recorded
// within the retention (duplicate is then true and nothing is written); it
// returns once the transaction is committed. It also forgets a few keys
// older than the retention.
func (s *Store[E]) Record(_ context.Context, e E) (duplicate bool, err error) {
	key := s.key(e)
	if key == "" {
		return false, fmt.Errorf("%s: an event without a key cannot be deduplicated; build events with the network's Parse", s.name)
	}
	v, err := json.Marshal(e)
	if err != nil {
		return false, err
	}
	now := s.cfg.Now().UnixMilli()
	k := []byte(key)
	var dup bool
	err = s.commit.Do(func(tx *bbolt.Tx) error {
		dup = false
		seen := tx.Bucket(s.b.seen)
		if old := seen.Get(k); len(old) == 16 && !s.expired(old, now) {
			dup = true
			return nil
		}
		if err := s.expire(tx, now, expirePerRecord); err != nil {
			return err
		}
		inbox := tx.Bucket(s.b.inbox)
		seq, err := inbox.NextSequence()
		if err != nil {
			return err
		}
		if err := inbox.Put(u64(seq), v); err != nil {
			return err
		}
		if err := seen.Put(k, append(u64(seq), u64(uint64(now))...)); err != nil {
			return err
		}
		return tx.Bucket(s.b.expiry).Put(append(u64(uint64(now)), k...), nil)
	})
	if errors.Is(err, bolt.ErrClosed) {
		return false, ErrClosed
	}
	return dup, err
}

func (s *Store[E]) expired(v []byte, now int64) bool {
	return int64(binary.BigEndian.Uint64(v[8:])) <= now-s.cfg.Retention.Milliseconds()
}

// expire forgets at most max keys recorded before the retention, oldest
// first; max < 0 means all of them.
func (s *Store[E]) expire(tx *bbolt.Tx, now int64, max int) error {
	before := now - s.cfg.Retention.Milliseconds()
	if before < 0 {
		return nil // a clock before the epoch plus the retention: nothing is old yet
	}
	cut := u64(uint64(before + 1))
	c := tx.Bucket(s.b.expiry).Cursor()
	seen := tx.Bucket(s.b.seen)
	var old [][]byte
	for k, _ := c.First(); k != nil && bytes.Compare(k[:8], cut) < 0 && max != 0; k, _ = c.Next() {
		old = append(old, bytes.Clone(k))
		max--
	}
	for _, k := range old {
		key := k[8:]
		// A key recorded again after expiring has a newer time in seen.
		if v := seen.Get(key); len(v) == 16 && bytes.Equal(v[8:], k[:8]) {
			if err := seen.Delete(key); err != nil {
				return err
			}
		}
		if err := tx.Bucket(s.b.expiry).Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Expire forgets every key recorded before the retention. Record forgets
// a few each time; Expire is for a store that records little.
func (s *Store[E]) Expire(context.Context) error {
	err := s.commit.Do(func(tx *bbolt.Tx) error { return s.expire(tx, s.cfg.Now().UnixMilli(), -1) })
	if errors.Is(err, bolt.ErrClosed) {
		return ErrClosed
	}
	return err
}

// Seen reports whether an event with key is remembered.
func (s *Store[E]) Seen(_ context.Context, key string) (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(s.b.seen).Get([]byte(key))
		ok = len(v) == 16 && !s.expired(v, s.cfg.Now().UnixMilli())
		return nil
	})
	return ok, err
}

// Inbox returns at most limit events recorded after seq after, oldest
// first.
func (s *Store[E]) Inbox(_ context.Context, after uint64, limit int) ([]Entry[E], error) {
	var out []Entry[E]
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(s.b.inbox).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var e E
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("%s: inbox entry %d: %w", s.name, binary.BigEndian.Uint64(k), err)
			}
			out = append(out, Entry[E]{Seq: binary.BigEndian.Uint64(k), Event: e})
		}
		return nil
	})
	return out, err
}

// Done removes the inbox's events up to seq, once the gateway has handled
// them. Their keys stay remembered for the retention.
func (s *Store[E]) Done(_ context.Context, seq uint64) error {
	err := s.commit.Do(func(tx *bbolt.Tx) error {
		b := tx.Bucket(s.b.inbox)
		c := b.Cursor()
		var keys [][]byte
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= seq; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, bolt.ErrClosed) {
		return ErrClosed
	}
	return err
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n) }
