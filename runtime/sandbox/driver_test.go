package sandbox_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"passerelle/host"
	"passerelle/runtime/sandbox"
)

// TestDirectCalls checks the per-event call path kept for the benchmark
// comparison: events succeed and an infinite loop still stops.
func TestDirectCalls(t *testing.T) {
	e, _ := newEngine(t, nil)
	sandbox.UseDirectCalls(e)
	bad := load(t, e, fixture(t, "loop", nil, host.Limits{EventTimeoutMS: 30}))
	good := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	for range 2 {
		_, err := bad.Dispatch(context.Background(), event(nil))
		wantLimit("deadline", 30, 0, "deadline: ")(t, err)
		if _, err := good.Dispatch(context.Background(), event(nil)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDriverGoroutinesStop: every instance runs its events on a goroutine
// of its own; closing instances (Trim, a failure, App.Close with a context
// already done, Engine.Close) stops them all.
func TestDriverGoroutinesStop(t *testing.T) {
	settle := func() int {
		runtime.GC()
		return runtime.NumGoroutine()
	}
	before := settle()
	e, err := sandbox.New(context.Background(), sandbox.Config{Funcs: []host.Func{chatSend()}, PoolSize: 4,
		Defaults: host.Limits{EventTimeoutMS: 30000}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	good := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	if n, err := good.Prewarm(ctx, 4); n != 4 || err != nil {
		t.Fatalf("Prewarm = %d, %v", n, err)
	}
	for range 10 {
		if _, err := good.Dispatch(ctx, event(nil)); err != nil {
			t.Fatal(err)
		}
	}
	good.Trim(2)
	bad := load(t, e, fixture(t, "loop", nil, host.Limits{EventTimeoutMS: 20}))
	if _, err := bad.Dispatch(ctx, event(nil)); err == nil {
		t.Fatal("looping event succeeded")
	}
	idle := load(t, e, fixture(t, "noop", nil, host.Limits{}))
	if _, err := idle.Prewarm(ctx, 4); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	_ = idle.Close(done) // does not wait for the pool: its instances stop on their own
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Goroutines end just after the channel operations Close waits on;
	// give the scheduler a moment before counting.
	deadline := time.Now().Add(10 * time.Second)
	for settle() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := settle(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
