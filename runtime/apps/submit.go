package apps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/sched"
)

// KindQueueFull is the failure kind of an event refused because its app
// had too many events waiting (see Submit).
const KindQueueFull = "queue_full"

// refusalLogEvery is how often, at most, an app's log gets a line about
// the events refused since the last one.
const refusalLogEvery = time.Second

// refusals are an app's refused events not yet written to its log.
type refusals struct {
	n      int
	logged time.Time
}

// Submit queues ev for appID on the router's workers and returns at once;
// the worker runs it as Deliver does. An app whose last event ran into its
// deadline runs one event at a time, sharing a slot with the other such
// apps, until an event ends in time. The events of one conversation
// reach the app in the order they were submitted. done, when not nil, is
// called with Deliver's outcome once the event ran; not for an event
// dropped by Close, nor, with Config.Commit, for one Close stopped while
// it ran (ErrStopped): both stay with their source for the next start.
// With Config.Commit, an event done is called for was consumed
// (host.AppEvent.Consume) in the commit of what was written for it, the
// app's effects or the platform's answer, unless that commit failed (see
// ConsumesEvents).
//
// When the app already has Config.Queue events waiting (it answers more
// slowly than events arrive, or loops until its deadline), ev is refused
// with an error wrapping sched.ErrQueueFull: it counts in the version's
// figures as a failure of kind "queue_full" and, at most once a second, in
// the app's log. After Close, Submit fails with sched.ErrClosed.
func (r *Router) Submit(appID string, ev host.AppEvent, done func(error)) error {
	err := r.sched.Submit(appID, ev.Conversation, func(ctx context.Context, release func()) {
		start := time.Now()
		err := r.deliver(ctx, appID, ev, release, true)
		slow := sandbox.FailureKind(err) == sandbox.LimitDeadline
		r.setSlow(appID, slow)
		if done != nil && !errors.Is(err, ErrStopped) {
			done(err)
		}
		if slow {
			// The slot rests as long as the event spun: spinning apps
			// get at most half a processor.
			select {
			case <-time.After(time.Since(start)):
			case <-ctx.Done():
			}
		}
	})
	if errors.Is(err, sched.ErrQueueFull) {
		r.refuse(appID, ev)
		return fmt.Errorf("app %s is busy: %w", appID, err)
	}
	return err
}

// ConsumesEvents reports whether the router consumes every event it
// handles (host.AppEvent.Consume) in the store transaction that commits
// what was written for it, whatever the outcome: the app's effects; a
// keyword's ledger record and its reply; a held event's check; a failed
// event's notice, log line and recording; nothing, for an event of an app
// that has no live version. True with Config.Commit. A source of events
// (the gateway) then deletes nothing itself once done is called; an event
// whose commit failed stays kept for the next start.
func (r *Router) ConsumesEvents() bool { return r.cfg.Commit != nil }

// isSlow reports whether appID's last event ran into its deadline: the
// scheduler then runs one of its events at a time, in a slot shared with
// the other slow apps (sched.Config.Slow).
func (r *Router) isSlow(appID string) bool {
	r.refusedMu.Lock()
	defer r.refusedMu.Unlock()
	return r.slow[appID]
}

func (r *Router) setSlow(appID string, slow bool) {
	r.refusedMu.Lock()
	defer r.refusedMu.Unlock()
	if slow {
		r.slow[appID] = true
	} else {
		delete(r.slow, appID)
	}
}

// refuse counts a refused event in the figures of the version that would
// have served it and, at most once per refusalLogEvery, logs the refusals.
func (r *Router) refuse(appID string, ev host.AppEvent) {
	a, version, err := r.reg.Pick(appID, ev.Person, ev.Conversation)
	if err != nil {
		return // not available anyway
	}
	ref := host.AppRef{Merchant: a.Merchant, App: a.ID, Version: version}
	r.reg.RecordRefused(ref, KindQueueFull)
	now := time.Now()
	r.refusedMu.Lock()
	rf := r.refused[appID]
	rf.n++
	write := now.Sub(rf.logged) >= refusalLogEvery
	n := rf.n
	if write {
		rf = refusals{logged: now}
	}
	r.refused[appID] = rf
	r.refusedMu.Unlock()
	if !write {
		return
	}
	msg := fmt.Sprintf("%d event(s) refused: the app had %d events waiting, the most it may; it answers more slowly than events arrive (the person was told it is busy)",
		n, r.sched.Stats(appID).Queued)
	r.reg.AppendLog(ref, registry.LogRecord{Level: slog.LevelWarn.String(), Source: "failure",
		Message: msg, EventID: ev.Event.ID, Event: ev.Event.Type, Kind: KindQueueFull})
	r.log.Warn("app events refused", "app", ref.String(), "refused", n)
}

// QueueStats returns the figures of appID's queue on Submit's workers:
// events waiting, running and refused.
func (r *Router) QueueStats(appID string) sched.Stats { return r.sched.Stats(appID) }
