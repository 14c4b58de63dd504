package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/eventstore"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sched"
)

// A person's event for an app (a message in the app's conversation, a
// button or list choice or form, an open) is kept in Config.Events from
// the moment the gateway accepts it: a message with the event it causes,
// in the transaction that stores the message (Log.AppendWith), an open or
// an action in a transaction of its own before it is acknowledged. The
// event reaches the runtime with host.AppEvent.Consume set to delete it,
// which the runtime does in the transaction that commits what is written
// for the event, whatever the outcome: the app's effects; a keyword's
// ledger record and the platform's confirmation (a STOP, which the app
// never sees); a held event's check that the conversation is still handed
// to staff; a failed event's notice to the person and its recording. A
// crash before that commit leaves the event kept, and Resume hands it to
// the runtime again; after it, it is gone.
//
// A runtime that consumes events so says (ConsumesEvents:
// runtime/apps.Router with a Commit, which the server always has), and
// the gateway deletes nothing once it reports an event handled: an event
// whose commit failed stays kept for the next start. Only for a runtime
// that does not commit effects (the load generator's echo app, a router
// without a store) does the gateway delete the event itself once the
// runtime reports it handled (Apps.Submit's done); that deletion writes
// nothing when the event is already gone. An event the runtime refused
// (app_busy: the person was told) is deleted at once; one the runtime's
// Close dropped or stopped is kept for Resume.

// eventConsumer is a runtime that consumes every event it handles in the
// commit of what it wrote for it (runtime/apps.Router.ConsumesEvents).
type eventConsumer interface{ ConsumesEvents() bool }

// consumes reports whether the runtime consumes the events it handles.
func (s *Server) consumes() bool {
	c, ok := s.cfg.Apps.(eventConsumer)
	return ok && c.ConsumesEvents()
}

// keep returns the record that keeps ev for app, or nil without a store.
func (s *Server) keep(app string, ev host.AppEvent) *eventstore.Event {
	if s.cfg.Events == nil {
		return nil
	}
	return &eventstore.Event{App: app, Person: ev.Person, Conversation: ev.Conversation, Surface: ev.Surface, Event: ev.Event}
}

// keepWith is the function that keeps k in the transaction storing the
// message that caused it; nil when k is nil.
func (s *Server) keepWith(k *eventstore.Event) func(tx *bbolt.Tx, seq uint64) error {
	if k == nil {
		return nil
	}
	return func(tx *bbolt.Tx, _ uint64) error { return s.cfg.Events.PutTx(tx, k) }
}

// dispatchKept keeps ev (an open, an action: nothing stored causes it)
// and hands it to app.
func (s *Server) dispatchKept(ctx context.Context, app string, ev host.AppEvent) error {
	k := s.keep(app, ev)
	if k != nil {
		if err := s.cfg.Events.Put(ctx, k); err != nil {
			return err
		}
	}
	return s.dispatch(app, ev, k)
}

// consumed deletes k, when set and still kept, after the runtime refused
// its event, or handled it without consuming it, without waiting for the
// store: the runtime's worker goes on to its next event.
func (s *Server) consumed(k *eventstore.Event) {
	if k == nil {
		return
	}
	failed := func(err error) {
		if err != nil {
			s.log.Warn("gateway: a handled app event is kept; it is delivered again at the next start", "app", k.App, "event", k.Event.ID, "err", err)
		}
	}
	failed(s.cfg.Events.Consume(context.WithoutCancel(s.ctx), k.Key, failed))
}

// Resume hands every event kept in Config.Events to its app again, in the
// order they were accepted: those accepted before the server last stopped
// whose effects were not committed. Call it once, when Apps can take
// events and before Handler serves people, so that each conversation's
// events reach its app in order; a second call is refused, as the events
// are then on their way. It returns how many events it handed on;
// an event its app refuses (a full queue) stays kept for the next start,
// and the error names it.
func (s *Server) Resume(ctx context.Context) (int, error) {
	if s.cfg.Events == nil {
		return 0, nil
	}
	if s.resumed.Swap(true) {
		return 0, errors.New("gateway: resume: already called; the events it handed on are on their way")
	}
	if s.cfg.Apps == nil {
		return 0, fmt.Errorf("gateway: resume: %w", ErrUnavailable)
	}
	kept, err := s.listKept(ctx)
	if err != nil {
		return 0, fmt.Errorf("gateway: resume: list the kept events: %w", err)
	}
	n := 0
	var errs []error
	for i := range kept {
		k := &kept[i]
		ev := host.AppEvent{Person: k.Person, Conversation: k.Conversation, Surface: k.Surface, Event: k.Event, Out: s}
		if err := s.submit(k.App, ev, k); err != nil {
			if errors.Is(err, sched.ErrClosed) {
				return n, fmt.Errorf("gateway: resume: %w", err)
			}
			errs = append(errs, fmt.Errorf("event %s of %s: %w", k.Event.ID, k.App, err))
			continue
		}
		n++
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("gateway: resume: %w", errors.Join(errs...))
	}
	return n, nil
}

// dispatch hands ev to the app router without waiting for the app. The
// app's replies come back through Emit, Queue and Stage. k, when set,
// keeps ev until it is consumed (see above).
func (s *Server) dispatch(app string, ev host.AppEvent, k *eventstore.Event) error {
	err := s.submit(app, ev, k)
	if err != nil && !errors.Is(err, sched.ErrClosed) {
		s.consumed(k) // refused: the person is told (app_busy), the event is not run later
	}
	return err // a full queue is app_busy (codeOf)
}

// submit is dispatch that keeps a refused event.
func (s *Server) submit(app string, ev host.AppEvent, k *eventstore.Event) error {
	if s.cfg.Apps == nil {
		return ErrUnavailable
	}
	if k != nil {
		key, events := k.Key, s.cfg.Events
		ev.Consume = func(tx *bbolt.Tx) error { return events.ConsumeTx(tx, key) }
	}
	start, consumes := time.Now(), s.consumes()
	err := s.cfg.Apps.Submit(app, ev, func(err error) {
		s.met.appEvents.WithLabelValues(app, ev.Event.Type).Inc()
		s.met.appLatency.WithLabelValues(app).Observe(time.Since(start).Seconds())
		if err != nil {
			s.met.appFailures.WithLabelValues(app).Inc()
			s.log.Warn("gateway: app delivery failed", "app", app, "event", ev.Event.ID, "err", err)
		}
		if !consumes {
			s.consumed(k)
		}
	})
	return err
}
