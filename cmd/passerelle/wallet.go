package main

import (
	"context"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/host/pay"
)

// wallet adapts the pay service to gateway.Payments and, with its
// statement in the words a person reads, gateway.WalletHistory.
type wallet struct{ *pay.Service }

// stateWords says what became of an order, for the history.
var stateWords = map[pay.State]string{
	pay.StatePaid:              "paid",
	pay.StatePartiallyRefunded: "partly refunded",
	pay.StateRefunded:          "refunded",
}

func (w wallet) History(ctx context.Context, person string, limit int) ([]gateway.WalletEntry, error) {
	lines, err := w.Statement(ctx, person, limit)
	if err != nil {
		return nil, err
	}
	out := make([]gateway.WalletEntry, len(lines))
	for i, l := range lines {
		e := gateway.WalletEntry{Time: l.Time.UnixMilli(), Amount: l.Amount, Currency: l.Currency}
		what := l.Description
		if l.MerchantName != "" {
			what += " · " + l.MerchantName
		}
		switch l.Kind {
		case "fund":
			e.Title = "Added to your wallet"
		case "refund":
			e.Title = "Refund: " + what
		default:
			e.Title, e.State = what, stateWords[l.State]
		}
		out[i] = e
	}
	return out, nil
}
