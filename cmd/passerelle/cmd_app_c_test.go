package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/runtime/apptest"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// TestAppBuildC builds the C SDK's echo with `app build DIR` (clang and the
// SDK the binary carries) and checks it with `app check`, as a merchant
// writing C would.
func TestAppBuildC(t *testing.T) {
	apptest.NeedClang(t)
	useTestCompileCache(t)
	out := filepath.Join(t.TempDir(), "echo.wasm")
	code, stdout, stderr := runCLI("app", "build", "-o", out, "../../sdk/c/examples/echo")
	if code != 0 {
		t.Fatalf("app build: exit %d: %s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "built "+out+": echo 1.0.0, ") || !strings.Contains(stdout, " KiB, permissions chat") {
		t.Fatalf("app build said %q, want the module's size in KiB", stdout)
	}
	if m, err := wasmfile.ReadManifest(readTestFile(t, out)); err != nil || m.ID != "echo" {
		t.Fatalf("manifest %+v, %v", m, err)
	}
	code, stdout, stderr = runCLI("app", "check", out)
	if code != 0 || !strings.Contains(stdout, "ok, ABI passerelle_v1") || !strings.Contains(stdout, "chat_send, event_read, log, result_read") {
		t.Fatalf("app check: exit %d: %s%s", code, stdout, stderr)
	}
}
