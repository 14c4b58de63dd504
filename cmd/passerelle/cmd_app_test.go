package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// echoModule builds miniapps/echo with `app build` into a temporary directory.
func echoModule(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "echo.wasm")
	if code, stdout, stderr := runCLI("app", "build", "../../miniapps/echo", "-o", out); code != 0 {
		t.Fatalf("app build exit %d: %s%s", code, stdout, stderr)
	}
	return out
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestAppBuildAndCheck(t *testing.T) {
	useTestCompileCache(t)
	path := echoModule(t)
	m, err := wasmfile.ReadManifest(readTestFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "echo" || m.ABI != host.ABIVersion || len(m.Permissions) != 1 || m.Permissions[0] != host.PermChat {
		t.Fatalf("embedded manifest %+v", m)
	}
	code, out, errOut := runCLI("app", "check", path)
	if code != 0 {
		t.Fatalf("app check exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{"ok, ABI passerelle_v1", "echo 1.0.0 (Echo)", "permissions: chat",
		"passerelle_v1: chat_send, event_read, log, result_read", "_initialize, memory, passerelle_v1_on_event"} {
		if !strings.Contains(out, want) {
			t.Errorf("app check output lacks %q:\n%s", want, out)
		}
	}
}

func TestAppBuildDefaultOutput(t *testing.T) {
	useTestCompileCache(t)
	dir := t.TempDir()
	app := filepath.Join(dir, "hello")
	if err := os.Mkdir(app, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(app, "manifest.json"), `{"abi":"passerelle_v1","id":"hello","name":"Hello","version":"0.1","permissions":["chat"]}`)
	code, out, errOut := runCLI("app", "build", "-wasm", "../../sdk/conformance/testdata/hello.wasm", app)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	m, err := wasmfile.ReadManifest(readTestFile(t, filepath.Join(dir, "hello.wasm")))
	if err != nil || m.ID != "hello" || m.Version != "0.1" {
		t.Fatalf("manifest %+v, %v", m, err)
	}
}

func TestAppBuildRejects(t *testing.T) {
	useTestCompileCache(t)
	tests := []struct {
		name     string
		manifest string // "" = no manifest.json
		module   string
		want     []string
	}{
		{"no manifest", "", "../../sdk/conformance/testdata/hello.wasm", []string{"manifest.json"}},
		{"invalid manifest", `{"abi":"passerelle_v2","id":"X","name":"x","version":"1","permissions":["chat"]}`,
			"../../sdk/conformance/testdata/hello.wasm", []string{`abi is "passerelle_v2"`, `id "X" is not an app id`}},
		{"unknown field", `{"abi":"passerelle_v1","id":"x1","name":"x","version":"1","permission":["chat"]}`,
			"../../sdk/conformance/testdata/hello.wasm", []string{`unknown field "permission"`}},
		{"operation not permitted", `{"abi":"passerelle_v1","id":"x1","name":"x","version":"1","permissions":["chat"]}`,
			"../../sdk/conformance/testdata/import_permission.wasm", []string{"[import.permission]", "kv_get", "fix:", "nothing was written"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.manifest != "" {
				writeTestFile(t, filepath.Join(dir, "manifest.json"), tt.manifest)
			}
			out := filepath.Join(t.TempDir(), "x.wasm")
			code, stdout, stderr := runCLI("app", "build", "-wasm", tt.module, "-o", out, dir)
			if code != 1 {
				t.Fatalf("exit %d, want 1: %s%s", code, stdout, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout+stderr, w) {
					t.Errorf("output lacks %q:\n%s%s", w, stdout, stderr)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s was written", out)
			}
		})
	}
}

func TestAppCheckViolations(t *testing.T) {
	useTestCompileCache(t)
	dir := t.TempDir()
	withManifest := func(src string, limits host.Limits, perms ...host.Permission) string {
		wasm, err := wasmfile.EmbedManifest(readTestFile(t, src), &host.Manifest{ABI: host.ABIVersion, ID: "v1", Name: "V", Version: "1", Permissions: perms, Limits: limits})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Base(src))
		if err := os.WriteFile(p, wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := filepath.Join(dir, "empty.wasm")
	writeTestFile(t, empty, "")
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"permission", withManifest("../../sdk/conformance/testdata/import_permission.wasm", host.Limits{}, host.PermChat), []string{"1 problem(s)", "[import.permission]", `import "passerelle_v1"."kv_get"`, "problem:", "fix:"}},
		{"command module", withManifest("../../sdk/conformance/testdata/command.wasm", host.Limits{}), []string{"[export.start]"}},
		{"memory past its ceiling", withManifest("../../runtime/sandbox/testdata/noop.wasm", host.Limits{MemoryPages: 65536}),
			[]string{"[limits.max]", "limits.memory_pages", "asks for 65536 pages", "max_limits.memory_pages is 4096 pages", "4096 or less"}},
		{"files and sockets", withManifest("../../runtime/sandbox/testdata/wasi_refused.wasm", host.Limits{}),
			[]string{"3 problem(s)", "[import.wasi]", `"path_open"`, `"sock_accept"`, `"fd_readdir"`}},
		{"no manifest", "../../sdk/conformance/testdata/hello.wasm", []string{"[manifest.missing]"}},
		{"empty file", empty, []string{"[module.empty]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI("app", "check", tt.file)
			if code != 1 {
				t.Fatalf("exit %d, want 1: %s%s", code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestAppUsage(t *testing.T) {
	useTestCompileCache(t)
	tests := [][]string{{"app", "build"}, {"app", "check"}, {"app", "check", "a.wasm", "b.wasm"}, {"dev"}, {"app", "build", "-nope", "x"}}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if code, out, errOut := runCLI(args...); code != 2 {
				t.Fatalf("exit %d, want 2: %s%s", code, out, errOut)
			}
		})
	}
}

func readTestFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// useTestCompileCache makes sure the tools' compilation cache is the test
// binary's (TestMain), never the user's.
func useTestCompileCache(t *testing.T) {
	t.Helper()
	if os.Getenv("PASSERELLE_COMPILE_CACHE") == "" {
		t.Fatal("PASSERELLE_COMPILE_CACHE is not set: TestMain sets it for the test binary")
	}
}
