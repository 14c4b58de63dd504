package timer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
)

// Defaults for Config.
const (
	DefaultMaxPending  = 100                 // pending timers per app
	DefaultMaxDelay    = 30 * 24 * time.Hour // longest after_ms
	DefaultMaxPayload  = 4096                // bytes of payload JSON
	DefaultMaxAttempts = 5                   // Fire calls before a failing timer is dropped
	DefaultRetryDelay  = time.Second         // first retry delay, doubled each attempt
	DefaultPoll        = time.Second         // longest the platform's timer loop sleeps without looking at the store (services)
)

// Errors, wrapped with details; test with errors.Is.
var (
	ErrNotFound = &host.Error{Status: host.StatusNotFound, Message: "timer: not found"}
	ErrInvalid  = &host.Error{Status: host.StatusBadRequest, Message: "timer: invalid request"}
	ErrQuota    = &host.Error{Status: host.StatusQuota, Message: "timer: too many pending timers"}
)

var (
	bucketDue   = []byte("timer.due")   // due (8 bytes, unix ns) + id → Timer JSON
	bucketIDs   = []byte("timer.ids")   // id → key in timer.due
	bucketCount = []byte("timer.count") // merchant \0 app → pending count
)

// Timer is one pending timer.
type Timer struct {
	ID           string          `json:"id"`
	Ref          host.AppRef     `json:"ref"`
	Person       string          `json:"person,omitempty"`
	Conversation string          `json:"conversation,omitempty"`
	Surface      string          `json:"surface,omitempty"`
	Payload      json.RawMessage `json:"payload,omitempty"`
	Due          time.Time       `json:"due"`
	Created      time.Time       `json:"created"`
	Attempts     int             `json:"attempts,omitempty"`
}

// Event returns the timer part of the app's timer event.
func (t Timer) Event() host.TimerEvent { return host.TimerEvent{ID: t.ID, Payload: t.Payload} }

// Config configures a Service. Zero fields take the defaults.
type Config struct {
	Fire        func(ctx context.Context, t Timer) error // called for each due timer; nil drops them (with a log)
	MaxPending  int
	MaxDelay    time.Duration
	MaxPayload  int
	MaxAttempts int
	RetryDelay  time.Duration
	// Poll, when positive, has the service fire due timers on a goroutine
	// it owns until Close, sleeping until the soonest is due and at most
	// Poll; zero leaves firing to the caller (FireDue).
	Poll   time.Duration
	Logger *slog.Logger
	Now    func() time.Time
}

// Service stores timers and fires them. It is safe for concurrent use.
type Service struct {
	db     *bbolt.DB
	commit *bolt.Committer // After and Cancel, which refuse before writing
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	wake   chan struct{}

	stop      context.CancelFunc // ends the loop
	loop      sync.WaitGroup
	closeOnce sync.Once
}

// Open prepares the service on db, creating its buckets, and starts firing
// due timers when Config.Poll is set. Close the service before db.
func Open(db *bbolt.DB, cfg Config) (*Service, error) {
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = DefaultRetryDelay
	}
	s := &Service{db: db, commit: bolt.NewCommitter(db, bolt.Config{Refusals: []error{ErrQuota, ErrNotFound}}), cfg: cfg, log: cfg.Logger, now: cfg.Now, wake: make(chan struct{}, 1)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketDue, bucketIDs, bucketCount} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("timer: open store: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	if cfg.Poll > 0 {
		s.loop.Go(func() { s.run(ctx) })
	}
	return s, nil
}

// Close stops firing timers, waits for the timer being fired, and stops the
// service's commit loop; the service must not be used after. Calling it
// again does nothing.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		s.stop()
		s.loop.Wait()
		s.commit.Close()
	})
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "tm_" + idEncoding.EncodeToString(b[:])
}

func dueKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, id...)
}

func countKey(ref host.AppRef) []byte { return []byte(ref.Merchant + "\x00" + ref.App) }

