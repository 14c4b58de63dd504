//go:build !wasip1

package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"passerelle/host"
	"passerelle/runtime/apptest"
	"passerelle/runtime/sandbox"
)

type discard struct{}

func (discard) Emit(context.Context, host.Outgoing) error { return nil }

func benchEngine(b *testing.B, dir string) *sandbox.Engine {
	b.Helper()
	ctx := context.Background()
	eng, err := sandbox.New(ctx, sandbox.Config{
		CacheDir: dir,
		Funcs:    []host.Func{{Op: "chat.send", Permission: host.PermChat, Handle: func(context.Context, *host.Call, []byte) ([]byte, error) { return []byte(`{"id":"m1"}`), nil }}},
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
// app becoming ready (instantiation, Go runtime start-up in _initialize)
// and serving its first event. The sandbox has no call that only makes an
// instance, so each iteration first sends, with the timer stopped, an event
// whose reply exceeds the engine's call_bytes limit: the runtime discards
// that instance, and the timed event must start a new one.
func BenchmarkColdStartGo(b *testing.B) {
	ctx := context.Background()
	eng, err := sandbox.New(ctx, sandbox.Config{
		Funcs:    []host.Func{{Op: "chat.send", Permission: host.PermChat, Handle: func(context.Context, *host.Call, []byte) ([]byte, error) { return []byte(`{"id":"m1"}`), nil }}},
		Defaults: host.Limits{CallBytes: 64},
		PoolSize: 1,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close(ctx)
	app, err := eng.Load(ctx, host.AppRef{Merchant: "m1"}, apptest.Build(b, "."))
	if err != nil {
		b.Fatal(err)
	}
	kill := event(b, host.EventMessage, strings.Repeat("x", 100))
	first := event(b, host.EventMessage, "hi")
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		var le *sandbox.LimitError
		if _, err := app.Dispatch(ctx, kill); !errors.As(err, &le) {
			b.Fatalf("want a call_bytes LimitError, got %v", err)
		}
		b.StartTimer()
		if res, err := app.Dispatch(ctx, first); err != nil || res.HostCalls != 1 {
			b.Fatalf("first event: %+v %v", res, err)
		}
	}
	b.StopTimer()
	if st := app.Stats(); st.Created < uint64(b.N) {
		b.Fatalf("%d instances created for %d iterations: the timed events reused instances", st.Created, b.N)
	}
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
