package pay_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/pay"
)

// txCall runs pay.request inside tx and returns the order the app saw.
func txCall(t *testing.T, s *pay.Service, tx *host.Tx, out host.Outbox, key string) (pay.OrderView, error) {
	t.Helper()
	var op host.Func
	for _, f := range s.Funcs() {
		if f.Op == "pay.request" {
			op = f
		}
	}
	data, _ := json.Marshal(req(500, "EUR", "lunch", key))
	c := &host.Call{Caller: host.Caller{App: shop, Person: "p_ann", Conversation: "c1", Permissions: []host.Permission{host.PermPay}}, Out: out, Tx: tx}
	resp, err := op.Handle(context.Background(), c, data)
	var v pay.OrderView
	if err == nil {
		json.Unmarshal(resp, &v)
	}
	return v, err
}

func commitTx(db *bbolt.DB, tx *host.Tx) error {
	if err := db.Update(tx.Apply); err != nil {
		return err
	}
	tx.Committed()
	return nil
}

// Inside an event pay.request stages the order and its prompt: neither
// exists before the commit, a dropped event leaves no order, the same key
// twice in one event is one order, and two events creating the same key
// at once conflict: the one that runs again gets the first one's order.
func TestRequestInTx(t *testing.T) {
	db := openDB(t)
	s, err := pay.Open(db, pay.Config{TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := &outbox{}

	if _, err := txCall(t, s, &host.Tx{}, out, "dropped"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.NewOrder(context.Background(), shop, "p_ann", "c1", "web", req(500, "EUR", "lunch", "dropped")); err != nil {
		t.Fatal(err) // a new order: the dropped one was never written
	}

	first, second := &host.Tx{}, &host.Tx{}
	a, err := txCall(t, s, first, out, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := txCall(t, s, first, out, "k1"); again.Order != a.Order {
		t.Fatalf("same key in one event: %s and %s", a.Order, again.Order)
	}
	if _, err := s.Order(context.Background(), a.Order); err == nil {
		t.Fatal("the order exists before its event committed")
	}
	if len(out.out) != 0 {
		t.Fatalf("%d prompts shown before the commit", len(out.out))
	}
	b, _ := txCall(t, s, second, out, "k1")
	if err := commitTx(db, first); err != nil {
		t.Fatal(err)
	}
	if len(out.out) != 2 || out.out[0].Prompt == nil {
		t.Fatalf("after the commit: %d outgoing, want the prompt (twice: once per request)", len(out.out))
	}
	if err := commitTx(db, second); !errors.Is(err, host.ErrTxConflict) {
		t.Fatalf("second event's order %s: %v, want a conflict", b.Order, err)
	}
	rerun, err := txCall(t, s, &host.Tx{}, out, "k1")
	if err != nil || rerun.Order != a.Order {
		t.Fatalf("run again: %s %v, want %s", rerun.Order, err, a.Order)
	}
}

// Inside an event pay.refund moves no money before the commit, none for a
// dropped event, and two events refunding the rest of one order at once
// conflict: the one that runs again is refused.
func TestRefundInTx(t *testing.T) {
	db := openDB(t)
	s, err := pay.Open(db, pay.Config{TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Fund(ctx, pay.PersonAccount("p_ann"), "EUR", 1000); err != nil {
		t.Fatal(err)
	}
	o, _, err := s.NewOrder(ctx, shop, "p_ann", "c1", "web", req(500, "EUR", "lunch", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Confirm(ctx, "p_ann", o.ID); err != nil {
		t.Fatal(err)
	}
	var op host.Func
	for _, f := range s.Funcs() {
		if f.Op == "pay.refund" {
			op = f
		}
	}
	refund := func(tx *host.Tx, key string) error {
		data, _ := json.Marshal(pay.RefundRequest{Order: o.ID, IdempotencyKey: key})
		c := &host.Call{Caller: host.Caller{App: shop, Permissions: []host.Permission{host.PermPay}}, Out: &outbox{}, Tx: tx}
		_, err := op.Handle(ctx, c, data)
		return err
	}
	balance := func() int64 {
		b, err := s.Balance(ctx, pay.PersonAccount("p_ann"), "EUR")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if err := refund(&host.Tx{}, "dropped"); err != nil {
		t.Fatal(err)
	}
	if balance() != 500 {
		t.Fatalf("balance %d after a dropped refund, want 500", balance())
	}
	first, second := &host.Tx{}, &host.Tx{}
	if err := refund(first, "r1"); err != nil {
		t.Fatal(err)
	}
	if err := refund(second, "r2"); err != nil {
		t.Fatal(err)
	}
	if balance() != 500 {
		t.Fatal("a staged refund moved money before its commit")
	}
	if err := commitTx(db, first); err != nil {
		t.Fatal(err)
	}
	if balance() != 1000 {
		t.Fatalf("balance %d after the refund committed, want 1000", balance())
	}
	if err := commitTx(db, second); !errors.Is(err, host.ErrTxConflict) {
		t.Fatalf("second refund of the same money: %v, want a conflict", err)
	}
	if err := refund(&host.Tx{}, "r2"); !errors.Is(err, pay.ErrState) {
		t.Fatalf("second refund run again: %v, want the order's state refused", err)
	}
	if err := s.Audit(ctx); err != nil {
		t.Fatal(err)
	}
}
