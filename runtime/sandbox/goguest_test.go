package sandbox_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// TestGoGuest builds testdata/goguest with the Go toolchain
// (GOOS=wasip1 -buildmode=c-shared) and runs it: the Go runtime needs WASI
// and _initialize, and its out-of-memory exit must be reported as the
// memory limit.
func TestGoGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm module with the go tool")
	}
	out := filepath.Join(t.TempDir(), "guest.wasm")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = filepath.Join("testdata", "goguest")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GO111MODULE=off", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := wasmfile.EmbedManifest(raw, &host.Manifest{ABI: host.ABIVersion, ID: "go-guest", Name: "Go guest",
		Version: "1", Limits: host.Limits{MemoryPages: 512}})
	if err != nil {
		t.Fatal(err)
	}
	e, logs := newEngine(t, nil)
	a := load(t, e, wasm)
	for range 2 {
		res, err := a.Dispatch(context.Background(), &sandbox.Event{Payload: []byte(`{"type":"open"}`), Caller: host.Caller{EventID: "g1"}})
		if err != nil || res.Status != 0 {
			t.Fatalf("Dispatch = %+v, %v", res, err)
		}
	}
	if l := logs.find("log"); len(l) != 2 || l[0].Message != `got {"type":"open"}` {
		t.Errorf("log = %+v", l)
	}
	if l := logs.find("stderr"); len(l) != 2 || l[0].Message != "stderr line" {
		t.Errorf("stderr = %+v", l)
	}
	_, err = a.Dispatch(context.Background(), &sandbox.Event{Payload: []byte(`"oom"`)})
	var le *sandbox.LimitError
	if !errors.As(err, &le) || le.Limit != "memory" {
		t.Fatalf("allocating forever: %v, want memory LimitError", err)
	}
	if _, err := a.Dispatch(context.Background(), &sandbox.Event{Payload: []byte(`{}`)}); err != nil {
		t.Fatalf("after the out-of-memory event: %v", err)
	}
	if f := logs.find("failure"); len(f) != 1 || !strings.Contains(f[0].Message, "memory") {
		t.Errorf("failures = %+v", f)
	}
}
