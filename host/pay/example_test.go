package pay_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/pay"
)

type printNotifier struct{}

func (printNotifier) PaymentOutcome(ctx context.Context, o pay.Order) {
	fmt.Printf("payment event for %s: %s %d %s\n", o.Ref.App, o.Event().Status, o.Amount, o.Currency)
}

// An app requests 12.50 EUR, the person confirms, the money moves once.
func Example() {
	dir, _ := os.MkdirTemp("", "pay-example")
	defer os.RemoveAll(dir)
	db, _ := bbolt.Open(filepath.Join(dir, "passerelle.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	defer db.Close()
	ctx := context.Background()
	payments, _ := pay.Open(db, pay.Config{Notifier: printNotifier{}})

	_ = payments.Fund(ctx, pay.PersonAccount("p_alice"), "EUR", 2000)
	shop := host.AppRef{Merchant: "acme", App: "shop", Version: "1.0.0"}
	order, _, _ := payments.NewOrder(ctx, shop, "p_alice", "c1", "web", pay.Request{
		Amount: 1250, Currency: "EUR", Description: "Blue shirt", IdempotencyKey: "cart-1"})
	fmt.Println(order.State)

	_ = payments.Confirm(ctx, "p_alice", order.ID)
	_ = payments.Confirm(ctx, "p_alice", order.ID) // a duplicate settles nothing
	alice, _ := payments.Balance(ctx, pay.PersonAccount("p_alice"), "EUR")
	acme, _ := payments.Balance(ctx, pay.MerchantAccount("acme"), "EUR")
	fmt.Println(alice, acme, payments.Audit(ctx))
	// Output:
	// awaiting_confirmation
	// payment event for shop: paid 1250 EUR
	// 750 1250 <nil>
}
