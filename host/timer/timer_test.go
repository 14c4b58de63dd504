package timer_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/timer"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fired struct {
	mu   sync.Mutex
	got  []timer.Timer
	fail int // fail this many calls first
}

func (f *fired) Fire(ctx context.Context, t timer.Timer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail > 0 {
		f.fail--
		return errors.New("app router unavailable")
	}
	f.got = append(f.got, t)
	return nil
}

func (f *fired) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []string
	for _, t := range f.got {
		s = append(s, t.ID)
	}
	return s
}

func openDB(t testing.TB, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

var (
	shop   = host.AppRef{Merchant: "acme", App: "shop", Version: "1.0.0"}
	caller = host.Caller{App: shop, Person: "alice", Conversation: "c1", Surface: "web", Permissions: []host.Permission{host.PermTimer}}
)

func call(s *timer.Service, c host.Caller, op, req string) ([]byte, error) {
	for _, f := range s.Funcs() {
		if f.Op == op {
			return f.Handle(context.Background(), &host.Call{Caller: c, Out: nil}, []byte(req))
		}
	}
	panic(op)
}

func TestOps(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "t.db"))
	defer db.Close()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f := &fired{}
	s, err := timer.Open(db, timer.Config{Fire: f.Fire, MaxPending: 3, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tc := range []struct {
		name, op, req string
		c             host.Caller
		want          host.Status
	}{
		{"set", "timer.after", `{"after_ms":60000,"payload":{"order":"o1"}}`, caller, host.StatusOK},
		{"set no payload", "timer.after", `{"after_ms":1000}`, caller, host.StatusOK},
		{"zero delay", "timer.after", `{"after_ms":0}`, caller, host.StatusBadRequest},
		{"too far", "timer.after", `{"after_ms":2592000001}`, caller, host.StatusBadRequest},
		{"not JSON", "timer.after", `[1]`, caller, host.StatusBadRequest},
		{"third", "timer.after", `{"after_ms":30000,"payload":"x"}`, caller, host.StatusOK},
		{"over the quota", "timer.after", `{"after_ms":1000}`, caller, host.StatusQuota},
		{"other app has its own quota", "timer.after", `{"after_ms":120000}`, host.Caller{App: host.AppRef{Merchant: "acme", App: "ride"}}, host.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := call(s, tc.c, tc.op, tc.req)
			if host.StatusOf(err) != tc.want {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
			if err == nil && tc.c.App == shop {
				var r timer.AfterResponse
				_ = json.Unmarshal(resp, &r)
				ids = append(ids, r.ID)
			}
		})
	}
	// Another app cannot cancel Alice's shop timer; the shop can, once.
	other := host.Caller{App: host.AppRef{Merchant: "evil", App: "shop"}}
	if _, err := call(s, other, "timer.cancel", `{"id":"`+ids[2]+`"}`); host.StatusOf(err) != host.StatusNotFound {
		t.Fatalf("cancel by another app: %v", err)
	}
	if _, err := call(s, caller, "timer.cancel", `{"id":"`+ids[2]+`"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := call(s, caller, "timer.cancel", `{"id":"`+ids[2]+`"}`); host.StatusOf(err) != host.StatusNotFound {
		t.Fatalf("second cancel: %v", err)
	}
	// Cancelling freed a place.
	if _, err := call(s, caller, "timer.after", `{"after_ms":90000}`); err != nil {
		t.Fatalf("after cancel: %v", err)
	}

	// Nothing is due yet; then the 1 s timer; then the 60 s one.
	ctx := context.Background()
	if n, _ := s.FireDue(ctx, clk.Now()); n != 0 {
		t.Fatalf("fired %d early", n)
	}
	clk.Add(time.Second)
	if n, _ := s.FireDue(ctx, clk.Now()); n != 1 || f.ids()[0] != ids[1] {
		t.Fatalf("fired %d: %v", n, f.ids())
	}
	clk.Add(time.Minute)
	if n, _ := s.FireDue(ctx, clk.Now()); n != 1 {
		t.Fatalf("fired %d", n)
	}
	got := f.got[1]
	if got.ID != ids[0] || got.Person != "alice" || got.Conversation != "c1" || got.Ref != shop || string(got.Event().Payload) != `{"order":"o1"}` {
		t.Fatalf("fired timer = %+v", got)
	}
	if p, _ := s.Pending(ctx, shop); len(p) != 1 {
		t.Fatalf("pending = %d, want 1", len(p))
	}
}

func TestRetryAndDrop(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "t.db"))
	defer db.Close()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f := &fired{fail: 2}
	s, _ := timer.Open(db, timer.Config{Fire: f.Fire, MaxAttempts: 3, RetryDelay: time.Second, Now: clk.Now})
	ctx := context.Background()
	tm, err := s.After(ctx, caller, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	_, _ = s.FireDue(ctx, clk.Now()) // fails, retried in 1 s
	if p, _ := s.Pending(ctx, shop); len(p) != 1 || p[0].Attempts != 1 {
		t.Fatalf("after a failure pending = %+v", p)
	}
	clk.Add(time.Second)
	_, _ = s.FireDue(ctx, clk.Now()) // fails, retried in 2 s
	clk.Add(time.Second)
	_, _ = s.FireDue(ctx, clk.Now())
	if len(f.ids()) != 0 {
		t.Fatal("fired before the backoff ended")
	}
	clk.Add(time.Second)
	_, _ = s.FireDue(ctx, clk.Now())
	if ids := f.ids(); len(ids) != 1 || ids[0] != tm.ID {
		t.Fatalf("fired = %v", ids)
	}
	// A timer whose delivery always fails is dropped after MaxAttempts.
	f.fail = 100
	_, _ = s.After(ctx, caller, time.Second, nil)
	for range 10 {
		clk.Add(time.Minute)
		_, _ = s.FireDue(ctx, clk.Now())
	}
	if p, _ := s.Pending(ctx, shop); len(p) != 0 {
		t.Fatalf("failing timer still pending: %+v", p)
	}
	if f.fail != 100-3 {
		t.Fatalf("Fire called %d times, want 3", 100-f.fail)
	}
}

func TestSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	db := openDB(t, path)
	s, _ := timer.Open(db, timer.Config{})
	tm, err := s.After(context.Background(), caller, time.Millisecond, json.RawMessage(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = openDB(t, path)
	defer db.Close()
	f := &fired{}
	s, _ = timer.Open(db, timer.Config{Fire: f.Fire, Poll: 10 * time.Millisecond})
	ctx := context.Background()
	// A timer set while the loop sleeps wakes it.
	tm2, _ := s.After(ctx, caller, time.Millisecond, nil)
	for i := 0; len(f.ids()) < 2; i++ {
		if i > 5000 {
			t.Fatalf("timers not fired after restart: %v", f.ids())
		}
		time.Sleep(time.Millisecond)
	}
	s.Close()
	s.Close()
	ids := f.ids()
	if ids[0] != tm.ID || ids[1] != tm2.ID {
		t.Fatalf("fired %v, want %s then %s", ids, tm.ID, tm2.ID)
	}
}

// FuzzOps: any request to the timer operations is answered without an
// internal error and never leaves more than MaxPending timers.
func FuzzOps(f *testing.F) {
	f.Add("timer.after", `{"after_ms":1000,"payload":{"a":1}}`)
	f.Add("timer.after", `{"after_ms":-1}`)
	f.Add("timer.cancel", `{"id":"tm_x"}`)
	db := openDB(f, filepath.Join(f.TempDir(), "t.db"))
	f.Cleanup(func() { db.Close() })
	s, _ := timer.Open(db, timer.Config{MaxPending: 5})
	f.Fuzz(func(t *testing.T, op, req string) {
		if op != "timer.after" && op != "timer.cancel" {
			return
		}
		resp, err := call(s, caller, op, req)
		if st := host.StatusOf(err); st == host.StatusInternal {
			t.Fatalf("internal error for %s %s: %v", op, req, err)
		}
		if err == nil && !json.Valid(resp) {
			t.Fatalf("invalid response %q", resp)
		}
		if p, _ := s.Pending(context.Background(), shop); len(p) > 5 {
			t.Fatalf("%d timers pending, limit 5", len(p))
		}
	})
}

// TestConcurrentQuota sets timers from many goroutines (their writes share
// commits): exactly MaxPending succeed, the others are refused, and the
// pending count matches the timers stored.
func TestConcurrentQuota(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "t.db"))
	t.Cleanup(func() { db.Close() })
	s, err := timer.Open(db, timer.Config{MaxPending: 20})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok []string
	)
	for range 8 {
		wg.Go(func() {
			for range 10 {
				tm, err := s.After(ctx, caller, time.Hour, nil)
				switch {
				case err == nil:
					mu.Lock()
					ok = append(ok, tm.ID)
					mu.Unlock()
				case !errors.Is(err, timer.ErrQuota):
					t.Errorf("After: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if p, _ := s.Pending(ctx, shop); len(ok) != 20 || len(p) != 20 {
		t.Fatalf("%d accepted, %d pending; want 20 and 20", len(ok), len(p))
	}
	// Cancelling frees a place; a second cancel of the same timer is refused.
	if err := s.Cancel(ctx, shop, ok[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Cancel(ctx, shop, ok[0]); !errors.Is(err, timer.ErrNotFound) {
		t.Fatalf("second cancel: %v, want ErrNotFound", err)
	}
	if _, err := s.After(ctx, caller, time.Hour, nil); err != nil {
		t.Fatalf("after a cancel: %v", err)
	}
}
