package sandbox_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// TestWASIRefused checks that WASI functions reaching for files, sockets or
// directories are refused by name while the offered ones pass.
func TestWASIRefused(t *testing.T) {
	e, _ := newEngine(t, nil)
	rep, err := e.Check(context.Background(), fixture(t, "wasi_refused", nil, host.Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		`import "wasi_snapshot_preview1"."path_open"`:   "no filesystem",
		`import "wasi_snapshot_preview1"."sock_accept"`: "no network",
		`import "wasi_snapshot_preview1"."fd_readdir"`:  "no files",
	}
	for _, v := range rep.Violations {
		why, ok := want[v.Where]
		if !ok || v.Rule != "import.wasi" || !strings.Contains(v.Problem, why) || !strings.Contains(v.Fix, "sdk/ABI.md") {
			t.Errorf("unexpected violation %+v", v)
		}
		delete(want, v.Where)
	}
	for where := range want {
		t.Errorf("no import.wasi violation for %s", where)
	}
}

// TestWASIListMatchesABI checks that sdk/ABI.md lists exactly the WASI
// functions the checker accepts.
func TestWASIListMatchesABI(t *testing.T) {
	sec := abiDoc(t)
	sec = sec[strings.Index(sec, "\n## WASI\n"):]
	sec = sec[:strings.Index(sec, "\nEvery other")]
	var listed []string
	for _, row := range strings.Split(sec, "\n") {
		if first, _, ok := strings.Cut(strings.TrimPrefix(row, "| "), " |"); ok && strings.HasPrefix(row, "| `") {
			for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(first, -1) {
				listed = append(listed, m[1])
			}
		}
	}
	slices.Sort(listed)
	if got := sandbox.WASIFunctions(); !slices.Equal(listed, got) {
		t.Errorf("sdk/ABI.md lists %v\nthe checker accepts %v", listed, got)
	}
}
