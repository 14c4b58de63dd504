package pay

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// State is where an order is in its life.
type State string

// Order states. created → awaiting_confirmation → paid | declined | expired;
// paid → partially_refunded → refunded.
const (
	StateCreated           State = "created"
	StateAwaiting          State = "awaiting_confirmation"
	StatePaid              State = "paid"
	StateDeclined          State = "declined"
	StateExpired           State = "expired"
	StatePartiallyRefunded State = "partially_refunded"
	StateRefunded          State = "refunded"
)

// Decline reasons.
const (
	ReasonInsufficientFunds = "insufficient_funds"
	ReasonDeclinedByPerson  = "declined_by_person"
)

// Order is a payment an app requested from a person.
type Order struct {
	ID             string      `json:"id"`
	Ref            host.AppRef `json:"ref"`    // the app version that requested it; paid to Ref.Merchant
	Person         string      `json:"person"` // platform id of the payer
	Conversation   string      `json:"conversation,omitempty"`
	Surface        string      `json:"surface,omitempty"`
	Amount         int64       `json:"amount"` // minor units
	Currency       string      `json:"currency"`
	Description    string      `json:"description"`
	IdempotencyKey string      `json:"idempotency_key"`
	State          State       `json:"state"`
	Reason         string      `json:"reason,omitempty"`
	Refunded       int64       `json:"refunded,omitempty"`
	Created        time.Time   `json:"created"`
	Expires        time.Time   `json:"expires"`
	Settled        time.Time   `json:"settled,omitzero"`
	Updated        time.Time   `json:"updated"`
}

// Event returns the payment event the app receives for the order.
func (o Order) Event() host.PaymentEvent {
	return host.PaymentEvent{Order: o.ID, Status: string(o.State), Amount: o.Amount, Currency: o.Currency,
		Refunded: o.Refunded, IdempotencyKey: o.IdempotencyKey, Reason: o.Reason}
}

// Request is what an app asks for with pay.request.
type Request struct {
	Amount         int64  `json:"amount"`   // minor units, > 0
	Currency       string `json:"currency"` // ISO 4217
	Description    string `json:"description"`
	IdempotencyKey string `json:"idempotency_key"`
}

func (r Request) check() error {
	if err := checkMoney(r.Amount, r.Currency); err != nil {
		return err
	}
	if r.Description == "" || !utf8.ValidString(r.Description) || utf8.RuneCountInString(r.Description) > MaxDescription {
		return host.Wrapf(ErrInvalid, "description must be 1..%d characters; say what the person pays for", MaxDescription)
	}
	if r.IdempotencyKey == "" || len(r.IdempotencyKey) > MaxIdempotencyKey {
		return host.Wrapf(ErrInvalid, "idempotency_key must be 1..%d bytes; use one key per purchase and reuse it on retry", MaxIdempotencyKey)
	}
	return nil
}

func requestKey(merchant, app, key string) []byte {
	return []byte("request\x00" + merchant + "\x00" + app + "\x00" + key)
}

func refundKey(merchant, app, key string) []byte {
	return []byte("refund\x00" + merchant + "\x00" + app + "\x00" + key)
}

func expiryKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, id...)
}

// NewOrder creates an order awaiting the confirmation of person, paid to
// ref.Merchant, or returns the existing order if the app already used
// r.IdempotencyKey with the same fields (fresh reports which). A key reused
// with other fields returns ErrConflict.
func (s *Service) NewOrder(ctx context.Context, ref host.AppRef, person, conversation, surface string, r Request) (o Order, fresh bool, err error) {
	if err := r.check(); err != nil {
		return Order{}, false, err
	}
	if person == "" {
		return Order{}, false, host.Wrapf(ErrInvalid, "no person to pay; request payments while handling an event a person caused")
	}
	err = s.commit.Do(func(tx *bbolt.Tx) error {
		fresh, o = false, Order{}
		idem, orders := tx.Bucket(bucketIdem), tx.Bucket(bucketOrders)
		ik := requestKey(ref.Merchant, ref.App, r.IdempotencyKey)
		if id := idem.Get(ik); id != nil {
			if err := getJSON(orders, id, &o); err != nil {
				return err
			}
			if o.Person != person || o.Amount != r.Amount || o.Currency != r.Currency || o.Description != r.Description {
				return host.Wrapf(ErrConflict, "idempotency_key %q belongs to order %s for %d %s %q; use a new key for a new purchase", r.IdempotencyKey, o.ID, o.Amount, o.Currency, o.Description)
			}
			return nil
		}
		now := s.now().UTC()
		o = Order{ID: newID("ord_"), Ref: ref, Person: person, Conversation: conversation, Surface: surface,
			Amount: r.Amount, Currency: r.Currency, Description: r.Description, IdempotencyKey: r.IdempotencyKey,
			State: StateAwaiting, Created: now, Updated: now, Expires: now.Add(s.cfg.TTL)}
		fresh = true
		if err := idem.Put(ik, []byte(o.ID)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketExpiry).Put(expiryKey(o.Expires, o.ID), nil); err != nil {
			return err
		}
		return putJSON(orders, []byte(o.ID), o)
	})
	if err != nil {
		return Order{}, false, err
	}
	return o, fresh, nil
}

