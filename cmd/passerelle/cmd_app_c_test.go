package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestDevReloadsC runs a C app in dev and edits its .c file: dev rebuilds
// it with clang and reloads it, and keeps the previous build when the edit
// does not compile.
func TestDevReloadsC(t *testing.T) {
	apptest.NeedClang(t)
	useTestCompileCache(t)
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "manifest.json"), `{"abi":"passerelle_v1","id":"parrot","name":"Parrot","version":"1","permissions":["chat"]}`)
	app := func(reply string) string {
		return "#include \"passerelle.h\"\n" +
			"static pl_status on_message(const pl_event *ev) { return pl_send_text(pl_sprintf(\"" + reply + ": %s\", ev->text), NULL); }\n" +
			"PASSERELLE_APP(.on_message = on_message);\n"
	}
	writeTestFile(t, filepath.Join(dir, "parrot.c"), app("first"))

	in, inW := io.Pipe()
	out := &devOutput{}
	done := make(chan error, 1)
	go func() { done <- devSession(context.Background(), []string{dir}, in, out, io.Discard) }()
	defer func() {
		inW.Close()
		if err := <-done; err != nil {
			t.Errorf("dev: %v", err)
		}
	}()

	pos := waitForOutput(t, out, 0, "loaded parrot 1")
	io.WriteString(inW, "hi\n")
	pos = waitForOutput(t, out, pos, "parrot> first: hi")

	time.Sleep(10 * time.Millisecond) // a modification time that differs
	writeTestFile(t, filepath.Join(dir, "parrot.c"), app("second"))
	pos = waitForOutput(t, out, pos, "reloaded")
	io.WriteString(inW, "hi\n")
	pos = waitForOutput(t, out, pos, "parrot> second: hi")

	writeTestFile(t, filepath.Join(dir, "parrot.c"), "this does not compile\n")
	pos = waitForOutput(t, out, pos, "reload failed, still running the previous build")
	io.WriteString(inW, "again\n")
	waitForOutput(t, out, pos, "parrot> second: again")
	io.WriteString(inW, "/quit\n")
}

// TestDemoAppsSameID builds a directory of apps from source in which two
// directories declare the same app id (as miniapps/support and its C port
// miniapps/support-c do): the demo names both and how to choose, rather
// than uploading one over the other.
func TestDemoAppsSameID(t *testing.T) {
	apptest.NeedClang(t)
	useTestCompileCache(t)
	dir := t.TempDir()
	echo, err := os.ReadFile("../../sdk/c/examples/echo/echo.c")
	if err != nil {
		t.Fatal(err)
	}
	man, err := os.ReadFile("../../sdk/c/examples/echo/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"echo", "echo-c"} {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, filepath.Join(dir, name, "echo.c"), string(echo))
		writeTestFile(t, filepath.Join(dir, name, "manifest.json"), string(man))
	}
	_, err = buildDemoApps(context.Background(), dir, nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `both declare app id "echo"`) || !strings.Contains(err.Error(), "--only") {
		t.Fatalf("building two apps with one id: %v", err)
	}
	built, err := buildDemoApps(context.Background(), dir, []string{"echo-c"}, io.Discard)
	if err != nil || len(built) != 1 || built[0].Manifest.ID != "echo" {
		t.Fatalf("--only echo-c: %v, %d apps", err, len(built))
	}
}
