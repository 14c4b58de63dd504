//go:build !wasip1

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apptest"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

type discard struct{}

func (discard) Emit(context.Context, host.Outgoing) error { return nil }

func benchEngine(b *testing.B, dir string) *sandbox.Engine {
	b.Helper()
	ctx := context.Background()
	eng, err := sandbox.New(ctx, sandbox.Config{
		CacheDir: dir,
		Funcs:    []host.Func{{Op: "chat.send", Permission: host.PermChat, Handle: func(context.Context, *host.Call, []byte) ([]byte, error) { return []byte(`{"id":"m1"}`), nil }}},
		// A generous deadline: on a loaded machine a stall of the process
		// must not turn into a failed benchmark.
		Defaults: host.Limits{EventTimeoutMS: 30000},
		PoolSize: 1,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	return eng
}

func event(b *testing.B, typ, text string) *sandbox.Event {
	payload, err := json.Marshal(host.Event{V: 1, Type: typ, ID: "ev1", App: "echo", Conversation: "c1", User: "u_42", Surface: "web", Text: text})
	if err != nil {
		b.Fatal(err)
	}
	return &sandbox.Event{Payload: payload, Caller: host.Caller{Person: "p1", Conversation: "c1", Surface: "web", EventID: "ev1"}, Out: discard{}}
}

// BenchmarkDispatchEchoGo is one warm message event to the Go echo app: the
// SDK reads and decodes the event, encodes a reply, makes one chat.send call
// and reads its result.
func BenchmarkDispatchEchoGo(b *testing.B) {
	ctx := context.Background()
	eng := benchEngine(b, "")
	defer eng.Close(ctx)
	app, err := eng.Load(ctx, host.AppRef{Merchant: "m1"}, apptest.Build(b, "."))
	if err != nil {
		b.Fatal(err)
	}
	ev := event(b, host.EventMessage, "hello")
	if res, err := app.Dispatch(ctx, ev); err != nil || res.HostCalls != 1 {
		b.Fatalf("warm-up: %+v %v", res, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := app.Dispatch(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColdStartGo measures a new instance of the already-compiled echo
// app. Each iteration first closes the idle instance (App.Trim, timer
// stopped), then:
//
//   - instance: App.Prewarm makes one instance ready for its first event
//     (instantiation, then the Go runtime's start-up in _initialize);
//   - instance+first-event: a Dispatch makes the instance and serves its
//     first message event (what the first user of an idle app waits for).
func BenchmarkColdStartGo(b *testing.B) {
	ctx := context.Background()
	eng := benchEngine(b, "")
	defer eng.Close(ctx)
	app, err := eng.Load(ctx, host.AppRef{Merchant: "m1"}, apptest.Build(b, "."))
	if err != nil {
		b.Fatal(err)
	}
	first := event(b, host.EventMessage, "hi")
	run := func(b *testing.B, timed func() error) {
		before := app.Stats().Created
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			if n := app.Trim(0); n != 1 {
				b.Fatalf("Trim closed %d instances, want 1", n)
			}
			b.StartTimer()
			if err := timed(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if made := app.Stats().Created - before; made != uint64(b.N) {
			b.Fatalf("%d instances made for %d iterations", made, b.N)
		}
	}
	b.Run("instance", func(b *testing.B) {
		run(b, func() error {
			if n, err := app.Prewarm(ctx, 1); err != nil || n != 1 {
				return fmt.Errorf("Prewarm = %d, %v", n, err)
			}
			return nil
		})
	})
	b.Run("instance+first-event", func(b *testing.B) {
		run(b, func() error {
			if res, err := app.Dispatch(ctx, first); err != nil || res.HostCalls != 1 {
				return fmt.Errorf("first event: %+v %v", res, err)
			}
			return nil
		})
	})
}

// BenchmarkLoadEcho measures Load of the already-compiled echo from the
// engine's in-memory compilation cache, then its first event and Close:
// checking the module, a runtime with WASI and the host module, the cache
// hit (wazero still decodes and validates the 3 MiB module) and one instance.
func BenchmarkLoadEcho(b *testing.B) {
	ctx := context.Background()
	eng := benchEngine(b, "")
	defer eng.Close(ctx)
	warm, err := eng.Load(ctx, host.AppRef{Merchant: "m1"}, apptest.Build(b, ".")) // fills the cache
	if err != nil {
		b.Fatal(err)
	}
	warm.Close(ctx)
	ev := event(b, host.EventOpen, "")
	b.ReportAllocs()
	for b.Loop() {
		app, err := eng.Load(ctx, host.AppRef{Merchant: "m1"}, apptest.Build(b, "."))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := app.Dispatch(ctx, ev); err != nil {
			b.Fatal(err)
		}
		app.Close(ctx)
	}
}

// BenchmarkCompileEcho measures Load of echo by a new engine: "cold" compiles
// from scratch, "disk-cache" finds the compiled code in the on-disk cache a
// previous engine wrote (a restarted server).
func BenchmarkCompileEcho(b *testing.B) {
	ctx := context.Background()
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			eng := benchEngine(b, "")
			if _, err := eng.Load(ctx, host.AppRef{Merchant: "m1"}, apptest.Build(b, ".")); err != nil {
				b.Fatal(err)
			}
			eng.Close(ctx)
		}
	})
	b.Run("disk-cache", func(b *testing.B) {
		dir := filepath.Join(b.TempDir(), "cache")
		eng := benchEngine(b, dir)
		if _, err := eng.Load(ctx, host.AppRef{Merchant: "m1"}, apptest.Build(b, ".")); err != nil {
			b.Fatal(err)
		}
		eng.Close(ctx)
		b.ResetTimer()
		for b.Loop() {
			eng := benchEngine(b, dir)
			if _, err := eng.Load(ctx, host.AppRef{Merchant: "m1"}, apptest.Build(b, ".")); err != nil {
				b.Fatal(err)
			}
			eng.Close(ctx)
		}
	})
}