// pendingCount returns how many timers the app of ref has pending.
func pendingCount(tx *bbolt.Tx, ref host.AppRef) int64 {
	if v := tx.Bucket(bucketCount).Get(countKey(ref)); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

func addCount(tx *bbolt.Tx, ref host.AppRef, delta int64) (int64, error) {
	b := tx.Bucket(bucketCount)
	n := pendingCount(tx, ref) + delta
	if n <= 0 {
		return 0, b.Delete(countKey(ref))
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(n))
	return n, b.Put(countKey(ref), v[:])
}

// After sets a timer for the app of caller, due after d, carrying payload
// (JSON, may be empty). It fails with ErrQuota when the app already has
// MaxPending timers pending.
func (s *Service) After(ctx context.Context, caller host.Caller, d time.Duration, payload json.RawMessage) (Timer, error) {
	if d <= 0 || d > s.cfg.MaxDelay {
		return Timer{}, host.Wrapf(ErrInvalid, "delay %s; give between 1ms and %s", d, s.cfg.MaxDelay)
	}
	if len(payload) > s.cfg.MaxPayload {
		return Timer{}, host.Wrapf(ErrInvalid, "payload of %d bytes, at most %d", len(payload), s.cfg.MaxPayload)
	}
	if len(payload) > 0 && !json.Valid(payload) {
		return Timer{}, host.Wrapf(ErrInvalid, "payload is not JSON")
	}
	now := s.now().UTC()
	t := Timer{ID: newID(), Ref: caller.App, Person: caller.Person, Conversation: caller.Conversation, Surface: caller.Surface,
		Payload: payload, Due: now.Add(d), Created: now}
	err := s.commit.Do(func(tx *bbolt.Tx) error {
		if n := pendingCount(tx, t.Ref); n >= int64(s.cfg.MaxPending) {
			return host.Wrapf(ErrQuota, "the app has %d timers pending, the limit is %d; cancel some first", n, s.cfg.MaxPending)
		}
		if _, err := addCount(tx, t.Ref, 1); err != nil {
			return err
		}
		return s.put(tx, t)
	})
	if err != nil {
		return Timer{}, err
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return t, nil
}

func (s *Service) put(tx *bbolt.Tx, t Timer) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	k := dueKey(t.Due, t.ID)
	if err := tx.Bucket(bucketDue).Put(k, data); err != nil {
		return err
	}
	return tx.Bucket(bucketIDs).Put([]byte(t.ID), k)
}

// remove deletes timer id in tx if it belongs to the app of ref; it
// returns false if there is no such pending timer.
func remove(tx *bbolt.Tx, ref host.AppRef, id string) (bool, error) {
	k := tx.Bucket(bucketIDs).Get([]byte(id))
	if k == nil {
		return false, nil
	}
	k = bytes.Clone(k)
	var t Timer
	if err := json.Unmarshal(tx.Bucket(bucketDue).Get(k), &t); err != nil {
		return false, err
	}
	if t.Ref.Merchant != ref.Merchant || t.Ref.App != ref.App {
		return false, nil
	}
	if err := tx.Bucket(bucketDue).Delete(k); err != nil {
		return false, err
	}
	if err := tx.Bucket(bucketIDs).Delete([]byte(id)); err != nil {
		return false, err
	}
	_, err := addCount(tx, ref, -1)
	return true, err
}

// Cancel removes a pending timer of the app of ref. A timer that is not
// pending (fired, cancelled, another app's) returns ErrNotFound.
func (s *Service) Cancel(ctx context.Context, ref host.AppRef, id string) error {
	return s.commit.Do(func(tx *bbolt.Tx) error {
		ok, err := remove(tx, ref, id)
		if err == nil && !ok {
			err = host.Wrapf(ErrNotFound, "no pending timer %q of this app", id)
		}
		return err
	})
}

// Pending lists the pending timers of the app of ref, soonest first.
func (s *Service) Pending(ctx context.Context, ref host.AppRef) ([]Timer, error) {
	var out []Timer
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketDue).ForEach(func(k, v []byte) error {
			var t Timer
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			if t.Ref.Merchant == ref.Merchant && t.Ref.App == ref.App {
				out = append(out, t)
			}
			return nil
		})
	})
	return out, err
}

// FireDue calls Config.Fire for every timer due at or before now, removing
// those it fired and rescheduling those whose Fire failed. It returns how
// many fired.
func (s *Service) FireDue(ctx context.Context, now time.Time) (int, error) {
	fired := 0
	for ctx.Err() == nil {
		var due []Timer
		err := s.db.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketDue).Cursor()
			limit := uint64(now.UnixNano())
			for k, v := c.First(); k != nil && binary.BigEndian.Uint64(k[:8]) <= limit && len(due) < 100; k, v = c.Next() {
				var t Timer
				if err := json.Unmarshal(v, &t); err != nil {
					return err
				}
				due = append(due, t)
			}
			return nil
		})
		if err != nil || len(due) == 0 {
			return fired, err
		}
		for _, t := range due {
			if err := s.fire(ctx, t, now); err != nil {
				return fired, err
			}
			fired++
		}
	}
	return fired, nil
}

