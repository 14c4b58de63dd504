package sdktest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// The built-in payments and timers. pay.request records an order awaiting
// confirmation; the test plays the person with Confirm or Decline, which
// deliver the payment event. timer.after records a pending timer; the test
// makes it due with FireTimer. pay.refund and pay.status work on the
// recorded orders; a refund's payment event is not delivered automatically
// (deliver one with Payment if the app needs it).

// Timer is a pending timer the app set.
type Timer struct {
	ID      string
	After   time.Duration
	Payload json.RawMessage
}

func (h *Host) timerAfter(req []byte) (any, error) {
	var r struct {
		AfterMS int64           `json:"after_ms"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, badRequest("the request is not a timer.after request: " + err.Error())
	}
	if r.AfterMS < 1 || r.AfterMS > 2592000000 {
		return nil, badRequest("after_ms must be between 1 and 2592000000 (30 days)")
	}
	if len(r.Payload) > 4096 {
		return nil, badRequest("payload is larger than 4096 bytes")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.timers) >= 100 {
		return nil, &passerelle.Error{Status: passerelle.StatusQuota, Message: "100 timers are pending already"}
	}
	h.seq++
	t := Timer{ID: "tm_" + strconv.Itoa(h.seq), After: time.Duration(r.AfterMS) * time.Millisecond, Payload: r.Payload}
	h.timers = append(h.timers, t)
	return map[string]string{"id": t.ID}, nil
}

func (h *Host) timerCancel(req []byte) (any, error) {
	var r struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, badRequest("the request is not a timer.cancel request: " + err.Error())
	}
	if _, ok := h.takeTimer(r.ID); !ok {
		return nil, &passerelle.Error{Status: passerelle.StatusNotFound, Message: "no pending timer " + r.ID}
	}
	return map[string]bool{"cancelled": true}, nil
}

func (h *Host) takeTimer(id string) (Timer, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, t := range h.timers {
		if t.ID == id {
			h.timers = append(h.timers[:i], h.timers[i+1:]...)
			return t, true
		}
	}
	return Timer{}, false
}

// Timers returns the pending timers, oldest first.
func (h *Host) Timers() []Timer {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Timer(nil), h.timers...)
}

// FireTimer makes the pending timer id due: it delivers the timer event
// with the timer's payload and returns the handler's error.
func (h *Host) FireTimer(id string) error {
	t, ok := h.takeTimer(id)
	if !ok {
		return fmt.Errorf("sdktest: no pending timer %q", id)
	}
	return h.Timer(passerelle.Timer{ID: t.ID, Payload: t.Payload})
}

func (h *Host) payRequest(req []byte) (any, error) {
	var r passerelle.PaymentRequest
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, badRequest("the request is not a pay.request request: " + err.Error())
	}
	switch {
	case r.Amount < 1 || r.Amount > 1e12:
		return nil, badRequest("amount must be between 1 and 10^12 minor units")
	case len(r.Currency) != 3 || r.Currency[0] < 'A' || r.Currency[0] > 'Z' || r.Currency[1] < 'A' || r.Currency[1] > 'Z' || r.Currency[2] < 'A' || r.Currency[2] > 'Z':
		return nil, badRequest("currency must be an upper-case ISO 4217 code such as EUR")
	case r.Description == "" || len([]rune(r.Description)) > 200:
		return nil, badRequest("description must be 1 to 200 characters")
	case r.IdempotencyKey == "" || len(r.IdempotencyKey) > 100:
		return nil, badRequest("idempotency_key must be 1 to 100 bytes")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.orders {
		if o.IdempotencyKey != r.IdempotencyKey {
			continue
		}
		if o.Amount != r.Amount || o.Currency != r.Currency || o.Description != r.Description {
			return nil, &passerelle.Error{Status: passerelle.StatusConflict, Message: "idempotency_key " + r.IdempotencyKey + " was used for another payment"}
		}
		return *o, nil
	}
	h.seq++
	o := &passerelle.Order{Order: "ord_" + strconv.Itoa(h.seq), Status: "awaiting_confirmation", Amount: r.Amount,
		Currency: r.Currency, Description: r.Description, IdempotencyKey: r.IdempotencyKey}
	h.orders = append(h.orders, o)
	return *o, nil
}

func (h *Host) orderOf(req []byte) (*passerelle.Order, int64, string, error) {
	var r struct {
		Order          string `json:"order"`
		Amount         int64  `json:"amount"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, 0, "", badRequest("the request is not a payment request: " + err.Error())
	}
	for _, o := range h.orders {
		if o.Order == r.Order {
			return o, r.Amount, r.IdempotencyKey, nil
		}
	}
	return nil, 0, "", &passerelle.Error{Status: passerelle.StatusNotFound, Message: "no order " + r.Order + " of this app"}
}

func (h *Host) payStatus(req []byte) (any, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o, _, _, err := h.orderOf(req)
	if err != nil {
		return nil, err
	}
	return *o, nil
}

func (h *Host) payRefund(req []byte) (any, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o, amount, _, err := h.orderOf(req)
	if err != nil {
		return nil, err
	}
	if o.Status != "paid" && o.Status != "partially_refunded" {
		return nil, &passerelle.Error{Status: passerelle.StatusConflict, Message: "order " + o.Order + " is " + o.Status + ", not paid"}
	}
	left := o.Amount - o.Refunded
	if amount == 0 {
		amount = left
	}
	if amount < 0 || amount > left {
		return nil, badRequest(fmt.Sprintf("amount %d is more than the %d left to refund", amount, left))
	}
	o.Refunded += amount
	o.Status = "partially_refunded"
	if o.Refunded == o.Amount {
		o.Status = "refunded"
	}
	return *o, nil
}

// Orders returns the orders the app requested, oldest first.
func (h *Host) Orders() []passerelle.Order {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]passerelle.Order, len(h.orders))
	for i, o := range h.orders {
		out[i] = *o
	}
	return out
}

// Confirm plays the person confirming the order: it becomes paid and the
// app receives the payment event. It returns the handler's error.
func (h *Host) Confirm(order string) error { return h.settle(order, "paid", "") }

// Decline plays the person declining the order (reason "declined_by_person")
// and delivers the payment event.
func (h *Host) Decline(order string) error { return h.settle(order, "declined", "declined_by_person") }

func (h *Host) settle(id, status, reason string) error {
	h.mu.Lock()
	var found *passerelle.Order
	for _, o := range h.orders {
		if o.Order == id {
			found = o
		}
	}
	if found == nil || found.Status != "awaiting_confirmation" {
		h.mu.Unlock()
		return fmt.Errorf("sdktest: no order %q awaiting confirmation", id)
	}
	found.Status, found.Reason = status, reason
	o := *found
	h.mu.Unlock()
	return h.Payment(passerelle.Payment{Order: o.Order, Status: o.Status, Amount: o.Amount, Currency: o.Currency,
		IdempotencyKey: o.IdempotencyKey, Reason: o.Reason})
}
