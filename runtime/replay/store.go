package replay

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// Buckets of the store: events holds merchant → app → key → Record (JSON),
// the key being the event's clock (8 bytes, big-endian Unix nanoseconds)
// then its id; people holds person → merchant\0app\0key → nothing.
var (
	bucketEvents = []byte("replay.events")
	bucketPeople = []byte("replay.people")
)

// ProfileOp is the operation whose answers carry the profile fields a
// person granted; RedactProfile blanks them.
const ProfileOp = "identity.profile"

// redactedProfile replaces a withdrawn profile answer in a record.
var redactedProfile = json.RawMessage(`{"redacted":true}`)

// Config configures a Store.
type Config struct {
	// Retention is how long an event is kept, from its clock; 0 records
	// nothing (Enabled is false).
	Retention time.Duration
	// Now is the store's clock for Expire (default time.Now).
	Now func() time.Time
	// Async writes records off the events' path: an event's record is
	// queued once the event committed and a writer stores queued records
	// in batches (Close flushes them). Off (the default), a record is
	// written inside the event's own commit. BENCHMARKS.md compares both.
	Async bool
	// Errors, if set, learns the failures of asynchronous writes.
	Errors func(error)
}

// Store keeps the records of the events apps handled. It is safe for
// concurrent use.
type Store struct {
	db  *bbolt.DB
	cfg Config
	w   *writer // Config.Async
}

// Open opens the store's buckets in db.
func Open(db *bbolt.DB, cfg Config) (*Store, error) {
	if cfg.Retention < 0 {
		return nil, fmt.Errorf("replay: retention %v is negative; give 0 to record nothing", cfg.Retention)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketEvents, bucketPeople} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replay: open buckets: %w", err)
	}
	s := &Store{db: db, cfg: cfg}
	if cfg.Async && cfg.Retention > 0 {
		s.startWriter()
	}
	return s, nil
}

// Close writes the records still queued (Config.Async). Records handed
// to the store afterwards are written at once.
func (s *Store) Close() {
	if s != nil && s.w != nil {
		s.w.close()
	}
}

// Enabled reports whether events are recorded (the retention is not 0).
func (s *Store) Enabled() bool { return s != nil && s.cfg.Retention > 0 }

// Retention returns how long events are kept.
func (s *Store) Retention() time.Duration { return s.cfg.Retention }

func eventKey(r *Record) []byte {
	k := make([]byte, 8, 8+len(r.Event))
	binary.BigEndian.PutUint64(k, uint64(r.Clock.UnixNano()))
	return append(k, r.Event...)
}

func personKey(merchant, app string, key []byte) []byte {
	k := []byte(merchant + "\x00" + app + "\x00")
	return append(k, key...)
}

// Effect returns the effect that stores rec with the event's commit, or,
// with Config.Async, queues it once the event committed.
func (s *Store) Effect(rec *Record) host.Effect {
	if s.w != nil {
		return host.Effect{Committed: func() { s.w.enqueue(rec) }}
	}
	return host.Effect{Apply: func(tx *bbolt.Tx) error { return s.put(tx, rec) }}
}

// Put stores rec outside any event's commit (an event whose effects are
// not committed: the guest returned a non-zero status), in a transaction
// of its own or, with Config.Async, through the writer's queue.
func (s *Store) Put(rec *Record) error {
	if s.w != nil {
		s.w.enqueue(rec)
		return nil
	}
	return s.db.Update(func(tx *bbolt.Tx) error { return s.put(tx, rec) })
}

func (s *Store) put(tx *bbolt.Tx, rec *Record) error {
	if rec.Merchant == "" || rec.App == "" || rec.Event == "" {
		return errors.New("replay: a record needs its merchant, app and event id")
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("replay: encode record: %w", err)
	}
	mb, err := tx.Bucket(bucketEvents).CreateBucketIfNotExists([]byte(rec.Merchant))
	if err != nil {
		return err
	}
	ab, err := mb.CreateBucketIfNotExists([]byte(rec.App))
	if err != nil {
		return err
	}
	key := eventKey(rec)
	if err := ab.Put(key, v); err != nil {
		return err
	}
	if rec.Person == "" {
		return nil
	}
	pb, err := tx.Bucket(bucketPeople).CreateBucketIfNotExists([]byte(rec.Person))
	if err != nil {
		return err
	}
	return pb.Put(personKey(rec.Merchant, rec.App, key), nil)
}

// Query selects recorded events of one app. Zero fields select
// everything; Last keeps the last Last events of what the others select.
type Query struct {
	From, To time.Time // clock in [From, To); zero: unbounded
	Session  string    // the conversation's events only
	Version  string    // the events this version handled only
	Last     int       // the last Last events only; 0: all
}

