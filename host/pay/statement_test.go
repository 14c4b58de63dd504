package pay_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host/pay"
)

func statement(t *testing.T, s *pay.Service, person string, limit int) string {
	t.Helper()
	lines, err := s.Statement(context.Background(), person, limit)
	if err != nil {
		t.Fatal(err)
	}
	var b []string
	for _, l := range lines {
		b = append(b, strings.TrimSpace(fmt.Sprintf("%s %d %s %q %s %s", l.Kind, l.Amount, l.Currency, l.Description, l.MerchantName, l.State)))
	}
	return strings.Join(b, "\n")
}

func TestStatement(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "pay.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	names := pay.Config{MerchantName: func(_ context.Context, m string) string { return map[string]string{"acme": "Acme Shirts"}[m] }}
	s, err := pay.Open(db, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"alice", "bob"} {
		if err := s.Fund(ctx, pay.PersonAccount(p), "EUR", 5000); err != nil {
			t.Fatal(err)
		}
	}
	o, _, err := s.NewOrder(ctx, shop, "alice", "c1", "web", req(1250, "EUR", "Blue shirt", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Confirm(ctx, "alice", o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Refund(ctx, shop, o.ID, 250, "r1"); err != nil {
		t.Fatal(err)
	}
	want := `refund 250 EUR "Blue shirt" Acme Shirts partially_refunded
settle -1250 EUR "Blue shirt" Acme Shirts partially_refunded
fund 5000 EUR ""`
	if got := statement(t, s, "alice", 10); got != want {
		t.Fatalf("Alice's statement:\n%s\nwant:\n%s", got, want)
	}
	if got := statement(t, s, "alice", 1); got != strings.Split(want, "\n")[0] {
		t.Fatalf("the newest line: %s", got)
	}
	if got := statement(t, s, "bob", 10); got != `fund 5000 EUR ""` {
		t.Fatalf("Bob's statement: %s", got)
	}

	// A ledger written before the index existed is indexed when opened.
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("pay.account_postings")) }); err != nil {
		t.Fatal(err)
	}
	if s, err = pay.Open(db, names); err != nil {
		t.Fatal(err)
	}
	if got := statement(t, s, "alice", 10); got != want {
		t.Fatalf("Alice's statement after indexing an older ledger:\n%s", got)
	}
}
