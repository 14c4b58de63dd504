package pay

import (
	"context"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// Within an event's transaction (host.Call.Tx) pay.request stages the new
// order: its row, its idempotency key and its expiry are written when the
// event commits, and its prompt (staged through host.Call.Emit) reaches
// the person only then. A dropped event leaves no order behind. The
// idempotency key still dedupes across events: a request whose key an
// order already holds returns that order, and two events that stage the
// same new key at once conflict in the commit (host.ErrTxConflict): the
// one that runs again finds the other's order.

// txKey is the key of a Service's part of a host.Tx.
type txKey struct{ s *Service }

// stageOrder is NewOrder inside tx.
func (s *Service) stageOrder(ctx context.Context, tx *host.Tx, ref host.AppRef, person, conversation, surface string, r Request) (Order, error) {
	if err := r.check(); err != nil {
		return Order{}, err
	}
	if person == "" {
		return Order{}, host.Wrapf(ErrInvalid, "no person to pay; request payments while handling an event a person caused")
	}
	staged := tx.Local(txKey{s}, func() any { return map[string]*Order{} }).(map[string]*Order)
	ik := requestKey(ref.Merchant, ref.App, r.IdempotencyKey)
	var o Order
	var found bool
	if so := staged[string(ik)]; so != nil {
		o, found = *so, true
	} else {
		err := s.db.View(func(btx *bbolt.Tx) error {
			id := btx.Bucket(bucketIdem).Get(ik)
			if id == nil {
				return nil
			}
			found = true
			return getJSON(btx.Bucket(bucketOrders), id, &o)
		})
		if err != nil {
			return Order{}, err
		}
	}
	if found {
		if o.Person != person || o.Amount != r.Amount || o.Currency != r.Currency || o.Description != r.Description {
			return Order{}, host.Wrapf(ErrConflict, "idempotency_key %q belongs to order %s for %d %s %q; use a new key for a new purchase", r.IdempotencyKey, o.ID, o.Amount, o.Currency, o.Description)
		}
		return o, nil
	}
	now := s.now().UTC()
	o = Order{ID: newID("ord_"), Ref: ref, Person: person, Conversation: conversation, Surface: surface,
		Amount: r.Amount, Currency: r.Currency, Description: r.Description, IdempotencyKey: r.IdempotencyKey,
		State: StateAwaiting, Created: now, Updated: now, Expires: now.Add(s.cfg.TTL)}
	staged[string(ik)] = &o
	created := o
	tx.Stage(host.Effect{Apply: func(btx *bbolt.Tx) error {
		idem := btx.Bucket(bucketIdem)
		if idem.Get(ik) != nil {
			return host.Wrapf(host.ErrTxConflict, "another event created the order of idempotency_key %q meanwhile", r.IdempotencyKey)
		}
		if err := idem.Put(ik, []byte(created.ID)); err != nil {
			return err
		}
		if err := btx.Bucket(bucketExpiry).Put(expiryKey(created.Expires, created.ID), nil); err != nil {
			return err
		}
		return putJSON(btx.Bucket(bucketOrders), []byte(created.ID), created)
	}})
	return o, nil
}

// ConsumeOutcome returns what marks the payment event of o's outcome
// consumed, for the transaction that commits the event's effects
// (host.AppEvent.Consume): the outcome leaves the service's outbox, so a
// restarted service does not hand it over again.
func (s *Service) ConsumeOutcome(o Order) func(*bbolt.Tx) error {
	return func(btx *bbolt.Tx) error {
		return btx.Bucket(bucketOutbox).Delete(outcomeKey(o))
	}
}