// Events returns the events of merchant's app that q selects, oldest first.
func (s *Store) Events(merchant, app string, q Query) ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bbolt.Tx) error {
		ab := appBucket(tx, merchant, app)
		if ab == nil {
			return nil
		}
		keep := func(v []byte) (bool, error) {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return false, fmt.Errorf("replay: decode record: %w", err)
			}
			if (q.Session != "" && r.Conversation != q.Session) || (q.Version != "" && r.Version != q.Version) {
				return false, nil
			}
			out = append(out, r)
			return true, nil
		}
		c := ab.Cursor()
		lo, hi := timeKey(q.From), timeKey(q.To)
		if q.Last > 0 { // newest first, then reversed
			k, v := c.Last()
			if !q.To.IsZero() {
				if k, v = c.Seek(hi); k == nil {
					k, v = c.Last()
				} else {
					k, v = c.Prev()
				}
			}
			for ; k != nil && len(out) < q.Last; k, v = c.Prev() {
				if !q.From.IsZero() && bytes.Compare(k, lo) < 0 {
					break
				}
				if !q.To.IsZero() && bytes.Compare(k, hi) >= 0 {
					continue
				}
				if _, err := keep(v); err != nil {
					return err
				}
			}
			slices.Reverse(out)
			return nil
		}
		k, v := c.First()
		if !q.From.IsZero() {
			k, v = c.Seek(lo)
		}
		for ; k != nil; k, v = c.Next() {
			if !q.To.IsZero() && bytes.Compare(k, hi) >= 0 {
				break
			}
			if _, err := keep(v); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func timeKey(t time.Time) []byte {
	k := make([]byte, 8)
	if !t.IsZero() {
		binary.BigEndian.PutUint64(k, uint64(max(t.UnixNano(), 0)))
	}
	return k
}

func appBucket(tx *bbolt.Tx, merchant, app string) *bbolt.Bucket {
	mb := tx.Bucket(bucketEvents).Bucket([]byte(merchant))
	if mb == nil {
		return nil
	}
	return mb.Bucket([]byte(app))
}

// Expire removes the events whose clock is older than the retention and
// returns how many it removed. With a retention of 0 it removes every
// event (the operator turned recording off).
func (s *Store) Expire() (int, error) {
	cut := timeKey(s.cfg.Now().Add(-s.cfg.Retention))
	if s.cfg.Retention == 0 {
		cut = bytes.Repeat([]byte{0xff}, 9)
	}
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var gone [][3][]byte // merchant, app, key
		err := tx.Bucket(bucketEvents).ForEachBucket(func(m []byte) error {
			mb := tx.Bucket(bucketEvents).Bucket(m)
			return mb.ForEachBucket(func(a []byte) error {
				c := mb.Bucket(a).Cursor()
				for k, v := c.First(); k != nil && bytes.Compare(k, cut) < 0; k, v = c.Next() {
					var r Record
					_ = json.Unmarshal(v, &r)
					gone = append(gone, [3][]byte{m, a, append([]byte(r.Person), 0)})
					gone[len(gone)-1][2] = append(gone[len(gone)-1][2], k...)
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		for _, g := range gone {
			person, key, _ := bytes.Cut(g[2], []byte{0})
			if err := tx.Bucket(bucketEvents).Bucket(g[0]).Bucket(g[1]).Delete(key); err != nil {
				return err
			}
			if pb := tx.Bucket(bucketPeople).Bucket(person); len(person) > 0 && pb != nil {
				if err := pb.Delete(personKey(string(g[0]), string(g[1]), key)); err != nil {
					return err
				}
			}
			n++
		}
		return nil
	})
	return n, err
}

// Run removes expired events every interval until ctx is done.
func (s *Store) Run(ctx context.Context, every time.Duration, log func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Expire(); err != nil && log != nil {
			log(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Forget removes every recorded event of person, of every merchant, and
// returns how many it removed: the person asked for their data to be
// deleted.
func (s *Store) Forget(person string) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		pb := tx.Bucket(bucketPeople).Bucket([]byte(person))
		if pb == nil {
			return nil
		}
		err := pb.ForEach(func(k, _ []byte) error {
			merchant, rest, _ := bytes.Cut(k, []byte{0})
			app, key, _ := bytes.Cut(rest, []byte{0})
			if ab := appBucket(tx, string(merchant), string(app)); ab != nil && ab.Get(key) != nil {
				n++
				return ab.Delete(key)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketPeople).DeleteBucket([]byte(person))
	})
	return n, err
}

// RedactProfile blanks the identity.profile answers in person's recorded
// events of merchant's app ("" app: every app of merchant), because the
// person withdrew the grant; it returns how many events it changed. A
// replay of such an event answers the call with {"redacted":true}.
func (s *Store) RedactProfile(person, merchant, app string) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		pb := tx.Bucket(bucketPeople).Bucket([]byte(person))
		if pb == nil {
			return nil
		}
		prefix := []byte(merchant + "\x00")
		if app != "" {
			prefix = append(prefix, app+"\x00"...)
		}
		c := pb.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			_, rest, _ := bytes.Cut(k, []byte{0})
			a, key, _ := bytes.Cut(rest, []byte{0})
			ab := appBucket(tx, merchant, string(a))
			if ab == nil {
				continue
			}
			v := ab.Get(key)
			if v == nil {
				continue
			}
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("replay: decode record: %w", err)
			}
			changed := false
			for i := range r.Calls {
				if r.Calls[i].Op == ProfileOp && r.Calls[i].Status == host.StatusOK {
					r.Calls[i].Response = redactedProfile
					changed = true
				}
			}
			if !changed {
				continue
			}
			r.Redacted = true
			nv, err := json.Marshal(&r)
			if err != nil {
				return err
			}
			if err := ab.Put(key, nv); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
