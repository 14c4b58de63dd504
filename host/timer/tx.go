package timer

import (
	"context"
	"encoding/json"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// Within an event's transaction (host.Call.Tx) timer.after and
// timer.cancel are staged: a timer set by an event exists, and can fire,
// only once the event committed; a timer cancelled by an event stays
// pending if the event is dropped. A timer set and cancelled by the same
// event is never written.

// txKey is the key of a Service's part of a host.Tx.
type txKey struct{ s *Service }

// txTimers is what one event did with timers.
type txTimers struct {
	set     map[string]*stagedTimer // timers this event set, by id
	pending int                     // of them, not cancelled
}

type stagedTimer struct {
	t         Timer
	cancelled bool
}

func (s *Service) txTimers(tx *host.Tx) *txTimers {
	return tx.Local(txKey{s}, func() any { return &txTimers{set: map[string]*stagedTimer{}} }).(*txTimers)
}

// stageAfter is After inside tx.
func (s *Service) stageAfter(ctx context.Context, tx *host.Tx, caller host.Caller, d time.Duration, payload json.RawMessage) (Timer, error) {
	if d <= 0 || d > s.cfg.MaxDelay {
		return Timer{}, host.Wrapf(ErrInvalid, "delay %s; give between 1ms and %s", d, s.cfg.MaxDelay)
	}
	if len(payload) > s.cfg.MaxPayload {
		return Timer{}, host.Wrapf(ErrInvalid, "payload of %d bytes, at most %d", len(payload), s.cfg.MaxPayload)
	}
	if len(payload) > 0 && !json.Valid(payload) {
		return Timer{}, host.Wrapf(ErrInvalid, "payload is not JSON")
	}
	tt := s.txTimers(tx)
	var n int64
	if err := s.db.View(func(btx *bbolt.Tx) error { n = pendingCount(btx, caller.App); return nil }); err != nil {
		return Timer{}, err
	}
	if n += int64(tt.pending); n >= int64(s.cfg.MaxPending) {
		return Timer{}, host.Wrapf(ErrQuota, "the app has %d timers pending, the limit is %d; cancel some first", n, s.cfg.MaxPending)
	}
	now := s.now().UTC()
	st := &stagedTimer{t: Timer{ID: newID(), Ref: caller.App, Person: caller.Person, Conversation: caller.Conversation, Surface: caller.Surface,
		Payload: payload, Due: now.Add(d), Created: now}}
	tt.set[st.t.ID] = st
	tt.pending++
	tx.Stage(host.Effect{
		Apply: func(btx *bbolt.Tx) error {
			if st.cancelled {
				return nil
			}
			if n := pendingCount(btx, st.t.Ref); n >= int64(s.cfg.MaxPending) {
				return host.Wrapf(ErrQuota, "the app has %d timers pending, the limit is %d; cancel some first", n, s.cfg.MaxPending)
			}
			if _, err := addCount(btx, st.t.Ref, 1); err != nil {
				return err
			}
			return s.put(btx, st.t)
		},
		Committed: func() {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		},
	})
	return st.t, nil
}

// stageCancel is Cancel inside tx. A timer that fires or is cancelled by
// another event before this one commits makes the commit a conflict: the
// event runs again and finds it gone.
func (s *Service) stageCancel(tx *host.Tx, ref host.AppRef, id string) error {
	tt := s.txTimers(tx)
	if st, ok := tt.set[id]; ok {
		if st.cancelled {
			return host.Wrapf(ErrNotFound, "no pending timer %q of this app", id)
		}
		st.cancelled = true
		tt.pending--
		return nil
	}
	var found bool
	err := s.db.View(func(btx *bbolt.Tx) error {
		found = mine(btx, ref, id)
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return host.Wrapf(ErrNotFound, "no pending timer %q of this app", id)
	}
	tt.set[id] = &stagedTimer{cancelled: true} // a second cancel finds it gone
	tx.Stage(host.Effect{Apply: func(btx *bbolt.Tx) error {
		ok, err := remove(btx, ref, id)
		if err == nil && !ok {
			err = host.Wrapf(host.ErrTxConflict, "timer %q fired or was cancelled meanwhile", id)
		}
		return err
	}})
	return nil
}

// mine reports whether id is a pending timer of ref's app.
func mine(btx *bbolt.Tx, ref host.AppRef, id string) bool {
	k := btx.Bucket(bucketIDs).Get([]byte(id))
	if k == nil {
		return false
	}
	var t Timer
	if err := json.Unmarshal(btx.Bucket(bucketDue).Get(k), &t); err != nil {
		return false
	}
	return t.Ref.Merchant == ref.Merchant && t.Ref.App == ref.App
}

// Consume returns what marks t's event consumed, for the transaction that
// commits the event's effects (host.AppEvent.Consume): t stops being
// pending, so it never fires again; a timer that is no longer pending as
// t (cancelled, or rescheduled) is left alone.
func (s *Service) Consume(t Timer) func(*bbolt.Tx) error {
	return func(btx *bbolt.Tx) error {
		k := btx.Bucket(bucketIDs).Get([]byte(t.ID))
		if k == nil || string(k) != string(dueKey(t.Due, t.ID)) {
			return nil
		}
		_, err := remove(btx, t.Ref, t.ID)
		return err
	}
}
