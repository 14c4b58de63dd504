package meter_test

import (
	"testing"

	"github.com/passerelle/passerelle/runtime/meter"
)

// BenchmarkCompute runs compute-heavy guests in bare wazero, uninstrumented
// and instrumented, in the same run. The instrumented guest gets 2^20 fuel
// at a time, as in the sandbox.
func BenchmarkCompute(b *testing.B) {
	orig := readFixture(b, "compute.wasm")
	inst, err := meter.Instrument(orig, meter.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, fn := range []struct {
		name string
		want uint64
	}{{"fib", 75025}, {"sieve", 9592}} {
		for _, v := range []struct {
			name string
			wasm []byte
		}{{"bare", orig}, {"metered", inst}} {
			b.Run(fn.name+"/"+v.name, func(b *testing.B) {
				g := newGuest(b, v.wasm, 1<<20)
				for b.Loop() {
					res, err := g.call(b, fn.name)
					if err != nil || res[0] != fn.want {
						b.Fatalf("%s = %v, %v", fn.name, res, err)
					}
				}
				if v.name == "metered" {
					b.ReportMetric(float64(g.used())/float64(b.N), "fuel/op")
				}
			})
		}
	}
}

// BenchmarkInstrument instruments the shapes fixture.
func BenchmarkInstrument(b *testing.B) {
	wasm := readFixture(b, "shapes.wasm")
	b.SetBytes(int64(len(wasm)))
	for b.Loop() {
		if _, err := meter.Instrument(wasm, meter.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
