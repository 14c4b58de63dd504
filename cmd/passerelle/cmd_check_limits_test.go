package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// TestAppCheckContainment checks that app check names the ceiling a
// manifest asks past and the WASI functions that are not offered.
func TestAppCheckContainment(t *testing.T) {
	useTestCompileCache(t)
	dir := t.TempDir()
	write := func(src string, limits host.Limits) string {
		wasm, err := wasmfile.EmbedManifest(readTestFile(t, src), &host.Manifest{ABI: host.ABIVersion, ID: "v1", Name: "V", Version: "1", Limits: limits})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Base(src))
		if err := os.WriteFile(p, wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"memory past its ceiling", write("../../runtime/sandbox/testdata/noop.wasm", host.Limits{MemoryPages: 65536}),
			[]string{"[limits.max]", "limits.memory_pages", "asks for 65536 pages", "max_limits.memory_pages is 4096 pages", "4096 or less"}},
		{"files and sockets", write("../../runtime/sandbox/testdata/wasi_refused.wasm", host.Limits{}),
			[]string{"3 problem(s)", "[import.wasi]", `"path_open"`, `"sock_accept"`, `"fd_readdir"`}},
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
