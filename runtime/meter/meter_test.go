package meter_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/passerelle/passerelle/runtime/meter"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// guest runs a module, instrumented or not, with the host functions the
// fixtures import: env.twice and, when instrumented, the meter's.
type guest struct {
	rt      wazero.Runtime
	mod     api.Module
	chunk   int64 // fuel granted per refill
	refills int
	granted int64
}

type depthExceeded struct{}

func newGuest(t testing.TB, wasm []byte, chunk int64) *guest {
	t.Helper()
	ctx := context.Background()
	g := &guest{rt: wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler()), chunk: chunk}
	t.Cleanup(func() { g.rt.Close(ctx) })
	_, err := g.rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithFunc(func(v int64) int64 { return 2 * v }).Export("twice").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.rt.NewHostModuleBuilder(meter.Module).
		NewFunctionBuilder().WithFunc(func(left int64) int64 {
		g.refills++
		g.granted += g.chunk
		return left + g.chunk
	}).Export(meter.ImportRefill).
		NewFunctionBuilder().WithFunc(func() { panic(depthExceeded{}) }).Export(meter.ImportDepth).
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g.mod, err = g.rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// used returns the fuel consumed so far.
func (g *guest) used() int64 {
	return g.granted - int64(g.mod.ExportedGlobal(meter.ExportFuel).Get())
}

func (g *guest) call(t testing.TB, name string, args ...uint64) ([]uint64, error) {
	t.Helper()
	f := g.mod.ExportedFunction(name)
	if f == nil {
		t.Fatalf("no export %q", name)
	}
	return f.Call(context.Background(), args...)
}

// TestInstrumentKeepsBehaviour runs every export of the shapes fixture on
// the original and on the instrumented module, with a small refill so that
// refills happen everywhere, and compares the results.
func TestInstrumentKeepsBehaviour(t *testing.T) {
	orig := readFixture(t, "shapes.wasm")
	inst, err := meter.Instrument(orig, meter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int64{1, 7, 1 << 20} {
		a, b := newGuest(t, orig, 0), newGuest(t, inst, chunk)
		var names []string
		for name := range a.mod.ExportedFunctionDefinitions() {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			t.Run(name, func(t *testing.T) {
				want, err := a.call(t, name)
				if err != nil {
					t.Fatal(err)
				}
				got, err := b.call(t, name)
				if err != nil {
					t.Fatalf("instrumented: %v", err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("chunk %d: instrumented returned %v, original %v", chunk, got, want)
				}
				if d := b.mod.ExportedGlobal(meter.ExportDepth).Get(); d != 0 {
					t.Errorf("depth after the call = %d, want 0", d)
				}
			})
		}
		if chunk == 1 && b.refills < 1000 {
			t.Errorf("refills with a chunk of 1 = %d, want many", b.refills)
		}
	}
	// The name section follows the shifted indices.
	if !strings.Contains(string(inst), "fib") {
		t.Error("function names were dropped")
	}
}

// TestFuelIsDeterministic runs fib(20) twice: the same fuel both times,
// and at least one unit per call made.
func TestFuelIsDeterministic(t *testing.T) {
	inst, err := meter.Instrument(readFixture(t, "shapes.wasm"), meter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := newGuest(t, inst, 1<<40)
	var used []int64
	for range 2 {
		before := g.used()
		if _, err := g.call(t, "fib"); err != nil {
			t.Fatal(err)
		}
		used = append(used, g.used()-before)
	}
	const calls = 21891 // fib(20) makes this many calls of $fib
	if used[0] != used[1] || used[0] < calls {
		t.Errorf("fuel used by fib(20) = %v, want twice the same and at least %d", used, calls)
	}
}

// TestDepthBound: a call deeper than MaxDepth calls depth_exceeded.
func TestDepthBound(t *testing.T) {
	orig := readFixture(t, "shapes.wasm")
	for _, tc := range []struct {
		max  uint32
		fail bool
	}{{max: 21, fail: false}, {max: 20, fail: true}} {
		inst, err := meter.Instrument(orig, meter.Options{MaxDepth: tc.max})
		if err != nil {
			t.Fatal(err)
		}
		g := newGuest(t, inst, 1<<20)
		// fib(20) nests 20 calls of $fib under the export: 21 frames.
		_, err = g.call(t, "fib")
		if got := err != nil; got != tc.fail {
			t.Errorf("MaxDepth %d: err = %v, want failure %v", tc.max, err, tc.fail)
		}
	}
}

func TestInstrumentRejects(t *testing.T) {
	wat := func(hex string) []byte { return []byte(hex) }
	for _, tc := range []struct {
		name string
		wasm []byte
		want error
	}{
		{"not wasm", wat("hello"), meter.ErrMalformed},
		{"cut short", readFixture(t, "shapes.wasm")[:100], meter.ErrMalformed},
		{"imports the meter", readFixture(t, "imports_meter.wasm"), meter.ErrReserved},
		{"exports a meter name", readFixture(t, "exports_fuel.wasm"), meter.ErrReserved},
		{"global past the end", readFixture(t, "bad_global.wasm"), meter.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := meter.Instrument(tc.wasm, meter.Options{})
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzInstrument: Instrument never panics, and whatever it returns for a
// module wazero compiles, wazero compiles too.
func FuzzInstrument(f *testing.F) {
	for _, dir := range []string{"testdata", "../sandbox/testdata"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.wasm"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := meter.Instrument(wasm, meter.Options{})
		if err != nil {
			return
		}
		cm, err := rt.CompileModule(ctx, wasm)
		if err != nil {
			return // invalid input; its output need not be valid either
		}
		cm.Close(ctx)
		cm, err = rt.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("the input compiles, the instrumented module does not: %v", err)
		}
		cm.Close(ctx)
	})
}

// FuzzRefillPoints runs an export of the shapes fixture with refills at
// fuzzed intervals: wherever the guest stops for fuel, the result is the
// original's.
func FuzzRefillPoints(f *testing.F) {
	orig := readFixture(f, "shapes.wasm")
	inst, err := meter.Instrument(orig, meter.Options{})
	if err != nil {
		f.Fatal(err)
	}
	bare := newGuest(f, orig, 0)
	var names []string
	want := map[string][]uint64{}
	for name := range bare.mod.ExportedFunctionDefinitions() {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if want[name], err = bare.call(f, name); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(uint16(1), uint8(0))
	f.Add(uint16(500), uint8(3))
	f.Fuzz(func(t *testing.T, chunk uint16, which uint8) {
		name := names[int(which)%len(names)]
		g := newGuest(t, inst, int64(chunk)+1)
		got, err := g.call(t, name)
		if err != nil || !slices.Equal(got, want[name]) {
			t.Fatalf("%s with refills of %d: %v, %v; want %v", name, chunk+1, got, err, want[name])
		}
	})
}
