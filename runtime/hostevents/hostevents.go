// Package hostevents queues the events the host services cause for apps
// (payment outcomes, consent answers, due timers: host/services.Event)
// until one goroutine has delivered them, in the order they came. The
// server, `passerelle dev` and the mini-app tests (runtime/apptest) all use
// it; only what delivery means differs (the app router, the dev terminal,
// a test's explicit step).
//
//	q := hostevents.New()
//	svc, err := services.Open(db, services.Config{Events: q.Push})
//	// ... once the router is ready:
//	d := hostevents.NewDeliverer(q, func(ctx context.Context, ev services.Event) error {
//		return router.DeliverFor(ctx, ev.App, host.AppEvent{...})
//	})
//	defer d.Close()
//
// # Bounds
//
// Push never blocks and never drops: it is called on the goroutine that
// made the change, sometimes inside a guest's host call, and the event is
// already committed. What waits here is bounded by what caused it: a
// payment outcome or a consent answer per person's answer (the pay and
// identity services keep each one on disk until the app's event that
// handles it commits, services.Event.Consume, or its Done gives it up, and
// hand it over again after a restart), and one due timer at a time (the
// timer loop waits for its Done).
package hostevents

import (
	"context"
	"slices"
	"sync"

	"github.com/passerelle/passerelle/host/services"
)

// Queue is the events waiting for delivery. It is safe for concurrent use.
type Queue struct {
	mu     sync.Mutex
	events []services.Event
	more   chan struct{} // holds a token while events may be waiting
}

// New returns an empty Queue.
func New() *Queue { return &Queue{more: make(chan struct{}, 1)} }

// Push queues ev; it is services.Config.Events.
func (q *Queue) Push(_ context.Context, ev services.Event) {
	q.mu.Lock()
	q.events = append(q.events, ev)
	q.mu.Unlock()
	select {
	case q.more <- struct{}{}:
	default:
	}
}

// Waiting returns a channel that receives when events may be waiting.
func (q *Queue) Waiting() <-chan struct{} { return q.more }

// Take removes and returns the waiting events of the given types
// (host.EventPayment, ...), every waiting event when none is given, oldest
// first. The caller delivers each and calls its Done.
func (q *Queue) Take(types ...string) []services.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []services.Event
	keep := q.events[:0]
	for _, ev := range q.events {
		if len(types) == 0 || slices.Contains(types, ev.Event.Type) {
			out = append(out, ev)
		} else {
			keep = append(keep, ev)
		}
	}
	clear(q.events[len(keep):])
	q.events = keep
	return out
}

// Pending returns a copy of the waiting events, oldest first.
func (q *Queue) Pending() []services.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.events)
}

// Deliverer is the goroutine that delivers a Queue's events: New starts
// it, Close stops it.
type Deliverer struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// NewDeliverer starts delivering q's events, in order, with deliver, and
// telling each one's service the outcome (Event.Done), until Close. Start
// it once whatever deliver reaches (the router, the gateway) is ready; the
// events pushed before wait in q.
func NewDeliverer(q *Queue, deliver func(context.Context, services.Event) error) *Deliverer {
	ctx, cancel := context.WithCancel(context.Background())
	d := &Deliverer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		q.deliver(ctx, deliver)
	}()
	return d
}

// Close stops the delivery and waits for it: the event being delivered
// sees its context canceled, and the events still waiting are kept by
// their services for the next start. Calling it again does nothing.
func (d *Deliverer) Close() {
	d.cancel()
	<-d.done
}

func (q *Queue) deliver(ctx context.Context, deliver func(context.Context, services.Event) error) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.more:
		}
		for _, ev := range q.Take() {
			if ctx.Err() != nil {
				ev.Done(ctx, ctx.Err())
				continue
			}
			ev.Done(ctx, deliver(ctx, ev))
		}
	}
}
