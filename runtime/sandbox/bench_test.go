package sandbox_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

func benchApp(b *testing.B) *sandbox.App {
	e, _ := newEngine(b, func(c *sandbox.Config) { c.PoolSize = 4 })
	// A generous deadline: on a loaded machine a stall of the process must
	// not turn into a failed benchmark.
	return load(b, e, fixture(b, "noop", nil, host.Limits{EventTimeoutMS: 30000}))
}

// BenchmarkDispatchNoop dispatches a warm no-op event.
func BenchmarkDispatchNoop(b *testing.B) {
	a := benchApp(b)
	ctx := context.Background()
	ev := &sandbox.Event{Payload: []byte(`{"v":1,"type":"open","id":"e1","app":"fx-noop"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Dispatch(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDispatchParallel dispatches from many goroutines (8 per CPU) to
// one app with a pool of 4 and reports the latency percentiles of one
// Dispatch, waiting for an instance included.
func BenchmarkDispatchParallel(b *testing.B) {
	a := benchApp(b)
	ev := &sandbox.Event{Payload: []byte(`{"v":1,"type":"open","id":"e1","app":"fx-noop"}`)}
	var mu sync.Mutex
	var all []time.Duration
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		lat := make([]time.Duration, 0, 1<<16)
		for pb.Next() {
			start := time.Now()
			if _, err := a.Dispatch(ctx, ev); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(start))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2]), "p50-ns")
	b.ReportMetric(float64(all[len(all)*99/100]), "p99-ns")
}

type discardLog struct{}

func (discardLog) AppLog(host.AppRef, sandbox.LogRecord) {}

// BenchmarkDispatchEcho dispatches an event that makes one host call
// (chat.send), reads its result and logs it.
func BenchmarkDispatchEcho(b *testing.B) {
	e, _ := newEngine(b, func(c *sandbox.Config) { c.AppLog = discardLog{} })
	a := load(b, e, fixture(b, "echo", chat, host.Limits{EventTimeoutMS: 30000}))
	ctx := context.Background()
	ev := &sandbox.Event{Payload: []byte(payload), Out: discardOutbox{}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Dispatch(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

type discardOutbox struct{}

func (discardOutbox) Emit(context.Context, host.Outgoing) error { return nil }

// BenchmarkDispatchRecurse dispatches an event that recurses without end
// (testdata/recurse.wat); B/op is the memory the event's call stack took.
func BenchmarkDispatchRecurse(b *testing.B) {
	e, _ := newEngine(b, func(c *sandbox.Config) { c.PoolSize = 1 })
	a := load(b, e, fixture(b, "recurse", nil, host.Limits{EventTimeoutMS: 120000}))
	ev := &sandbox.Event{Payload: []byte(`{}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Dispatch(context.Background(), ev); err == nil {
			b.Fatal("endless recursion succeeded")
		}
	}
}
