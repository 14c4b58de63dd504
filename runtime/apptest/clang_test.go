package apptest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/runtime/apptest"
)

// recorder is a testing.TB that records Skip and Fatal instead of ending
// the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Skip(args ...any)          { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatal(args ...any)         { r.failed = fmt.Sprint(args...) }
func (r *recorder) Skipf(f string, a ...any)  { r.skipped = fmt.Sprintf(f, a...) }
func (r *recorder) Fatalf(f string, a ...any) { r.failed = fmt.Sprintf(f, a...) }

func TestNeedClang(t *testing.T) {
	tests := []struct {
		name, ci   string
		path       string
		skip, fail bool
	}{
		{"missing, local", "", t.TempDir(), true, false},
		{"missing, in CI", "true", t.TempDir(), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", tt.path)
			t.Setenv("CI", tt.ci)
			r := &recorder{TB: t}
			apptest.NeedClang(r)
			if (r.skipped != "") != tt.skip || (r.failed != "") != tt.fail {
				t.Fatalf("skipped %q, failed %q; want skip %v, fail %v", r.skipped, r.failed, tt.skip, tt.fail)
			}
			msg := r.skipped + r.failed
			if !strings.Contains(msg, "clang and wasm-ld not on PATH") || !strings.Contains(msg, "apt-get install clang lld") {
				t.Fatalf("message %q does not say what is missing and how to install it", msg)
			}
		})
	}
}
