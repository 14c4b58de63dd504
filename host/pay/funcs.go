package pay

import (
	"context"
	"encoding/json"
	"time"

	"github.com/passerelle/passerelle/host"
)

// OrderView is what an app sees of an order: never the payer's platform id.
type OrderView struct {
	Order          string    `json:"order"`
	Status         State     `json:"status"`
	Amount         int64     `json:"amount"`
	Currency       string    `json:"currency"`
	Description    string    `json:"description"`
	IdempotencyKey string    `json:"idempotency_key"`
	Refunded       int64     `json:"refunded,omitempty"`
	Reason         string    `json:"reason,omitempty"`
	Expires        time.Time `json:"expires"`
}

func viewOf(o Order) OrderView {
	return OrderView{Order: o.ID, Status: o.State, Amount: o.Amount, Currency: o.Currency, Description: o.Description,
		IdempotencyKey: o.IdempotencyKey, Refunded: o.Refunded, Reason: o.Reason, Expires: o.Expires}
}

// PromptBody is the Body of the host-drawn payment prompt sent to the payer
// (a host.Prompt of the service's PromptKind). The person answers confirm
// (Confirm) or decline (Decline).
type PromptBody struct {
	Type         string    `json:"type"` // "payment"
	Order        string    `json:"order"`
	Amount       int64     `json:"amount"`
	Currency     string    `json:"currency"`
	Exponent     int       `json:"exponent"` // decimal places of the currency's minor unit
	Description  string    `json:"description"`
	Merchant     string    `json:"merchant"`                // merchant id
	MerchantName string    `json:"merchant_name,omitempty"` // display name, when Config.MerchantName knows it
	App          string    `json:"app"`
	Expires      time.Time `json:"expires"`
}

// RefundRequest is the request of pay.refund.
type RefundRequest struct {
	Order          string `json:"order"`
	Amount         int64  `json:"amount,omitempty"` // 0 or absent: everything not yet refunded
	IdempotencyKey string `json:"idempotency_key"`
}

// StatusRequest is the request of pay.status.
type StatusRequest struct {
	Order string `json:"order"`
}

// Funcs returns the host operations of the payment API: pay.request,
// pay.refund and pay.status, all needing the "pay" permission.
func (s *Service) Funcs() []host.Func {
	return []host.Func{
		{Op: "pay.request", Permission: host.PermPay, Handle: s.opRequest},
		{Op: "pay.refund", Permission: host.PermPay, Handle: s.opRefund},
		{Op: "pay.status", Permission: host.PermPay, Handle: s.opStatus},
	}
}

func decode(op string, req []byte, v any, shape string) error {
	if err := json.Unmarshal(req, v); err != nil {
		return host.Errorf(host.StatusBadRequest, "%s: request must be %s: %v", op, shape, err)
	}
	return nil
}

func (s *Service) opRequest(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	var r Request
	if err := decode("pay.request", req, &r, `{"amount":1250,"currency":"EUR","description":"...","idempotency_key":"..."}`); err != nil {
		return nil, err
	}
	if c.Caller.Person == "" {
		return nil, host.Errorf(host.StatusBadRequest, "pay.request: this event has no person to pay; request payments while handling an event a person caused")
	}
	var o Order
	var err error
	if c.Tx != nil {
		o, err = s.stageOrder(ctx, c.Tx, c.Caller.App, c.Caller.Person, c.Caller.Conversation, c.Caller.Surface, r)
	} else {
		o, _, err = s.NewOrder(ctx, c.Caller.App, c.Caller.Person, c.Caller.Conversation, c.Caller.Surface, r)
	}
	if err != nil {
		return nil, err
	}
	if o.State == StateAwaiting {
		// Sent again on an idempotent retry: the first prompt may have been lost.
		exp, _ := MinorUnits(o.Currency)
		body, _ := json.Marshal(PromptBody{Type: s.prompt.Name, Order: o.ID, Amount: o.Amount, Currency: o.Currency, Exponent: exp,
			Description: o.Description, Merchant: o.Ref.Merchant, MerchantName: s.merchantName(ctx, o.Ref.Merchant),
			App: o.Ref.App, Expires: o.Expires})
		err := c.Emit(ctx, host.Outgoing{App: c.Caller.App, Conversation: o.Conversation,
			Prompt: &host.Prompt{ID: PromptID(o.ID), Kind: s.prompt, Person: o.Person, Body: body}})
		if err != nil {
			return nil, host.Errorf(host.StatusUnavailable, "pay.request: order %s was created but its prompt could not be sent; retry with the same idempotency_key", o.ID)
		}
	}
	return json.Marshal(viewOf(o))
}

func (s *Service) opRefund(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	var r RefundRequest
	if err := decode("pay.refund", req, &r, `{"order":"ord_...","amount":500,"idempotency_key":"..."}`); err != nil {
		return nil, err
	}
	var o Order
	var err error
	if c.Tx != nil {
		o, err = s.stageRefund(ctx, c.Tx, c.Caller.App, r.Order, r.Amount, r.IdempotencyKey)
	} else {
		o, err = s.Refund(ctx, c.Caller.App, r.Order, r.Amount, r.IdempotencyKey)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(viewOf(o))
}

func (s *Service) opStatus(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	var r StatusRequest
	if err := decode("pay.status", req, &r, `{"order":"ord_..."}`); err != nil {
		return nil, err
	}
	var o Order
	var err error
	if c.Tx != nil {
		o, err = s.orderInTx(ctx, c.Tx, r.Order) // the event reads its own requests and refunds
	} else {
		o, err = s.Order(ctx, r.Order)
	}
	if err != nil || o.Ref.Merchant != c.Caller.App.Merchant || o.Ref.App != c.Caller.App.App {
		return nil, host.Errorf(host.StatusNotFound, "pay.status: no order %q of this app", r.Order)
	}
	return json.Marshal(viewOf(o))
}

// merchantName returns the merchant's display name for prompts, or "".
func (s *Service) merchantName(ctx context.Context, merchant string) string {
	if s.cfg.MerchantName == nil {
		return ""
	}
	return s.cfg.MerchantName(ctx, merchant)
}

// Answers to a payment prompt.
const (
	AnswerConfirm = "confirm"
	AnswerDecline = "decline"
)

// PromptID returns the id of the payment prompt of an order: one prompt
// per order, however often the app asks.
func PromptID(order string) string { return "pay_" + order }

// PromptKind returns the payment prompt: confirm or decline an order. An
// answer that finds the order final already (paid, declined, expired) or
// declines it for want of money settles the prompt, with the error that
// says so.
func (s *Service) PromptKind() *host.PromptKind { return s.prompt }

func (s *Service) newPromptKind() *host.PromptKind {
	return &host.PromptKind{
		Name:    "payment",
		Answers: []string{AnswerConfirm, AnswerDecline},
		Apply: func(ctx context.Context, a host.Answer) (bool, error) {
			var b PromptBody
			if err := json.Unmarshal(a.Body, &b); err != nil || b.Order == "" {
				return false, host.Errorf(host.StatusBadRequest, "this payment prompt names no order; dismiss it")
			}
			var err error
			if a.Choice == AnswerConfirm {
				err = s.Confirm(ctx, a.Person, b.Order)
			} else {
				err = s.Decline(ctx, a.Person, b.Order)
			}
			return host.Settles(err, host.StatusConflict, host.StatusInsufficientFunds), err
		},
	}
}
