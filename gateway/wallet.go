package gateway

import "context"

// WalletEntry is one line of a person's wallet history, in the words the
// person reads.
type WalletEntry struct {
	Time     int64  `json:"time"`  // unix milliseconds
	Title    string `json:"title"` // "Blue shirt · Acme Shirts", "Refund: Blue shirt · Acme Shirts", "Added to your wallet"
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`        // minor units of it; negative left the wallet
	State    string `json:"state,omitempty"` // of the order now: "paid", "partly refunded", "refunded"
}

// WalletHistory is what Payments may also offer: the newest movements of a
// person's wallet. When Config.Payments lacks it, payments frames answer
// "unavailable".
type WalletHistory interface {
	History(ctx context.Context, person string, limit int) ([]WalletEntry, error)
}

// maxWalletHistory bounds a payments frame's answer.
const maxWalletHistory = 100

// payments answers a payments frame with the person's wallet history,
// newest first.
func (c *conn) payments(ctx context.Context, f *Frame) error {
	h, ok := c.s.cfg.Payments.(WalletHistory)
	if !ok {
		return ErrUnavailable
	}
	limit := f.Limit
	if limit <= 0 || limit > maxWalletHistory {
		limit = maxWalletHistory
	}
	list, err := h.History(ctx, c.person, limit)
	if err != nil {
		return err
	}
	if list == nil {
		list = []WalletEntry{}
	}
	c.reply(map[string]any{"type": "payments", "id": f.ID, "payments": list})
	return nil
}
