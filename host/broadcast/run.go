package broadcast

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
)

// stepsPerTurn is how many people of one broadcast the runner sends to
// before it turns to the next broadcast, so that a big one does not hold
// back a small one.
const stepsPerTurn = 64

// Start runs the unfinished broadcasts (those a stopped process left, and
// every one made from now on) on a goroutine the engine owns, until Close.
// Call it once, when the Sender can send.
func (e *Engine) Start() {
	e.life.Lock()
	defer e.life.Unlock()
	if e.done != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.stop, e.done = cancel, make(chan struct{})
	go func() {
		defer close(e.done)
		e.run(ctx)
	}()
}

// Close stops the runner and returns once it stopped; a person being sent
// to is finished first or resumed at the next start. The store stays open.
func (e *Engine) Close() {
	e.life.Lock()
	stop, done := e.stop, e.done
	e.life.Unlock()
	if stop == nil {
		return
	}
	stop()
	<-done
}

func (e *Engine) wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// run is the runner's loop: every unfinished broadcast in turn, a few
// people each, and a pause when all of them wait (a rate limit, a failed
// send) or none is left.
func (e *Engine) run(ctx context.Context) {
	later := map[[2]string]time.Time{} // broadcasts waiting (a rate limit, a failed send): not before then
	for ctx.Err() == nil {
		keys, err := e.unfinished()
		if err != nil {
			e.log.Error("broadcast: read unfinished broadcasts", "err", err)
		}
		pause := time.Duration(-1) // no broadcast: until one is made
		if err != nil {
			pause = e.retry
		}
		for _, k := range keys {
			wait := time.Until(later[k])
			if wait <= 0 {
				wait = e.turn(ctx, k[0], k[1])
				if wait > 0 {
					later[k] = time.Now().Add(wait)
				} else {
					delete(later, k)
				}
			}
			if pause < 0 || wait < pause {
				pause = wait
			}
		}
		if pause == 0 {
			continue
		}
		var t *time.Timer
		var timer <-chan time.Time
		if pause > 0 {
			t = time.NewTimer(pause)
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case <-e.kick:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// turn takes up to stepsPerTurn steps of one broadcast and returns how
// long it wants to wait before the next (0: not at all).
func (e *Engine) turn(ctx context.Context, merchant, id string) time.Duration {
	for range stepsPerTurn {
		b, wait, err := e.Step(ctx, merchant, id)
		switch {
		case ctx.Err() != nil:
			return 0
		case errors.Is(err, ErrNotFound):
			return 0
		case err != nil:
			e.log.Warn("broadcast: step failed; retrying", "merchant", merchant, "id", id, "err", err)
			return e.retry
		case wait > 0:
			return wait
		case b.State == StateDone:
			e.log.Info("broadcast done", "merchant", merchant, "id", id, "sent", b.Sent, "skipped", b.Skipped)
			return 0
		}
	}
	return 0
}

// unfinished lists the running broadcasts as (merchant, id).
func (e *Engine) unfinished() ([][2]string, error) {
	var out [][2]string
	err := e.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRunning).ForEach(func(k, _ []byte) error {
			m, id, ok := bytes.Cut(k, []byte{0})
			if ok {
				out = append(out, [2]string{string(m), string(id)})
			}
			return nil
		})
	})
	return out, err
}

// Running reports how many broadcasts are unfinished.
func (e *Engine) Running(ctx context.Context) (int, error) {
	keys, err := e.unfinished()
	return len(keys), err
}

