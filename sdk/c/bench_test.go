//go:build !wasip1

package csdk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apptest"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// The echo app built with each guest SDK, measured side by side in one run
// (BENCHMARKS.md, "Guest SDKs side by side"), with the conformance
// vectors' hello.wat (no SDK: it sends a fixed text) as the floor. Every
// sub-benchmark reports the module's size as bytes/module.
var echoes = []struct{ sdk, dir string }{
	{"none", ""},
	{"go", goEchoDir},
	{"c", echoDir},
}

// floorModule is ../conformance/testdata/hello.wasm with a manifest.
func floorModule(b *testing.B) []byte {
	raw, err := os.ReadFile("../conformance/testdata/hello.wasm")
	if err != nil {
		b.Fatal(err)
	}
	wasm, err := wasmfile.EmbedManifest(raw, &host.Manifest{ABI: host.ABIVersion, ID: "hello", Name: "Hello", Version: "1", Permissions: []host.Permission{host.PermChat}})
	if err != nil {
		b.Fatal(err)
	}
	return wasm
}

type noOutbox struct{}

func (noOutbox) Emit(context.Context, host.Outgoing) error { return nil }

// newBenchEngine serves chat.send with a fixed answer, as miniapps/echo's
// benchmarks do, so the figures are the runtime's and the guest's.
func newBenchEngine(b *testing.B) *sandbox.Engine {
	b.Helper()
	eng, err := sandbox.New(context.Background(), sandbox.Config{
		Funcs: []host.Func{{Op: "chat.send", Permission: host.PermChat,
			Handle: func(context.Context, *host.Call, []byte) ([]byte, error) { return []byte(`{"id":"m1"}`), nil }}},
		Defaults: host.Limits{EventTimeoutMS: 30000}, // a stalled machine must not fail a benchmark
		PoolSize: 1,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	return eng
}

func echoEvent(b *testing.B) *sandbox.Event {
	payload, err := json.Marshal(host.Event{V: 1, Type: host.EventMessage, ID: "ev1", App: "echo", Conversation: "c1", User: "u_42", Surface: "web", Text: "hello"})
	if err != nil {
		b.Fatal(err)
	}
	return &sandbox.Event{Payload: payload, Caller: host.Caller{Person: "p1", Conversation: "c1", Surface: "web", EventID: "ev1"}, Out: noOutbox{}}
}

// eachEcho runs bench once per SDK with that SDK's echo module.
func eachEcho(b *testing.B, bench func(b *testing.B, wasm []byte)) {
	for _, e := range echoes {
		var wasm []byte
		if e.dir == "" {
			wasm = floorModule(b)
		} else {
			wasm = apptest.Build(b, e.dir)
		}
		b.Run("sdk="+e.sdk, func(b *testing.B) {
			bench(b, wasm)
			b.ReportMetric(float64(len(wasm)), "bytes/module")
		})
	}
}

func loadEcho(b *testing.B, eng *sandbox.Engine, wasm []byte) *sandbox.App {
	app, err := eng.Load(context.Background(), host.AppRef{Merchant: "m1"}, wasm)
	if err != nil {
		b.Fatal(err)
	}
	return app
}

// BenchmarkSDKCompile is Load by a new engine with no compilation cache:
// the check, wazero's compilation of the module and its first instance.
func BenchmarkSDKCompile(b *testing.B) {
	ctx := context.Background()
	eachEcho(b, func(b *testing.B, wasm []byte) {
		for b.Loop() {
			eng := newBenchEngine(b)
			loadEcho(b, eng, wasm)
			eng.Close(ctx)
		}
	})
}

// BenchmarkSDKColdStart is a new instance of the compiled echo made ready
// for its first event (App.Prewarm: instantiation and _initialize, which
// starts the Go runtime; the C module has none), after App.Trim closed the
// idle one with the timer stopped.
func BenchmarkSDKColdStart(b *testing.B) {
	ctx := context.Background()
	eachEcho(b, func(b *testing.B, wasm []byte) {
		eng := newBenchEngine(b)
		defer eng.Close(ctx)
		app := loadEcho(b, eng, wasm)
		for b.Loop() {
			b.StopTimer()
			if n := app.Trim(0); n != 1 {
				b.Fatalf("Trim closed %d instances, want 1", n)
			}
			b.StartTimer()
			if n, err := app.Prewarm(ctx, 1); err != nil || n != 1 {
				b.Fatalf("Prewarm = %d, %v", n, err)
			}
		}
	})
}

// BenchmarkSDKDispatch is one warm message event to echo: the SDK reads and
// decodes the event, encodes the reply, makes one chat.send call and reads
// its result.
func BenchmarkSDKDispatch(b *testing.B) {
	ctx := context.Background()
	eachEcho(b, func(b *testing.B, wasm []byte) {
		eng := newBenchEngine(b)
		defer eng.Close(ctx)
		app := loadEcho(b, eng, wasm)
		ev := echoEvent(b)
		if res, err := app.Dispatch(ctx, ev); err != nil || res.HostCalls != 1 {
			b.Fatalf("warm-up: %+v %v", res, err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if res, err := app.Dispatch(ctx, ev); err != nil {
				b.Fatal(fmt.Errorf("%+v: %w", res, err))
			}
		}
	})
}
