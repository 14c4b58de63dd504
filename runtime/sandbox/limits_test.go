package sandbox_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// TestCeilings checks that no configuration lets a manifest raise a limit
// without bound: with nothing configured the built-in ceilings hold, and
// the operator's max_limits replace them.
func TestCeilings(t *testing.T) {
	tests := []struct {
		name     string
		defaults host.Limits // Config.Defaults
		max      host.Limits // Config.Max
		asked    host.Limits // the manifest's
		want     host.Limits // fields of App.Limits to compare; nil problems
		problems []string    // substrings of the limits.max violations, in order
	}{
		{name: "memory bomb under the default config", asked: host.Limits{MemoryPages: 65536},
			problems: []string{"asks for 65536 pages; the built-in ceiling max_limits.memory_pages is 4096 pages"}},
		{name: "49-day deadline under the default config", asked: host.Limits{EventTimeoutMS: 4294967295},
			problems: []string{"asks for 4294967295 ms; the built-in ceiling max_limits.event_timeout_ms is 10000 ms"}},
		{name: "every limit at once", asked: host.Limits{HostCallsPerEvent: 1 << 30, CallBytes: 1 << 30, EventBytes: 1 << 30, LogBytes: 1 << 30},
			problems: []string{"max_limits.host_calls_per_event is 10000 calls", "max_limits.call_bytes is 1048576 bytes",
				"max_limits.event_bytes is 16777216 bytes", "max_limits.log_bytes is 1048576 bytes"}},
		{name: "at the built-in ceilings", asked: sandbox.BuiltinMax(), want: sandbox.BuiltinMax()},
		{name: "operator ceiling below the built-in one", max: host.Limits{MemoryPages: 32}, asked: host.Limits{MemoryPages: 64},
			problems: []string{"asks for 64 pages; this server's ceiling max_limits.memory_pages is 32 pages"}},
		{name: "operator ceiling above the built-in one", max: host.Limits{EventTimeoutMS: 60000}, asked: host.Limits{EventTimeoutMS: 60000},
			want: host.Limits{EventTimeoutMS: 60000}},
		{name: "operator default above the built-in ceiling", defaults: host.Limits{EventTimeoutMS: 30000}, asked: host.Limits{EventTimeoutMS: 30000},
			want: host.Limits{EventTimeoutMS: 30000}},
		{name: "operator default above the built-in ceiling is no more", defaults: host.Limits{EventTimeoutMS: 30000}, asked: host.Limits{EventTimeoutMS: 30001},
			problems: []string{"asks for 30001 ms; the built-in ceiling max_limits.event_timeout_ms is 30000 ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newEngine(t, func(c *sandbox.Config) { c.Defaults, c.Max = tt.defaults, tt.max })
			wasm := fixture(t, "noop", nil, tt.asked)
			rep, err := e.Check(context.Background(), wasm)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Violations) != len(tt.problems) {
				t.Fatalf("violations = %+v, want %d", rep.Violations, len(tt.problems))
			}
			for i, v := range rep.Violations {
				if v.Rule != "limits.max" || !strings.Contains(v.Problem, tt.problems[i]) ||
					!strings.Contains(v.Fix, "or less") || !strings.Contains(v.Fix, "max_limits.") {
					t.Errorf("violation %d = %+v, want limits.max with %q", i, v, tt.problems[i])
				}
			}
			a, err := e.Load(context.Background(), host.AppRef{Merchant: "m"}, wasm)
			if len(tt.problems) > 0 {
				var ce *sandbox.CheckError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.problems[0]) {
					t.Fatalf("Load = %v, want a CheckError naming the ceiling", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close(context.Background())
			got, want := reflect.ValueOf(a.Limits()), reflect.ValueOf(tt.want)
			for i := range want.NumField() {
				if !isUint(want.Field(i)) {
					continue
				}
				if w := want.Field(i).Uint(); w != 0 && got.Field(i).Uint() != w {
					t.Errorf("Limits().%s = %d, want %d", want.Type().Field(i).Name, got.Field(i).Uint(), w)
				}
			}
		})
	}
}

// TestEveryLimitHasCeiling fails when a limit is added to host.Limits
// without a built-in ceiling, which would let a manifest raise it without
// bound under the default configuration.
func TestEveryLimitHasCeiling(t *testing.T) {
	ceil, def := reflect.ValueOf(sandbox.BuiltinMax()), reflect.ValueOf(sandbox.BuiltinDefaults())
	for i := range ceil.NumField() {
		name := ceil.Type().Field(i).Name
		if !isUint(ceil.Field(i)) {
			continue
		}
		if c, d := ceil.Field(i).Uint(), def.Field(i).Uint(); c == 0 || c < d {
			t.Errorf("built-in ceiling of %s is %d, want a value at least its default %d", name, c, d)
		}
	}
}

// TestLimitsMatchABI checks that sdk/ABI.md's Limits table gives every
// limit its built-in default and ceiling.
func TestLimitsMatchABI(t *testing.T) {
	doc := abiDoc(t)
	rows := map[string][2]uint64{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| ([0-9]+)[^|]*\\| ([0-9]+)[^|]*\\|").FindAllStringSubmatch(doc, -1) {
		d, _ := strconv.ParseUint(m[2], 10, 64)
		c, _ := strconv.ParseUint(m[3], 10, 64)
		rows[m[1]] = [2]uint64{d, c}
	}
	def, ceil := reflect.ValueOf(sandbox.BuiltinDefaults()), reflect.ValueOf(sandbox.BuiltinMax())
	for i := range def.NumField() {
		if !isUint(def.Field(i)) {
			continue
		}
		name, _, _ := strings.Cut(def.Type().Field(i).Tag.Get("json"), ",")
		want := [2]uint64{def.Field(i).Uint(), ceil.Field(i).Uint()}
		if got, ok := rows[name]; !ok || got != want {
			t.Errorf("sdk/ABI.md: %s has default and ceiling %v in the code, documented as %v (found: %v)", name, want, got, ok)
		}
	}
}

func isUint(v reflect.Value) bool { return v.Kind() >= reflect.Uint && v.Kind() <= reflect.Uint64 }

// abiDoc returns sdk/ABI.md, which tests compare with the code.
func abiDoc(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../sdk/ABI.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}