// Order returns an order by id.
func (s *Service) Order(ctx context.Context, id string) (Order, error) {
	var o Order
	err := s.db.View(func(tx *bbolt.Tx) error { return getJSON(tx.Bucket(bucketOrders), []byte(id), &o) })
	if err != nil {
		return Order{}, host.Wrapf(ErrNotFound, "no order %q", id)
	}
	return o, nil
}

// Confirm is the person's yes to an order: the money moves from the
// person's wallet to the merchant's in the same transaction as the state
// change. Only the person the order is for may confirm it (anyone else gets
// ErrNotFound). Confirming a paid order again does nothing and returns nil.
// Without enough money the order is declined (reason insufficient_funds) and
// ErrInsufficientFunds is returned, its message giving the balance and the
// price; a declined or expired order returns ErrState or ErrExpired. Every
// error but a store failure is a *host.Error.
func (s *Service) Confirm(ctx context.Context, person, orderID string) error {
	var o Order
	var changed bool
	var held int64 // the wallet's balance when it was too low
	err := s.commit.Do(func(tx *bbolt.Tx) error {
		changed, o, held = false, Order{}, 0
		orders := tx.Bucket(bucketOrders)
		if err := getJSON(orders, []byte(orderID), &o); err != nil || o.Person != person {
			return host.Wrapf(ErrNotFound, "no order %q for this person", orderID)
		}
		if o.State != StateAwaiting {
			return nil // reported after the transaction
		}
		now := s.now().UTC()
		if !now.Before(o.Expires) {
			changed = true
			return s.finish(tx, &o, StateExpired, "", now)
		}
		err := s.move(tx, PersonAccount(person), MerchantAccount(o.Ref.Merchant), o.Currency, o.Amount, "settle", o.ID)
		switch {
		case errors.Is(err, ErrInsufficientFunds):
			changed, held = true, getBalance(tx, PersonAccount(person), o.Currency)
			return s.finish(tx, &o, StateDeclined, ReasonInsufficientFunds, now)
		case err != nil:
			return err
		}
		changed = true
		o.Settled = now
		return s.finish(tx, &o, StatePaid, "", now)
	})
	if err != nil {
		return err
	}
	if changed {
		s.notify(ctx, o)
	}
	switch o.State {
	case StatePaid, StatePartiallyRefunded, StateRefunded:
		return nil
	case StateDeclined:
		if o.Reason == ReasonInsufficientFunds {
			return host.Wrapf(ErrInsufficientFunds, "your wallet holds %s and %q costs %s, so order %s is declined and nothing was charged; add money to your wallet, then ask the app for a new order",
				FormatAmount(held, o.Currency), o.Description, FormatAmount(o.Amount, o.Currency), o.ID)
		}
		return host.Wrapf(ErrState, "order %s was declined", o.ID)
	case StateExpired:
		return host.Wrapf(ErrExpired, "order %s expired before it was confirmed; ask the app for a new one", o.ID)
	}
	return host.Wrapf(ErrState, "order %s is %s", o.ID, o.State)
}

