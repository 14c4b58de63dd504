//go:build !wasip1

package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"

	"passerelle/host"
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
	eng := benchEngine(b, cacheDir)
	defer eng.Close(ctx)
	app, err := eng.Load(ctx, host.AppRef{Merchant: "m1"}, echoWasm)
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

// BenchmarkColdStartGo measures an already-compiled echo becoming ready and
// serving its first event. The sandbox API has no call that makes only a new
// instance, so each iteration is Load from the engine's warm compilation
// cache (check, runtime with WASI and host module, compile cache hit, one
// instance with _initialize), the first open event, and Close.
func BenchmarkColdStartGo(b *testing.B) {
	ctx := context.Background()
	eng := benchEngine(b, "")
	defer eng.Close(ctx)
	warm, err := eng.Load(ctx, host.AppRef{Merchant: "m1"}, echoWasm) // fills the in-memory cache
	if err != nil {
		b.Fatal(err)
	}
	warm.Close(ctx)
	ev := event(b, host.EventOpen, "")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		app, err := eng.Load(ctx, host.AppRef{Merchant: "m1"}, echoWasm)
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
			if _, err := eng.Load(ctx, host.AppRef{Merchant: "m1"}, echoWasm); err != nil {
				b.Fatal(err)
			}
			eng.Close(ctx)
		}
	})
	b.Run("disk-cache", func(b *testing.B) {
		dir := filepath.Join(b.TempDir(), "cache")
		eng := benchEngine(b, dir)
		if _, err := eng.Load(ctx, host.AppRef{Merchant: "m1"}, echoWasm); err != nil {
			b.Fatal(err)
		}
		eng.Close(ctx)
		b.ResetTimer()
		for b.Loop() {
			eng := benchEngine(b, dir)
			if _, err := eng.Load(ctx, host.AppRef{Merchant: "m1"}, echoWasm); err != nil {
				b.Fatal(err)
			}
			eng.Close(ctx)
		}
	})
}
