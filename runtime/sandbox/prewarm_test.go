package sandbox_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// blockingOutbox holds every Emit until release is closed.
type blockingOutbox struct {
	entered chan struct{}
	release chan struct{}
}

func (o *blockingOutbox) Emit(context.Context, host.Outgoing) error {
	o.entered <- struct{}{}
	<-o.release
	return nil
}

func TestPrewarmCounts(t *testing.T) {
	e, _ := newEngine(t, func(c *sandbox.Config) { c.PoolSize = 4 })
	a := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	ctx := context.Background()
	steps := []struct {
		name        string
		n           int
		want        int
		wantCreated uint64
	}{
		{"negative makes nothing", -3, 1, 1},
		{"zero makes nothing", 0, 1, 1},
		{"Load made the first", 1, 1, 1},
		{"up to three", 3, 3, 3},
		{"again is a no-op", 3, 3, 3},
		{"bounded by the pool", 100, 4, 4},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			got, err := a.Prewarm(ctx, s.n)
			if err != nil || got != s.want {
				t.Fatalf("Prewarm(%d) = %d, %v; want %d, nil", s.n, got, err, s.want)
			}
			st := a.Stats()
			if st.Idle != s.want || st.Created != s.wantCreated || st.Discarded != 0 {
				t.Errorf("stats = %+v; want %d idle, %d created", st, s.want, s.wantCreated)
			}
		})
	}
	t.Run("events use the warm instances", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 20 {
					if _, err := a.Dispatch(ctx, event(nil)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if st := a.Stats(); st.Created != 4 || st.Events != 80 || st.Idle != 4 {
			t.Errorf("stats = %+v; want the 4 prewarmed instances to serve 80 events", st)
		}
	})
}

func TestTrim(t *testing.T) {
	e, _ := newEngine(t, func(c *sandbox.Config) { c.PoolSize = 3 })
	a := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	ctx := context.Background()
	if n, err := a.Prewarm(ctx, 3); n != 3 || err != nil {
		t.Fatalf("Prewarm = %d, %v", n, err)
	}
	if got := a.Trim(1); got != 2 {
		t.Errorf("Trim(1) closed %d, want 2", got)
	}
	if st := a.Stats(); st.Idle != 1 || st.Discarded != 2 {
		t.Errorf("after Trim(1): %+v", st)
	}
	if got := a.Trim(-1); got != 1 {
		t.Errorf("Trim(-1) closed %d, want 1", got)
	}
	if got := a.Trim(0); got != 0 {
		t.Errorf("Trim(0) of an empty pool closed %d", got)
	}
	// An event on an empty pool makes an instance, as after a failure.
	if _, err := a.Dispatch(ctx, event(nil)); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Prewarm(ctx, 3); n != 3 || err != nil {
		t.Fatalf("Prewarm after Trim = %d, %v", n, err)
	}
	if st := a.Stats(); st.Created != 6 || st.Idle != 3 {
		t.Errorf("stats = %+v; want 6 created, 3 idle", st)
	}
}

// TestPrewarmWithBusyInstances counts an instance running an event as
// existing, and Trim leaves it alone.
func TestPrewarmWithBusyInstances(t *testing.T) {
	e, _ := newEngine(t, func(c *sandbox.Config) { c.PoolSize = 2 })
	a := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	ctx := context.Background()
	ob := &blockingOutbox{entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error)
	go func() {
		_, err := a.Dispatch(ctx, event(ob))
		done <- err
	}()
	<-ob.entered // the only instance is inside chat.send
	if n, err := a.Prewarm(ctx, 2); n != 2 || err != nil {
		t.Errorf("Prewarm(2) with one busy = %d, %v; want 2", n, err)
	}
	if n, err := a.Prewarm(ctx, 2); n != 2 || err != nil {
		t.Errorf("Prewarm(2) again = %d, %v; want 2", n, err)
	}
	if st := a.Stats(); st.Busy != 1 || st.Idle != 1 || st.Created != 2 {
		t.Errorf("stats = %+v; want 1 busy, 1 idle", st)
	}
	if got := a.Trim(0); got != 1 {
		t.Errorf("Trim(0) closed %d, want only the idle one", got)
	}
	close(ob.release)
	if err := <-done; err != nil {
		t.Fatalf("busy event: %v", err)
	}
	if st := a.Stats(); st.Idle != 1 || st.Busy != 0 || st.Discarded != 1 {
		t.Errorf("stats = %+v; the busy instance should be back in the pool", st)
	}
}