// Decline is the person's no to an order. Declining a declined order does
// nothing; declining a paid or expired one returns ErrState.
func (s *Service) Decline(ctx context.Context, person, orderID string) error {
	var o Order
	var changed bool
	err := s.commit.Do(func(tx *bbolt.Tx) error {
		changed, o = false, Order{}
		if err := getJSON(tx.Bucket(bucketOrders), []byte(orderID), &o); err != nil || o.Person != person {
			return host.Wrapf(ErrNotFound, "no order %q for this person", orderID)
		}
		if o.State != StateAwaiting {
			return nil
		}
		changed = true
		return s.finish(tx, &o, StateDeclined, ReasonDeclinedByPerson, s.now().UTC())
	})
	if err != nil {
		return err
	}
	if changed {
		s.notify(ctx, o)
	}
	if o.State == StateDeclined {
		return nil
	}
	return host.Wrapf(ErrState, "order %s is already %s", o.ID, o.State)
}

// finish moves an awaiting order to a final state in tx.
func (s *Service) finish(tx *bbolt.Tx, o *Order, st State, reason string, now time.Time) error {
	if err := tx.Bucket(bucketExpiry).Delete(expiryKey(o.Expires, o.ID)); err != nil {
		return err
	}
	o.State, o.Reason, o.Updated = st, reason, now
	if err := putJSON(tx.Bucket(bucketOutbox), outcomeKey(*o), o); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucketOrders), []byte(o.ID), o)
}

// outcomeKey names one final state of an order in the outcome outbox.
func outcomeKey(o Order) []byte {
	return fmt.Appendf(nil, "%s\x00%s\x00%d", o.ID, o.State, o.Refunded)
}

// Refund returns amount minor units of a paid order to the person (0 means
// everything not yet refunded), from the merchant's wallet. Only the app
// that requested the order (same merchant and app id) may refund it. A
// retry with the same idempotency key and amount returns the order without
// refunding again; the same key with another order or amount is ErrConflict.
func (s *Service) Refund(ctx context.Context, ref host.AppRef, orderID string, amount int64, key string) (Order, error) {
	if key == "" || len(key) > MaxIdempotencyKey {
		return Order{}, host.Wrapf(ErrInvalid, "idempotency_key must be 1..%d bytes", MaxIdempotencyKey)
	}
	if amount < 0 {
		return Order{}, host.Wrapf(ErrInvalid, "amount %d is negative; give the minor units to refund, or 0 for all", amount)
	}
	var o Order
	var changed bool
	err := s.commit.Do(func(tx *bbolt.Tx) error {
		var err error
		o, changed, err = s.refund(tx, ref, orderID, amount, key)
		return err
	})
	if err != nil {
		return Order{}, err
	}
	if changed {
		s.notify(ctx, o)
	}
	return o, nil
}

// refundRecord is what the idempotency bucket keeps of a refund.
type refundRecord struct {
	Order  string `json:"order"`
	Amount int64  `json:"amount"`
}

// refund is Refund inside tx; changed reports whether money moved.
func (s *Service) refund(tx *bbolt.Tx, ref host.AppRef, orderID string, amount int64, key string) (o Order, changed bool, err error) {
	orders, idem := tx.Bucket(bucketOrders), tx.Bucket(bucketIdem)
	if err := getJSON(orders, []byte(orderID), &o); err != nil || o.Ref.Merchant != ref.Merchant || o.Ref.App != ref.App {
		return Order{}, false, host.Wrapf(ErrNotFound, "no order %q of this app", orderID)
	}
	rk := refundKey(ref.Merchant, ref.App, key)
	var prev refundRecord
	if err := getJSON(idem, rk, &prev); err == nil {
		if prev.Order != orderID || prev.Amount != amount {
			return Order{}, false, host.Wrapf(ErrConflict, "idempotency_key %q was used to refund %d of order %s; use a new key for a new refund", key, prev.Amount, prev.Order)
		}
		return o, false, nil
	}
	if o.State != StatePaid && o.State != StatePartiallyRefunded {
		return Order{}, false, host.Wrapf(ErrState, "order %s is %s; only paid orders can be refunded", o.ID, o.State)
	}
	left := o.Amount - o.Refunded
	give := amount
	if give == 0 {
		give = left
	}
	if give > left {
		return Order{}, false, host.Wrapf(ErrInvalid, "refund of %d exceeds the %d %s still refundable on order %s", give, left, o.Currency, o.ID)
	}
	if err := s.move(tx, MerchantAccount(o.Ref.Merchant), PersonAccount(o.Person), o.Currency, give, "refund", o.ID); err != nil {
		return Order{}, false, err
	}
	o.Refunded += give
	o.State = StatePartiallyRefunded
	if o.Refunded == o.Amount {
		o.State = StateRefunded
	}
	o.Updated = s.now().UTC()
	if err := putJSON(idem, rk, refundRecord{Order: orderID, Amount: amount}); err != nil {
		return Order{}, false, err
	}
	if err := putJSON(tx.Bucket(bucketOutbox), outcomeKey(o), o); err != nil {
		return Order{}, false, err
	}
	return o, true, putJSON(orders, []byte(o.ID), o)
}