func (s *Service) fire(ctx context.Context, t Timer, now time.Time) error {
	var ferr error
	if s.cfg.Fire == nil {
		s.log.Warn("timer dropped: no Fire hook", "timer", t.ID, "app", t.Ref.String())
	} else {
		ferr = s.cfg.Fire(ctx, t)
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		k := tx.Bucket(bucketIDs).Get([]byte(t.ID))
		if k == nil || !bytes.Equal(k, dueKey(t.Due, t.ID)) {
			return nil // cancelled meanwhile
		}
		if _, err := remove(tx, t.Ref, t.ID); err != nil {
			return err
		}
		if ferr == nil {
			return nil
		}
		t.Attempts++
		if t.Attempts >= s.cfg.MaxAttempts {
			s.log.Error("timer dropped after failed deliveries", "timer", t.ID, "app", t.Ref.String(), "attempts", t.Attempts, "err", ferr)
			return nil
		}
		s.log.Warn("timer delivery failed; will retry", "timer", t.ID, "app", t.Ref.String(), "attempt", t.Attempts, "err", ferr)
		t.Due = now.Add(s.cfg.RetryDelay << (t.Attempts - 1))
		if _, err := addCount(tx, t.Ref, 1); err != nil {
			return err
		}
		return s.put(tx, t)
	})
}

// next returns when the soonest timer is due, and false if there is none.
func (s *Service) next() (time.Time, bool) {
	var at time.Time
	var ok bool
	_ = s.db.View(func(tx *bbolt.Tx) error {
		k, _ := tx.Bucket(bucketDue).Cursor().First()
		if k != nil {
			at, ok = time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))), true
		}
		return nil
	})
	return at, ok
}

// run fires due timers until ctx is done. It sleeps until the soonest timer
// is due (at most Config.Poll), and wakes early when a timer is set.
func (s *Service) run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
		if _, err := s.FireDue(ctx, s.now()); err != nil && ctx.Err() == nil {
			s.log.Error("firing timers", "err", err)
		}
		wait := s.cfg.Poll
		if at, ok := s.next(); ok {
			if d := at.Sub(s.now()); d < wait {
				wait = max(d, time.Millisecond)
			}
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// AfterRequest is the request of timer.after.
type AfterRequest struct {
	AfterMS int64           `json:"after_ms"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// AfterResponse is the response of timer.after.
type AfterResponse struct {
	ID string `json:"id"`
}

// CancelRequest is the request of timer.cancel.
type CancelRequest struct {
	ID string `json:"id"`
}

// Funcs returns timer.after and timer.cancel, both needing the "timer"
// permission.
func (s *Service) Funcs() []host.Func {
	return []host.Func{
		{Op: "timer.after", Permission: host.PermTimer, Handle: s.opAfter},
		{Op: "timer.cancel", Permission: host.PermTimer, Handle: s.opCancel},
	}
}

func (s *Service) opAfter(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	var r AfterRequest
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "timer.after: request must be {\"after_ms\":60000,\"payload\":{...}}: %v", err)
	}
	if r.AfterMS <= 0 || r.AfterMS > s.cfg.MaxDelay.Milliseconds() {
		return nil, host.Errorf(host.StatusBadRequest, "timer.after: after_ms %d; give 1 to %d", r.AfterMS, s.cfg.MaxDelay.Milliseconds())
	}
	if string(r.Payload) == "null" {
		r.Payload = nil
	}
	var t Timer
	var err error
	if c.Tx != nil {
		t, err = s.stageAfter(ctx, c.Tx, c.Caller, time.Duration(r.AfterMS)*time.Millisecond, r.Payload)
	} else {
		t, err = s.After(ctx, c.Caller, time.Duration(r.AfterMS)*time.Millisecond, r.Payload)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(AfterResponse{ID: t.ID})
}

func (s *Service) opCancel(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	var r CancelRequest
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "timer.cancel: request must be {\"id\":\"tm_...\"}: %v", err)
	}
	var err error
	if c.Tx != nil {
		err = s.stageCancel(c.Tx, c.Caller.App, r.ID)
	} else {
		err = s.Cancel(ctx, c.Caller.App, r.ID)
	}
	if err != nil {
		return nil, err
	}
	return []byte(`{"cancelled":true}`), nil
}
