package pay

import (
	"context"
	"errors"
	"fmt"

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

// pay.refund inside an event is decided when the app asks and carried out
// in the event's commit, where it is decided again: a refund that another
// event changed meanwhile (a refund of the same order, the same key) makes
// the commit a conflict, and the event runs again. A dropped event moves
// no money.

// txKey is the key of a Service's part of a host.Tx.
type txKey struct{ s *Service }

// refundKeyTx is the key of the refunds an event staged.
type refundKeyTx struct{ s *Service }

type stagedRefund struct {
	ref        host.AppRef
	order, key string
	amount     int64
	changed    bool
	refunded   int64
	state      State
}

// errDryRun rolls back the transaction in which a staged refund is decided.
var errDryRun = errors.New("pay: decided without writing")

// stageRefund is Refund inside tx.
func (s *Service) stageRefund(ctx context.Context, tx *host.Tx, ref host.AppRef, orderID string, amount int64, key string) (Order, error) {
	if key == "" || len(key) > MaxIdempotencyKey {
		return Order{}, host.Wrapf(ErrInvalid, "idempotency_key must be 1..%d bytes", MaxIdempotencyKey)
	}
	if amount < 0 {
		return Order{}, host.Wrapf(ErrInvalid, "amount %d is negative; give the minor units to refund, or 0 for all", amount)
	}
	staged := tx.Local(refundKeyTx{s}, func() any { return new([]*stagedRefund) }).(*[]*stagedRefund)
	var o Order
	var changed bool
	err := s.db.Update(func(btx *bbolt.Tx) error {
		for _, r := range *staged { // what the event already refunded counts
			if _, _, err := s.refund(btx, r.ref, r.order, r.amount, r.key); err != nil {
				return err
			}
		}
		var err error
		if o, changed, err = s.refund(btx, ref, orderID, amount, key); err != nil {
			return err
		}
		return errDryRun
	})
	if !errors.Is(err, errDryRun) {
		var he *host.Error
		if errors.As(err, &he) {
			return Order{}, err
		}
		return Order{}, fmt.Errorf("pay: refund: %w", err)
	}
	r := &stagedRefund{ref: ref, order: orderID, key: key, amount: amount, changed: changed, refunded: o.Refunded, state: o.State}
	*staged = append(*staged, r)
	var done Order
	tx.Stage(host.Effect{
		Apply: func(btx *bbolt.Tx) error {
			got, ch, err := s.refund(btx, ref, orderID, amount, key)
			var he *host.Error
			if err != nil && !errors.As(err, &he) {
				return err // the store failed
			}
			if err != nil || ch != r.changed || got.Refunded != r.refunded || got.State != r.state {
				return host.Wrapf(host.ErrTxConflict, "order %s changed before the refund committed", orderID)
			}
			done = got
			return nil
		},
		Committed: func() {
			if r.changed {
				s.notify(context.WithoutCancel(ctx), done)
			}
		},
	})
	return o, nil
}

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

// orderInTx returns order id as the event in tx sees it: with the orders
// it created and the refunds it made, not yet committed.
func (s *Service) orderInTx(ctx context.Context, tx *host.Tx, id string) (Order, error) {
	if created, ok := tx.Local(txKey{s}, func() any { return map[string]*Order{} }).(map[string]*Order); ok {
		for _, o := range created {
			if o.ID == id {
				return *o, nil
			}
		}
	}
	staged := tx.Local(refundKeyTx{s}, func() any { return new([]*stagedRefund) }).(*[]*stagedRefund)
	if len(*staged) == 0 {
		return s.Order(ctx, id)
	}
	var o Order
	err := s.db.Update(func(btx *bbolt.Tx) error {
		for _, r := range *staged {
			if _, _, err := s.refund(btx, r.ref, r.order, r.amount, r.key); err != nil {
				return err
			}
		}
		if err := getJSON(btx.Bucket(bucketOrders), []byte(id), &o); err != nil {
			return host.Wrapf(ErrNotFound, "no order %q", id)
		}
		return errDryRun
	})
	if !errors.Is(err, errDryRun) {
		return Order{}, err
	}
	return o, nil
}