func TestPrewarmStops(t *testing.T) {
	e, _ := newEngine(t, func(c *sandbox.Config) { c.PoolSize = 4 })
	wasm := fixture(t, "noop", nil, host.Limits{})
	t.Run("cancelled context", func(t *testing.T) {
		a := load(t, e, wasm)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n, err := a.Prewarm(ctx, 4)
		if n != 1 || !errors.Is(err, context.Canceled) {
			t.Errorf("Prewarm = %d, %v; want 1 and context.Canceled", n, err)
		}
		if st := a.Stats(); st.Created != 1 {
			t.Errorf("stats = %+v; want no instance made", st)
		}
	})
	t.Run("closed app", func(t *testing.T) {
		a := load(t, e, wasm)
		if err := a.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		n, err := a.Prewarm(context.Background(), 4)
		if n != 0 || !errors.Is(err, sandbox.ErrClosed) {
			t.Errorf("Prewarm after Close = %d, %v; want 0, ErrClosed", n, err)
		}
		if got := a.Trim(0); got != 0 {
			t.Errorf("Trim after Close closed %d", got)
		}
	})
}

// TestPrewarmInitFails uses a guest whose _initialize traps on half of its
// instantiations: Load can succeed and a later instance still fail.
// Prewarm reports the typed error, keeps what it made and leaves the app
// usable.
func TestPrewarmInitFails(t *testing.T) {
	e, logs := newEngine(t, func(c *sandbox.Config) { c.PoolSize = 4 })
	wasm := fixture(t, "init_random", nil, host.Limits{})
	ctx := context.Background()
	// Each attempt fails to fill the pool with probability 7/8: a run
	// without a failure in 60 attempts has odds of 8^-60.
	for attempt := range 60 {
		a, err := e.Load(ctx, host.AppRef{Merchant: "m1"}, wasm)
		if err != nil {
			var te *sandbox.TrapError
			if !errors.As(err, &te) {
				t.Fatalf("Load: %v, want a TrapError", err)
			}
			continue
		}
		n, err := a.Prewarm(ctx, 4)
		if err == nil {
			if n != 4 {
				t.Fatalf("Prewarm = %d, nil; want 4", n)
			}
			_ = a.Close(ctx)
			continue
		}
		var te *sandbox.TrapError
		if !errors.As(err, &te) || !strings.Contains(te.Reason, "while starting") {
			t.Fatalf("Prewarm error = %v, want a TrapError while starting", err)
		}
		st := a.Stats()
		if n < 1 || n > 3 || st.Idle != n || st.Traps != 1 || st.Created != uint64(n) {
			t.Errorf("attempt %d: Prewarm = %d with stats %+v; want the instances made before the failure idle and 1 trap", attempt, n, st)
		}
		// The app still serves events on its warm instances.
		if _, err := a.Dispatch(ctx, &sandbox.Event{Payload: []byte(`{"v":1,"type":"open","id":"e1"}`)}); err != nil {
			t.Errorf("Dispatch after a failed Prewarm: %v", err)
		}
		if len(logs.find("failure")) == 0 {
			t.Error("the failed instantiation was not logged")
		}
		return
	}
	t.Fatal("no instantiation failed in 60 attempts")
}

// TestPrewarmConcurrent runs Prewarm, Trim and Dispatch together, then
// checks that the pool bound held and that every instance is accounted for.
func TestPrewarmConcurrent(t *testing.T) {
	e, _ := newEngine(t, func(c *sandbox.Config) { c.PoolSize = 3 })
	a := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for range 30 {
				if _, err := a.Dispatch(ctx, event(nil)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 30 {
			if n, err := a.Prewarm(ctx, 3); err != nil || n < 1 || n > 3 {
				t.Errorf("Prewarm = %d, %v", n, err)
				return
			}
			a.Trim(1)
		}
	})
	wg.Wait()
	st := a.Stats()
	if live := st.Created - st.Discarded; live != uint64(st.Idle) || st.Idle > 3 || st.Busy != 0 || st.Events != 90 {
		t.Errorf("stats = %+v; want created - discarded = idle <= 3", st)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Idle != 0 || st.Created != st.Discarded {
		t.Errorf("after Close: %+v; want every instance closed", st)
	}
}