// Sweep expires every order still awaiting confirmation whose TTL ended
// before now and returns how many it expired. It also hands the Notifier
// the outcomes a previous run of the process committed but did not see
// delivered (once, on the first Sweep), and forgets the outcomes marked
// delivered (OutcomeDelivered).
func (s *Service) Sweep(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	backlog := s.backlog
	s.backlog = nil
	s.mu.Unlock()
	for _, o := range backlog {
		s.notify(ctx, o)
	}
	s.mu.Lock()
	done := s.delivered
	s.delivered = nil
	s.mu.Unlock()
	var expired []Order
	err := s.commit.Do(func(tx *bbolt.Tx) error {
		expired = expired[:0]
		for _, k := range done {
			if err := tx.Bucket(bucketOutbox).Delete(k); err != nil {
				return err
			}
		}
		var keys [][]byte
		c := tx.Bucket(bucketExpiry).Cursor()
		limit := uint64(now.UnixNano())
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k[:8]) <= limit && len(keys) < 1000; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		orders := tx.Bucket(bucketOrders)
		for _, k := range keys {
			var o Order
			if err := getJSON(orders, k[8:], &o); err != nil {
				return err
			}
			if o.State != StateAwaiting {
				if err := tx.Bucket(bucketExpiry).Delete(k); err != nil {
					return err
				}
				continue
			}
			if err := s.finish(tx, &o, StateExpired, "", now.UTC()); err != nil {
				return err
			}
			expired = append(expired, o)
		}
		return nil
	})
	if err != nil {
		s.mu.Lock()
		s.delivered = append(s.delivered, done...)
		s.mu.Unlock()
		return 0, fmt.Errorf("pay: sweep: %w", err)
	}
	for _, o := range expired {
		s.notify(ctx, o)
	}
	return len(expired), nil
}

// startSweeper sweeps (see Sweep) at once and then every SweepInterval
// until Close.
func (s *Service) startSweeper() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	if s.cfg.SweepInterval <= 0 {
		return
	}
	s.sweeper.Go(func() {
		t := time.NewTicker(s.cfg.SweepInterval)
		defer t.Stop()
		for {
			if n, err := s.Sweep(ctx, s.now()); err != nil && ctx.Err() == nil {
				s.log.Error("expiring orders", "err", err)
			} else if n > 0 {
				s.log.Info("orders expired", "count", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// Close stops the sweeper, waits for it, and stops the service's commit
// loop; the service must not be used after. Calling it again does nothing.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		s.stop()
		s.sweeper.Wait()
		s.commit.Close()
	})
}

func (s *Service) notify(ctx context.Context, o Order) {
	s.log.Info("order", "order", o.ID, "state", o.State, "app", o.Ref.String(), "amount", o.Amount, "currency", o.Currency)
	if s.cfg.Notifier == nil {
		s.OutcomeDelivered(o) // nobody to tell
		return
	}
	s.cfg.Notifier.PaymentOutcome(ctx, o)
}

// OutcomeDelivered tells the service that o's outcome (its current state)
// reached the app, or cannot for good: the next Sweep forgets it, and a
// restarted service will not hand it to the Notifier again.
func (s *Service) OutcomeDelivered(o Order) {
	s.mu.Lock()
	s.delivered = append(s.delivered, outcomeKey(o))
	s.mu.Unlock()
}

// Undelivered returns how many outcomes are stored but not yet known to
// have reached their app (OutcomeDelivered and a Sweep since): after a
// restart, those are handed to the Notifier again by the first Sweep.
func (s *Service) Undelivered(ctx context.Context) (int, error) {
	var n int
	err := s.db.View(func(tx *bbolt.Tx) error { n = tx.Bucket(bucketOutbox).Stats().KeyN; return nil })
	return n, err
}
