package pay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/pay"
)

func openDB(t testing.TB) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "pay.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type notes struct {
	mu  sync.Mutex
	got []pay.Order
}

func (n *notes) PaymentOutcome(ctx context.Context, o pay.Order) {
	n.mu.Lock()
	n.got = append(n.got, o)
	n.mu.Unlock()
}

func (n *notes) states() []pay.State {
	n.mu.Lock()
	defer n.mu.Unlock()
	var s []pay.State
	for _, o := range n.got {
		s = append(s, o.State)
	}
	return s
}

type outbox struct {
	mu  sync.Mutex
	out []host.Outgoing
}

func (o *outbox) Emit(ctx context.Context, g host.Outgoing) error {
	o.mu.Lock()
	o.out = append(o.out, g)
	o.mu.Unlock()
	return nil
}

type fixture struct {
	s     *pay.Service
	clk   *clock
	notes *notes
	out   *outbox
	ops   map[string]host.Func
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{clk: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, notes: &notes{}, out: &outbox{}, ops: map[string]host.Func{}}
	s, err := pay.Open(openDB(t), pay.Config{TTL: 10 * time.Minute, Notifier: f.notes, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	for _, fn := range s.Funcs() {
		f.ops[fn.Op] = fn
	}
	return f
}

var shop = host.AppRef{Merchant: "acme", App: "shop", Version: "1.0.0"}

func (f *fixture) call(ref host.AppRef, person, op string, req any) (pay.OrderView, error) {
	data, _ := json.Marshal(req)
	c := &host.Call{Caller: host.Caller{App: ref, Person: person, Conversation: "c-" + person, Permissions: []host.Permission{host.PermPay}}, Out: f.out}
	resp, err := f.ops[op].Handle(context.Background(), c, data)
	var v pay.OrderView
	if err == nil {
		if jerr := json.Unmarshal(resp, &v); jerr != nil {
			panic(jerr)
		}
	}
	return v, err
}

func req(amount int64, cur, desc, key string) pay.Request {
	return pay.Request{Amount: amount, Currency: cur, Description: desc, IdempotencyKey: key}
}

func TestMinorUnits(t *testing.T) {
	for _, tc := range []struct {
		code string
		exp  int
		ok   bool
	}{{"EUR", 2, true}, {"JPY", 0, true}, {"KWD", 3, true}, {"CLF", 4, true}, {"eur", 0, false}, {"XAU", 0, false}, {"ABC", 0, false}, {"", 0, false}} {
		t.Run(tc.code, func(t *testing.T) {
			exp, ok := pay.MinorUnits(tc.code)
			if exp != tc.exp || ok != tc.ok {
				t.Fatalf("MinorUnits(%q) = %d, %v; want %d, %v", tc.code, exp, ok, tc.exp, tc.ok)
			}
		})
	}
}

func TestFormatAmount(t *testing.T) {
	for _, tc := range []struct {
		amount int64
		code   string
		want   string
	}{{1250, "EUR", "12.50 EUR"}, {5, "EUR", "0.05 EUR"}, {0, "USD", "0.00 USD"}, {-1250, "EUR", "-12.50 EUR"},
		{1000, "JPY", "1000 JPY"}, {1, "KWD", "0.001 KWD"}, {12345, "CLF", "1.2345 CLF"}} {
		t.Run(tc.want, func(t *testing.T) {
			if got := pay.FormatAmount(tc.amount, tc.code); got != tc.want {
				t.Fatalf("FormatAmount(%d, %q) = %q, want %q", tc.amount, tc.code, got, tc.want)
			}
		})
	}
}

func TestRequestValidation(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		req  any
	}{
		{"lower-case currency", req(100, "eur", "x", "k")},
		{"metal", req(100, "XAU", "x", "k")},
		{"zero amount", req(0, "EUR", "x", "k")},
		{"negative amount", req(-5, "EUR", "x", "k")},
		{"huge amount", req(pay.MaxAmount+1, "EUR", "x", "k")},
		{"no description", req(100, "EUR", "", "k")},
		{"no key", req(100, "EUR", "x", "")},
		{"float amount", map[string]any{"amount": 12.5, "currency": "EUR", "description": "x", "idempotency_key": "k"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.call(shop, "alice", "pay.request", tc.req); host.StatusOf(err) != host.StatusBadRequest {
				t.Fatalf("err = %v, want bad_request", err)
			}
		})
	}
	if _, err := f.call(shop, "", "pay.request", req(100, "EUR", "x", "k")); host.StatusOf(err) != host.StatusBadRequest {
		t.Fatalf("no person: %v", err)
	}
	if len(f.out.out) != 0 {
		t.Fatalf("prompts sent for invalid requests: %d", len(f.out.out))
	}
}

func TestOrderLifecycle(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if err := f.s.Fund(ctx, pay.PersonAccount("alice"), "EUR", 5000); err != nil {
		t.Fatal(err)
	}
	v, err := f.call(shop, "alice", "pay.request", req(1250, "EUR", "Blue shirt", "cart-1"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != pay.StateAwaiting || v.Amount != 1250 || v.Order == "" {
		t.Fatalf("order = %+v", v)
	}
	// The prompt goes to Alice only and says what she pays whom.
	if len(f.out.out) != 1 {
		t.Fatalf("%d prompts", len(f.out.out))
	}
	p := f.out.out[0]
	var body pay.PromptBody
	if p.Prompt == nil || json.Unmarshal(p.Prompt.Body, &body) != nil {
		t.Fatalf("emitted %+v, want a prompt", p)
	}
	if p.Prompt.Kind != f.s.PromptKind() || p.Prompt.ID != pay.PromptID(v.Order) || p.Prompt.Person != "alice" || body.Type != "payment" || body.Order != v.Order || body.Amount != 1250 ||
		body.Currency != "EUR" || body.Exponent != 2 || body.Merchant != "acme" || body.App != "shop" || body.Description != "Blue shirt" {
		t.Fatalf("prompt = %+v %+v", p, body)
	}
	// A retry returns the same order; other fields with the same key conflict.
	again, err := f.call(shop, "alice", "pay.request", req(1250, "EUR", "Blue shirt", "cart-1"))
	if err != nil || again.Order != v.Order {
		t.Fatalf("retry = %+v, %v", again, err)
	}
	if _, err := f.call(shop, "alice", "pay.request", req(1300, "EUR", "Blue shirt", "cart-1")); host.StatusOf(err) != host.StatusConflict {
		t.Fatalf("reused key: %v", err)
	}
	if _, err := f.call(shop, "bob", "pay.request", req(1250, "EUR", "Blue shirt", "cart-1")); host.StatusOf(err) != host.StatusConflict {
		t.Fatalf("reused key for another person: %v", err)
	}
	// The same key in another app is another order.
	other := host.AppRef{Merchant: "acme", App: "ride", Version: "1"}
	if o2, err := f.call(other, "alice", "pay.request", req(1250, "EUR", "Blue shirt", "cart-1")); err != nil || o2.Order == v.Order {
		t.Fatalf("other app same key = %+v, %v", o2, err)
	}
	// Only Alice can confirm; another app cannot see the order.
	if err := f.s.Confirm(ctx, "bob", v.Order); !errors.Is(err, pay.ErrNotFound) {
		t.Fatalf("Bob confirming: %v", err)
	}
	if _, err := f.call(other, "alice", "pay.status", pay.StatusRequest{Order: v.Order}); host.StatusOf(err) != host.StatusNotFound {
		t.Fatalf("other app status: %v", err)
	}
	if err := f.s.Confirm(ctx, "alice", v.Order); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Confirm(ctx, "alice", v.Order); err != nil {
		t.Fatalf("duplicate confirmation: %v", err)
	}
	if err := f.s.Decline(ctx, "alice", v.Order); !errors.Is(err, pay.ErrState) {
		t.Fatalf("declining a paid order: %v", err)
	}
	checkBalance(t, f.s, pay.PersonAccount("alice"), "EUR", 3750)
	checkBalance(t, f.s, pay.MerchantAccount("acme"), "EUR", 1250)
	if st, _ := f.call(shop, "alice", "pay.status", pay.StatusRequest{Order: v.Order}); st.Status != pay.StatePaid {
		t.Fatalf("status = %+v", st)
	}

	// Refunds: part, retry, too much, other app, rest.
	if _, err := f.call(other, "alice", "pay.refund", pay.RefundRequest{Order: v.Order, Amount: 100, IdempotencyKey: "r"}); host.StatusOf(err) != host.StatusNotFound {
		t.Fatalf("refund by another app: %v", err)
	}
	r, err := f.call(shop, "alice", "pay.refund", pay.RefundRequest{Order: v.Order, Amount: 250, IdempotencyKey: "r1"})
	if err != nil || r.Status != pay.StatePartiallyRefunded || r.Refunded != 250 {
		t.Fatalf("partial refund = %+v, %v", r, err)
	}
	if r, err = f.call(shop, "alice", "pay.refund", pay.RefundRequest{Order: v.Order, Amount: 250, IdempotencyKey: "r1"}); err != nil || r.Refunded != 250 {
		t.Fatalf("refund retry = %+v, %v", r, err)
	}
	if _, err := f.call(shop, "alice", "pay.refund", pay.RefundRequest{Order: v.Order, Amount: 300, IdempotencyKey: "r1"}); host.StatusOf(err) != host.StatusConflict {
		t.Fatalf("refund key reused: %v", err)
	}
	if _, err := f.call(shop, "alice", "pay.refund", pay.RefundRequest{Order: v.Order, Amount: 1001, IdempotencyKey: "r2"}); host.StatusOf(err) != host.StatusBadRequest {
		t.Fatalf("refund above what is left: %v", err)
	}
	if r, err = f.call(shop, "alice", "pay.refund", pay.RefundRequest{Order: v.Order, IdempotencyKey: "r3"}); err != nil || r.Status != pay.StateRefunded || r.Refunded != 1250 {
		t.Fatalf("refund of the rest = %+v, %v", r, err)
	}
	if _, err := f.call(shop, "alice", "pay.refund", pay.RefundRequest{Order: v.Order, Amount: 1, IdempotencyKey: "r4"}); host.StatusOf(err) != host.StatusConflict {
		t.Fatalf("refund of a refunded order: %v", err)
	}
	checkBalance(t, f.s, pay.PersonAccount("alice"), "EUR", 5000)
	checkBalance(t, f.s, pay.MerchantAccount("acme"), "EUR", 0)

	want := []pay.State{pay.StatePaid, pay.StatePartiallyRefunded, pay.StateRefunded}
	if got := f.notes.states(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("notifications = %v, want %v", got, want)
	}
	ev := f.notes.got[2].Event()
	if ev.Status != "refunded" || ev.Refunded != 1250 || ev.Order != v.Order || ev.IdempotencyKey != "cart-1" {
		t.Fatalf("event = %+v", ev)
	}
	if err := f.s.Audit(ctx); err != nil {
		t.Fatal(err)
	}
}

func checkBalance(t *testing.T, s *pay.Service, account, cur string, want int64) {
	t.Helper()
	got, err := s.Balance(context.Background(), account, cur)
	if err != nil || got != want {
		t.Fatalf("balance %s = %d, %v; want %d", account, got, err, want)
	}
}

func TestDeclineExpireInsufficient(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_ = f.s.Fund(ctx, pay.PersonAccount("alice"), "JPY", 1000)
	newOrder := func(key string, amount int64) string {
		o, _, err := f.s.NewOrder(ctx, shop, "alice", "c1", "web", req(amount, "JPY", "Ramen", key))
		if err != nil {
			t.Fatal(err)
		}
		return o.ID
	}
	tooMuch := newOrder("a", 5000)
	err := f.s.Confirm(ctx, "alice", tooMuch)
	if !errors.Is(err, pay.ErrInsufficientFunds) || host.StatusOf(err) != host.StatusInsufficientFunds {
		t.Fatalf("confirm without funds: %v (status %s)", err, host.StatusOf(err))
	}
	for _, part := range []string{"1000 JPY", "5000 JPY", tooMuch, "declined", "add money"} {
		if msg := host.MessageOf(err); !strings.Contains(msg, part) {
			t.Errorf("message %q does not say %q", msg, part)
		}
	}
	if o, _ := f.s.Order(ctx, tooMuch); o.State != pay.StateDeclined || o.Reason != pay.ReasonInsufficientFunds {
		t.Fatalf("order = %+v", o)
	}
	declined := newOrder("b", 100)
	if err := f.s.Decline(ctx, "alice", declined); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Decline(ctx, "alice", declined); err != nil {
		t.Fatalf("declining twice: %v", err)
	}
	if err := f.s.Confirm(ctx, "alice", declined); !errors.Is(err, pay.ErrState) || host.StatusOf(err) != host.StatusConflict {
		t.Fatalf("confirming a declined order: %v", err)
	}
	late := newOrder("c", 100)
	swept := newOrder("d", 100)
	f.clk.Add(11 * time.Minute)
	if err := f.s.Confirm(ctx, "alice", late); !errors.Is(err, pay.ErrExpired) || host.StatusOf(err) != host.StatusConflict {
		t.Fatalf("confirming after the TTL: %v", err)
	}
	n, err := f.s.Sweep(ctx, f.clk.Now())
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	if o, _ := f.s.Order(ctx, swept); o.State != pay.StateExpired {
		t.Fatalf("swept order = %s", o.State)
	}
	if n, _ := f.s.Sweep(ctx, f.clk.Now()); n != 0 {
		t.Fatalf("second Sweep expired %d", n)
	}
	want := []pay.State{pay.StateDeclined, pay.StateDeclined, pay.StateExpired, pay.StateExpired}
	if got := f.notes.states(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("notifications = %v, want %v", got, want)
	}
	checkBalance(t, f.s, pay.PersonAccount("alice"), "JPY", 1000)
	if err := f.s.Audit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSweeperExpires checks the service's own sweeper: it expires an
// order nobody answered and tells the Notifier, and Close stops it and the
// service.
func TestSweeperExpires(t *testing.T) {
	ctx := context.Background()
	n := &notes{}
	s, err := pay.Open(openDB(t), pay.Config{TTL: time.Millisecond, SweepInterval: time.Millisecond, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	o, _, err := s.NewOrder(ctx, shop, "alice", "", "", req(1, "EUR", "x", "k"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		got, _ := s.Order(ctx, o.ID)
		if got.State == pay.StateExpired {
			break
		}
		if i > 5000 {
			t.Fatal("order never expired")
		}
		time.Sleep(time.Millisecond)
	}
	s.Close()
	s.Close()
	if _, _, err := s.NewOrder(ctx, shop, "alice", "", "", req(1, "EUR", "x", "k2")); err == nil {
		t.Fatal("a closed service took an order")
	}
	if st := n.states(); len(st) == 0 || st[0] != pay.StateExpired {
		t.Fatalf("outcomes told %v, want the expiry", st)
	}
}

// TestLedgerProperty runs random requests, confirmations (some duplicated
// and concurrent), declines, refunds and expiries from many goroutines,
// then checks the ledger's invariants.
func TestLedgerProperty(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	people := []string{"p0", "p1", "p2", "p3"}
	apps := []host.AppRef{shop, {Merchant: "acme", App: "ride", Version: "1"}, {Merchant: "globex", App: "lunch", Version: "1"}}
	curs := []string{"EUR", "JPY"}
	for _, p := range people {
		for _, c := range curs {
			if err := f.s.Fund(ctx, pay.PersonAccount(p), c, 3000); err != nil {
				t.Fatal(err)
			}
		}
	}
	var (
		mu     sync.Mutex
		orders []pay.Order
		keys   atomic.Int64
	)
	pick := func(r *rand.Rand) (pay.Order, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(orders) == 0 {
			return pay.Order{}, false
		}
		return orders[r.IntN(len(orders))], true
	}
	const workers, steps = 8, 150
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 42))
			for range steps {
				switch op := r.IntN(10); {
				case op < 3:
					key := fmt.Sprint("k", keys.Add(1)%40) // keys repeat: retries and conflicts
					o, _, err := f.s.NewOrder(ctx, apps[r.IntN(len(apps))], people[r.IntN(len(people))], "", "",
						req(1+r.Int64N(900), curs[r.IntN(len(curs))], "thing", key))
					if err == nil {
						mu.Lock()
						orders = append(orders, o)
						mu.Unlock()
					} else if !errors.Is(err, pay.ErrConflict) {
						t.Errorf("NewOrder: %v", err)
					}
				case op < 6:
					if o, ok := pick(r); ok {
						// Two confirmations at once.
						var cw sync.WaitGroup
						for range 2 {
							cw.Add(1)
							go func() { defer cw.Done(); _ = f.s.Confirm(ctx, o.Person, o.ID) }()
						}
						cw.Wait()
					}
				case op < 7:
					if o, ok := pick(r); ok {
						_ = f.s.Decline(ctx, o.Person, o.ID)
					}
				case op < 9:
					if o, ok := pick(r); ok {
						_, err := f.s.Refund(ctx, o.Ref, o.ID, r.Int64N(o.Amount/2+1), fmt.Sprint("r", r.IntN(30)))
						if err != nil && !errors.Is(err, pay.ErrState) && !errors.Is(err, pay.ErrInvalid) &&
							!errors.Is(err, pay.ErrConflict) && !errors.Is(err, pay.ErrInsufficientFunds) {
							t.Errorf("Refund: %v", err)
						}
					}
				default:
					f.clk.Add(time.Duration(r.IntN(120)) * time.Second)
					if _, err := f.s.Sweep(ctx, f.clk.Now()); err != nil {
						t.Errorf("Sweep: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := f.s.Audit(ctx); err != nil {
		t.Fatal(err)
	}
	// Every order settled at most once, and refunded no more than paid.
	paidNotes := map[string]int{}
	for _, o := range f.notes.got {
		if o.State == pay.StatePaid {
			paidNotes[o.ID]++
		}
	}
	var paid int
	for id, n := range paidNotes {
		paid++
		if n != 1 {
			t.Errorf("order %s notified paid %d times", id, n)
		}
		o, _ := f.s.Order(ctx, id)
		if o.Refunded > o.Amount || o.Refunded < 0 {
			t.Errorf("order %s refunded %d of %d", id, o.Refunded, o.Amount)
		}
	}
	if paid == 0 {
		t.Fatal("no order was paid: the test exercised nothing")
	}
	// Money is conserved: people + merchants hold exactly what was funded.
	for _, c := range curs {
		var total int64
		for _, p := range people {
			b, _ := f.s.Balance(ctx, pay.PersonAccount(p), c)
			total += b
		}
		for _, m := range []string{"acme", "globex"} {
			b, _ := f.s.Balance(ctx, pay.MerchantAccount(m), c)
			total += b
		}
		if total != int64(len(people))*3000 {
			t.Errorf("%s in wallets = %d, want %d", c, total, len(people)*3000)
		}
	}
}

// BenchmarkPayRequestConfirm measures a request, its confirmation and
// settlement, durable (bbolt fsync on), serially and from parallel
// goroutines (which share commits).
func BenchmarkPayRequestConfirm(b *testing.B) {
	run := func(b *testing.B, parallel bool) {
		ctx := context.Background()
		s, err := pay.Open(openDB(b), pay.Config{})
		if err != nil {
			b.Fatal(err)
		}
		var n atomic.Int64
		one := func() {
			i := n.Add(1)
			person := fmt.Sprint("p", i%64)
			if i <= 64 {
				_ = s.Fund(ctx, pay.PersonAccount(person), "EUR", pay.MaxAmount)
			}
			o, _, err := s.NewOrder(ctx, shop, person, "", "", req(100, "EUR", "coffee", fmt.Sprint("k", i)))
			if err != nil {
				b.Error(err)
				return
			}
			if err := s.Confirm(ctx, person, o.ID); err != nil {
				b.Error(err)
			}
		}
		for range 64 {
			one()
		}
		b.ResetTimer()
		if parallel {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					one()
				}
			})
		} else {
			for range b.N {
				one()
			}
		}
	}
	b.Run("serial", func(b *testing.B) { run(b, false) })
	b.Run("parallel", func(b *testing.B) { run(b, true) })
}

// TestOutcomesSurviveRestart: an outcome kept until its app has it
// (OutcomeDelivered, then a Sweep) reaches the Notifier again after a
// restart; one delivered and swept does not come back.
func TestOutcomesSurviveRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pay.db")
	open := func(n pay.Notifier) (*bbolt.DB, *pay.Service) {
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s, err := pay.Open(db, pay.Config{Notifier: n})
		if err != nil {
			t.Fatal(err)
		}
		return db, s
	}
	first := &notes{}
	db, s := open(first)
	_ = s.Fund(ctx, pay.PersonAccount("alice"), "EUR", 1000)
	swept, _, _ := s.NewOrder(ctx, shop, "alice", "", "", req(100, "EUR", "a", "k1"))
	_ = s.Confirm(ctx, "alice", swept.ID)
	if _, err := s.Sweep(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Undelivered(ctx); n != 1 || len(first.got) != 1 {
		t.Fatalf("after Sweep, before delivery: %d outcomes undelivered, notified %d times; want 1 and 1", n, len(first.got))
	}
	s.OutcomeDelivered(first.got[0]) // the app had it
	if _, err := s.Sweep(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Undelivered(ctx); n != 0 {
		t.Fatalf("after delivery and Sweep %d outcomes undelivered", n)
	}
	// Two more outcomes: one handed over and delivered, but no Sweep ran
	// since; one handed over and never delivered (the process stops with
	// it queued).
	delivered, _, _ := s.NewOrder(ctx, shop, "alice", "", "", req(150, "EUR", "c", "k3"))
	_ = s.Decline(ctx, "alice", delivered.ID)
	s.OutcomeDelivered(first.got[len(first.got)-1])
	pending, _, _ := s.NewOrder(ctx, shop, "alice", "", "", req(200, "EUR", "b", "k2"))
	_ = s.Decline(ctx, "alice", pending.ID)
	if n, _ := s.Undelivered(ctx); n != 2 || len(first.got) != 3 {
		t.Fatalf("before the restart %d outcomes undelivered, notified %d times; want 2 and 3", n, len(first.got))
	}
	db.Close() // stops before its next Sweep

	second := &notes{}
	db, s = open(second)
	defer db.Close()
	if _, err := s.Sweep(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	// Both are handed over again: the delivery of the first was not yet
	// recorded by a Sweep (the app gets it twice: at least once).
	var ids []string
	for _, o := range second.got {
		ids = append(ids, o.ID)
		if o.State != pay.StateDeclined {
			t.Fatalf("after the restart %s came back %s", o.ID, o.State)
		}
	}
	slices.Sort(ids)
	want := []string{delivered.ID, pending.ID}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("after the restart the notifier got %v, want %v", ids, want)
	}
	for _, o := range second.got {
		s.OutcomeDelivered(o)
	}
	_, _ = s.Sweep(ctx, time.Now())
	if n, _ := s.Undelivered(ctx); n != 0 || len(second.got) != 2 {
		t.Fatalf("undelivered %d, notified %d times", n, len(second.got))
	}
}

// FuzzOps: whatever an app sends to the payment operations, the host never
// fails internally and the ledger stays balanced.
func FuzzOps(f *testing.F) {
	f.Add("pay.request", `{"amount":1250,"currency":"EUR","description":"x","idempotency_key":"k"}`)
	f.Add("pay.request", `{"amount":9223372036854775807,"currency":"JPY","description":"x","idempotency_key":"k"}`)
	f.Add("pay.refund", `{"order":"ord_x","amount":-1,"idempotency_key":"r"}`)
	f.Add("pay.status", `{"order":""}`)
	fx := newFixture(f)
	_ = fx.s.Fund(context.Background(), pay.PersonAccount("alice"), "EUR", 100000)
	f.Fuzz(func(t *testing.T, op, req string) {
		fn, ok := fx.ops[op]
		if !ok {
			return
		}
		c := &host.Call{Caller: host.Caller{App: shop, Person: "alice", Permissions: []host.Permission{host.PermPay}}, Out: fx.out}
		resp, err := fn.Handle(context.Background(), c, []byte(req))
		if st := host.StatusOf(err); st == host.StatusInternal {
			t.Fatalf("internal error for %s %s: %v", op, req, err)
		}
		if err == nil && !json.Valid(resp) {
			t.Fatalf("invalid response %q", resp)
		}
		var v pay.OrderView
		if err == nil && op == "pay.request" && json.Unmarshal(resp, &v) == nil {
			_ = fx.s.Confirm(context.Background(), "alice", v.Order)
		}
		if err := fx.s.Audit(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
