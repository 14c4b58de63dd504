package hostevents_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/host/services"
	"github.com/passerelle/passerelle/runtime/hostevents"
)

func timerEvent(id string) services.Event {
	return services.Event{Event: host.Event{Type: host.EventTimer, Timer: &host.TimerEvent{ID: id}}}
}

// TestNeverDrops: far more events than any former buffer (64 in dev, 1024
// in serve) pushed while nobody delivers all arrive, in order.
func TestNeverDrops(t *testing.T) {
	q := hostevents.New()
	const n = 5000
	for i := range n {
		q.Push(context.Background(), timerEvent(fmt.Sprint(i)))
	}
	var got []string
	all := make(chan struct{})
	d := hostevents.NewDeliverer(q, func(_ context.Context, ev services.Event) error {
		got = append(got, ev.Event.Timer.ID)
		if len(got) == n {
			close(all)
		}
		return nil
	})
	select {
	case <-all:
	case <-time.After(time.Minute):
		d.Close()
		t.Fatalf("delivered %d of %d", len(got), n)
	}
	d.Close()
	for i, id := range got {
		if id != fmt.Sprint(i) {
			t.Fatalf("event %d is %s: out of order", i, id)
		}
	}
	if len(got) != n {
		t.Fatalf("delivered %d of %d", len(got), n)
	}
}

func TestTake(t *testing.T) {
	q := hostevents.New()
	ctx := context.Background()
	q.Push(ctx, timerEvent("t1"))
	q.Push(ctx, services.Event{Event: host.Event{Type: host.EventPayment, Payment: &host.PaymentEvent{Order: "o1"}}})
	q.Push(ctx, timerEvent("t2"))
	if got := q.Take(host.EventTimer); len(got) != 2 || got[0].Event.Timer.ID != "t1" || got[1].Event.Timer.ID != "t2" {
		t.Fatalf("Take(timer) = %+v", got)
	}
	if got := q.Pending(); len(got) != 1 || got[0].Event.Payment.Order != "o1" {
		t.Fatalf("Pending = %+v", got)
	}
	if got := q.Take(); len(got) != 1 || len(q.Pending()) != 0 {
		t.Fatalf("Take() = %+v, then %d pending", got, len(q.Pending()))
	}
}

// TestServices: the payment service keeps an outcome until the queue
// delivered it; one whose delivery was cut short by a stop is kept for the
// next start; a timer whose delivery failed is tried again.
func TestServices(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "h.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := hostevents.New()
	s, err := services.Open(db, services.Config{Events: q.Push})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref := host.AppRef{Merchant: "m", App: "shop", Version: "1"}
	alice, err := s.Identity.CreatePerson(ctx, "Alice", "")
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Pay.Fund(ctx, pay.PersonAccount(alice.ID), "EUR", 1000)
	order := func(key string) {
		o, _, err := s.Pay.NewOrder(ctx, ref, alice.ID, "cv", "web", pay.Request{Amount: 100, Currency: "EUR", Description: "tea", IdempotencyKey: key})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Pay.Confirm(ctx, alice.ID, o.ID); err != nil {
			t.Fatal(err)
		}
	}
	kept := func() int {
		if _, err := s.Pay.Sweep(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		n, _ := s.Pay.Undelivered(ctx)
		return n
	}

	// Stopped before delivery: kept.
	order("k1")
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	for _, ev := range q.Take() {
		ev.Done(stopped, stopped.Err())
	}
	if n := kept(); n != 1 {
		t.Fatalf("%d outcomes kept after a stop, want 1", n)
	}

	// Delivered by the Deliverer, even refused by the app: forgotten.
	order("k2")
	var mu sync.Mutex
	var delivered []string
	fails := 1
	d := hostevents.NewDeliverer(q, func(_ context.Context, ev services.Event) error {
		mu.Lock()
		defer mu.Unlock()
		delivered = append(delivered, ev.Event.Type)
		if ev.Event.Timer != nil && fails > 0 {
			fails--
			return errors.New("app busy")
		}
		return errors.New("the app refused it")
	})
	deadline := time.Now().Add(time.Minute)
	for kept() != 1 { // k1 stays: this process never handed it over again
		if time.Now().After(deadline) {
			t.Fatal("the delivered outcome was not forgotten")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A timer whose first delivery failed fires again.
	if _, err := s.Timers.After(ctx, host.Caller{App: ref, Person: alice.ID, Conversation: "cv"}, time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	if _, err := s.Timers.FireDue(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Timers.FireDue(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(delivered) != "[payment timer timer]" {
		t.Fatalf("delivered %v, want the payment, then the timer twice", delivered)
	}
}
