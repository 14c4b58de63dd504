package host

import (
	"context"

	"go.etcd.io/bbolt"
)

// Effect is one effect of an event, staged during the event and carried
// out only if the event commits (see Tx).
type Effect struct {
	// Apply writes the effect inside the event's store transaction. An
	// error aborts the whole commit: nothing of the event is kept, and an
	// error wrapping ErrTxConflict makes the runtime run the event again.
	Apply func(tx *bbolt.Tx) error
	// Committed, when not nil, runs once the transaction has committed
	// (a message published to the members of its conversation, a timer
	// loop woken); never after an aborted commit. It must not block on the
	// runtime.
	Committed func()
}

// ErrTxConflict is the kind of a commit refused because something the
// event read was changed by another event meanwhile (an optimistic check
// failed). The runtime discards the event's effects and runs it again.
var ErrTxConflict = &Error{Status: StatusConflict, Code: "tx_conflict", Message: "what the event read changed before it committed"}

// Tx is the transaction of one event: the host services stage its effects
// here instead of writing them (storage writes, messages, timers, payment
// and consent requests, log lines), and the runtime commits them together
// with the event's consumption (AppEvent.Consume) in one store
// transaction once the guest returned successfully, or drops them all
// when the event failed. A Tx belongs to one event and is used from the
// goroutine that runs it only.
type Tx struct {
	effects []Effect
	local   map[any]any
}

// Stage adds e to the effects committed with the event, after those staged
// before it.
func (t *Tx) Stage(e Effect) { t.effects = append(t.effects, e) }

// Effects returns the staged effects in the order they were staged.
func (t *Tx) Effects() []Effect { return t.effects }

// Apply writes the staged effects into btx, in order, stopping at the
// first that fails (host.ErrTxConflict when what an effect relied on
// changed): what a store transaction committing the event runs.
func (t *Tx) Apply(btx *bbolt.Tx) error {
	for _, e := range t.effects {
		if e.Apply == nil {
			continue
		}
		if err := e.Apply(btx); err != nil {
			return err
		}
	}
	return nil
}

// Committed runs the staged effects' Committed hooks, in order, once the
// transaction that applied them committed.
func (t *Tx) Committed() {
	for _, e := range t.effects {
		if e.Committed != nil {
			e.Committed()
		}
	}
}

// Local returns the value a service keeps for the duration of this event
// under key (a storage overlay, say), made by init on first use.
func (t *Tx) Local(key any, init func() any) any {
	if v, ok := t.local[key]; ok {
		return v
	}
	if t.local == nil {
		t.local = make(map[any]any)
	}
	v := init()
	t.local[key] = v
	return v
}

// TxOutbox is an Outbox that can store a message inside an event's
// transaction, so that it commits with the event's other effects: the
// returned Effect stores out (Apply) and delivers it to the members of its
// conversation once committed (Committed). An Outbox that is no TxOutbox
// gets the message through Emit after the commit.
type TxOutbox interface {
	Outbox
	Stage(ctx context.Context, out Outgoing) (Effect, error)
}
