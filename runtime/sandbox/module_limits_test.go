package sandbox_test

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// gen builds a module with one memory of one page, one function type
// (i32) -> i32 and funcs copies of a function returning 0, the first
// exported as passerelle_v1_on_event; exports more exports of it, locals
// locals in each function, and data bytes of data.
type gen struct {
	funcs, exports int
	locals         uint32
	data           int
}

func leb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		if v >>= 7; v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func section(b []byte, id byte, content []byte) []byte {
	return append(leb(append(b, id), uint64(len(content))), content...)
}

func name(b []byte, s string) []byte { return append(leb(b, uint64(len(s))), s...) }

func (g gen) wasm(t testing.TB, limits host.Limits) []byte {
	t.Helper()
	w := []byte("\x00asm\x01\x00\x00\x00")
	w = section(w, 1, []byte{1, 0x60, 1, 0x7f, 1, 0x7f})
	fn := leb(nil, uint64(g.funcs))
	for range g.funcs {
		fn = append(fn, 0)
	}
	w = section(w, 3, fn)
	w = section(w, 5, []byte{1, 0, 1})
	ex := leb(nil, uint64(2+g.exports))
	ex = append(name(ex, "memory"), 2, 0)
	ex = append(name(ex, sandbox.ExportOnEvent), 0, 0)
	for i := range g.exports {
		ex = append(name(ex, fmt.Sprintf("export_%010d", i)), 0, 0)
	}
	w = section(w, 7, ex)
	body := []byte{0}
	if g.locals > 0 {
		body = append(leb([]byte{1}, uint64(g.locals)), 0x7f)
	}
	body = append(body, 0x41, 0, 0x0b) // i32.const 0; end
	code := leb(nil, uint64(g.funcs))
	for range g.funcs {
		code = append(leb(code, uint64(len(body))), body...)
	}
	w = section(w, 10, code)
	if g.data > 0 {
		d := append([]byte{1, 0, 0x41, 0, 0x0b}, leb(nil, uint64(g.data))...)
		w = section(w, 11, append(d, make([]byte, g.data)...))
	}
	out, err := wasmfile.EmbedManifest(w, &host.Manifest{ABI: host.ABIVersion, ID: "generated", Name: "generated",
		Version: "1", Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// cached counts the files in the compilation cache.
func cached(t *testing.T, dir string) int {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestModuleLimitsBeforeCompile checks that a module declaring more than a
// module limit is refused on its section headers, without being compiled:
// nothing reaches the compilation cache. The first case is the 1.9 MB
// module with 100,000 exports that kept a check busy for seconds.
func TestModuleLimitsBeforeCompile(t *testing.T) {
	tests := []struct {
		name     string
		wasm     func(t *testing.T) []byte
		problems []string // nil: the module is fine and compiled
	}{
		{"a few exports", func(t *testing.T) []byte { return gen{funcs: 1, exports: 10}.wasm(t, host.Limits{}) }, nil},
		{"100,000 exports", func(t *testing.T) []byte {
			w := gen{funcs: 1, exports: 100_000}.wasm(t, host.Limits{})
			if len(w) < 1_800_000 {
				t.Fatalf("module of %d bytes, want about 1.8 MB", len(w))
			}
			return w
		}, []string{"declares 100002 exports; a module may declare at most 1000 (limit exports)"}},
		{"60,000 functions", func(t *testing.T) []byte { return gen{funcs: 60_000}.wasm(t, host.Limits{}) },
			[]string{"declares 60000 functions; a module may declare at most 50000 (limit functions)"}},
		{"4 billion locals", func(t *testing.T) []byte { return gen{funcs: 1, locals: 1<<32 - 1}.wasm(t, host.Limits{}) },
			[]string{"declares 4294967295 locals in one function; a module may declare at most 50000 (limit function_locals)",
				"declares 4294967295 locals in all functions together; a module may declare at most 1000000 (limit locals)"}},
		{"40,000 functions of 50,000 locals", func(t *testing.T) []byte { return gen{funcs: 40_000, locals: 50_000}.wasm(t, host.Limits{}) },
			[]string{"declares 2000000000 locals in all functions together; a module may declare at most 1000000 (limit locals)"}},
		{"data larger than the memory limit", func(t *testing.T) []byte { return gen{funcs: 1, data: 70_000}.wasm(t, host.Limits{MemoryPages: 1}) },
			[]string{"holds 70008 bytes of data, more than the app's memory limit of 65536 bytes (1 pages)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			e, _ := newEngine(t, func(c *sandbox.Config) { c.CacheDir = dir })
			rep, err := e.Check(context.Background(), tt.wasm(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Violations) != len(tt.problems) {
				t.Fatalf("violations = %+v, want %q", rep.Violations, tt.problems)
			}
			for i, v := range rep.Violations {
				if v.Rule != "module.limit" || !strings.Contains(v.Problem, tt.problems[i]) || v.Fix == "" {
					t.Errorf("violation %+v, want module.limit: %s", v, tt.problems[i])
				}
			}
			n := cached(t, dir)
			if tt.problems == nil && n == 0 {
				t.Errorf("a good module left nothing in the compilation cache; this test cannot tell whether a module was compiled")
			}
			if tt.problems != nil && n != 0 {
				t.Errorf("a refused module was compiled: %d files in the compilation cache", n)
			}
		})
	}
}

// TestModuleLimitsMatchABI checks that sdk/ABI.md names every module limit
// with its value.
func TestModuleLimitsMatchABI(t *testing.T) {
	doc := abiDoc(t)
	rows := map[string]uint64{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| ([0-9,]+) \\|").FindAllStringSubmatch(doc, -1) {
		v, _ := strconv.ParseUint(strings.ReplaceAll(m[2], ",", ""), 10, 64)
		rows[m[1]] = v
	}
	for _, l := range sandbox.ModuleLimits() {
		if got, ok := rows[l.Name]; !ok || got != l.Max {
			t.Errorf("sdk/ABI.md: limit %s is %d in the code, documented as %d (found: %v)", l.Name, l.Max, got, ok)
		}
	}
}
