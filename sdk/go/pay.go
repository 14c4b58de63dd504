package passerelle

// PaymentRequest asks the person of the event to pay the app's merchant.
type PaymentRequest struct {
	Amount         int64  `json:"amount"`          // minor units: 1250 with EUR is 12.50 €
	Currency       string `json:"currency"`        // ISO 4217 code, e.g. "EUR"
	Description    string `json:"description"`     // what the person pays for, shown to them
	IdempotencyKey string `json:"idempotency_key"` // one per purchase; reuse it when retrying
}

// Order is the host's view of a payment the app requested.
type Order struct {
	Order          string `json:"order"`  // order id
	Status         string `json:"status"` // awaiting_confirmation, paid, declined, expired, partially_refunded, refunded
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	Description    string `json:"description"`
	IdempotencyKey string `json:"idempotency_key"`
	Refunded       int64  `json:"refunded,omitempty"`
	Reason         string `json:"reason,omitempty"`  // why it was declined
	Expires        string `json:"expires,omitempty"` // RFC 3339: when an unconfirmed order expires
}

// RequestPayment creates an order (operation pay.request, permission "pay")
// and the platform asks the person to confirm it. The outcome arrives later
// as a payment event. Retrying with the same IdempotencyKey returns the same
// order; the same key with other fields fails with ErrConflict.
func (c *Context) RequestPayment(r PaymentRequest) (Order, error) {
	var o Order
	err := c.call("pay.request", importPayRequest, &r, &o)
	return o, err
}

// Refund gives back amount minor units of a paid order (0: all that is left),
// operation pay.refund. A retry with the same key does not refund twice.
func (c *Context) Refund(order string, amount int64, idempotencyKey string) (Order, error) {
	var o Order
	err := c.call("pay.refund", importPayRefund, &struct {
		Order          string `json:"order"`
		Amount         int64  `json:"amount,omitempty"`
		IdempotencyKey string `json:"idempotency_key"`
	}{order, amount, idempotencyKey}, &o)
	return o, err
}

// PaymentStatus returns an order of this app (operation pay.status).
func (c *Context) PaymentStatus(order string) (Order, error) {
	var o Order
	err := c.call("pay.status", importPayStatus, &struct {
		Order string `json:"order"`
	}{order}, &o)
	return o, err
}