// Step sends merchant's broadcast id to its next person, or records why
// that person is skipped, and returns the broadcast as it is after. wait
// is set when the business's per-second limit is reached: nothing changed,
// step again after wait. An error leaves the person's turn in place, to be
// taken again (the runner does after Config.Retry); a broadcast that is
// done is returned as it is.
func (e *Engine) Step(ctx context.Context, merchant, id string) (b Broadcast, wait time.Duration, err error) {
	e.step.Lock()
	defer e.step.Unlock()
	var s stored
	var en entry
	err = e.db.View(func(tx *bbolt.Tx) error {
		if s, err = getStored(tx, merchant, id); err != nil || s.State == StateDone {
			return err
		}
		en, err = getEntry(tx, merchant, id, s.Next)
		return err
	})
	if err != nil || s.State == StateDone {
		return s.view(), 0, err
	}
	idx := s.Next
	ref := host.AppRef{Merchant: merchant, App: s.App}
	msg := s.Message
	out := host.Outgoing{App: ref, Conversation: en.Conversation, Message: &msg, ID: MessageID(merchant, id, en.Person),
		Basis: &host.Basis{Purpose: s.Purpose, Template: s.Template}}

	// Was the message let through before (the process stopped between
	// the check and the outcome)? Then it may be stored already.
	if rec, ok, err := e.consent.SendRecord(ctx, merchant, out.ID); err != nil {
		return s.view(), 0, fmt.Errorf("broadcast %s: %w", id, err)
	} else if ok && rec.Person == en.Person && rec.Conversation != "" {
		prev := out
		prev.Conversation = rec.Conversation
		stored, err := e.sender.Sent(ctx, prev, rec.Time)
		if err != nil {
			return s.view(), 0, fmt.Errorf("broadcast %s: was message %s stored: %w", id, out.ID, err)
		}
		if stored {
			en.State, en.Reason, en.Conversation, en.Record, en.Relies = stateSent, "", rec.Conversation, rec.Seq, rec.Relies
			return e.finish(merchant, id, idx, en)
		}
		en.Conversation, out.Conversation = rec.Conversation, rec.Conversation
	}
	if en.Conversation == "" {
		conv, err := e.sender.Conversation(ctx, ref, en.Person)
		if err != nil {
			return s.view(), 0, fmt.Errorf("broadcast %s: the person's conversation with %s: %w", id, s.App, err)
		}
		en.Conversation, out.Conversation = conv, conv
	}
	d, err := e.consent.Check(ctx, consent.Message{Person: en.Person, Business: merchant, App: s.App, Purpose: s.Purpose,
		Template: s.Template, Surface: en.Surface, Conversation: en.Conversation, ID: out.ID, Initiated: true})
	if err != nil {
		if errors.Is(err, consent.ErrSecondLimit) {
			now := e.now()
			return s.view(), max(now.Truncate(time.Second).Add(time.Second).Sub(now), time.Millisecond), nil
		}
		reason := reasonOf(err)
		if reason == "" {
			return s.view(), 0, fmt.Errorf("broadcast %s: consent check: %w", id, err)
		}
		en.State, en.Reason = stateSkipped, reason
		return e.finish(merchant, id, idx, en)
	}
	// From here until the outcome is recorded, the send's ledger record
	// (found by SendRecord above) is the intent.
	en.Record, en.Relies = d.Record, d.Relies
	if err := e.sender.Send(ctx, out); err != nil {
		switch host.StatusOf(err) {
		case host.StatusBadRequest, host.StatusNotFound, host.StatusPermissionDenied:
			e.log.Warn("broadcast: message refused by its conversation", "merchant", merchant, "id", id, "conversation", out.Conversation, "err", err)
			en.State, en.Reason = stateSkipped, ReasonUndeliverable
			return e.finish(merchant, id, idx, en)
		}
		return s.view(), 0, fmt.Errorf("broadcast %s: send %s: %w", id, out.ID, err)
	}
	en.State, en.Reason = stateSent, ""
	return e.finish(merchant, id, idx, en)
}

// reasonOf maps a refusal of the consent check to the reason a person is
// skipped; "" for an error that may pass.
func reasonOf(err error) Reason {
	switch host.StatusOf(err) {
	case host.StatusOptedOut:
		return ReasonOptedOut
	case host.StatusNotOptedIn:
		return ReasonNotOptedIn
	case host.StatusWindowClosed:
		return ReasonWindowClosed
	case host.StatusRateLimited:
		return ReasonRateLimited
	case host.StatusBadRequest, host.StatusConflict: // the person's record can never pass
		return ReasonUndeliverable
	}
	return ""
}

// finish records the outcome of person idx and moves the broadcast on, in
// one transaction.
func (e *Engine) finish(merchant, id string, idx int, en entry) (Broadcast, time.Duration, error) {
	en.Time = e.now().UTC()
	var s stored
	err := e.db.Update(func(tx *bbolt.Tx) error {
		var err error
		if s, err = getStored(tx, merchant, id); err != nil {
			return err
		}
		if s.Next != idx { // cannot happen under e.step; never count twice
			return fmt.Errorf("person %d's outcome came after the broadcast moved on to %d", idx, s.Next)
		}
		if err := putEntry(tx, merchant, id, idx, en); err != nil {
			return err
		}
		if en.State == stateSent {
			s.Sent++
		} else {
			s.Skipped++
			s.ByReason[en.Reason]++
		}
		s.Next++
		if s.Next >= s.Total {
			s.State, s.Finished = StateDone, en.Time
			if err := tx.Bucket(bucketRunning).Delete(listKey(merchant, id)); err != nil {
				return err
			}
		}
		return putStored(tx, s)
	})
	if err != nil {
		return Broadcast{}, 0, fmt.Errorf("broadcast %s: record the outcome: %w", id, err)
	}
	e.met.outcome(en.State, en.Reason)
	return s.view(), 0, nil
}

func getEntry(tx *bbolt.Tx, merchant, id string, idx int) (entry, error) {
	var en entry
	v := tx.Bucket(bucketPeople).Get(personKey(merchant, id, idx))
	if v == nil {
		return en, fmt.Errorf("broadcast %q: person %d is missing", id, idx)
	}
	if err := json.Unmarshal(v, &en); err != nil {
		return en, fmt.Errorf("broadcast %q: person %d: %w", id, idx, err)
	}
	return en, nil
}

func putEntry(tx *bbolt.Tx, merchant, id string, idx int, en entry) error {
	v, err := json.Marshal(en)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketPeople).Put(personKey(merchant, id, idx), v)
}
