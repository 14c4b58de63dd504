package appbuild_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/runtime/appbuild"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

const manifest = `{"abi":"passerelle_v1","id":"hello","name":"Hello","version":"1.0.0","permissions":["chat"]}`

func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module with the Go toolchain")
	}
	ctx := context.Background()
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{"no manifest", map[string]string{"main.go": "package main\nfunc main() {}\n"}, "needs a manifest.json"},
		{"bad manifest", map[string]string{"manifest.json": `{"id":""}`, "main.go": "package main\nfunc main() {}\n"}, "manifest.json"},
		{"compile error", map[string]string{"manifest.json": manifest, "main.go": "package main\nfunc main() { undefined() }\n"}, "fix the errors above"},
		{"ok", map[string]string{"manifest.json": manifest, "main.go": "package main\nfunc main() {}\n"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.24\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			b, err := appbuild.Build(ctx, dir, "", &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			m, err := wasmfile.ReadManifest(b.Wasm)
			if err != nil || m.ID != "hello" || b.Manifest.ID != "hello" {
				t.Fatalf("embedded manifest %+v, %v", m, err)
			}
		})
	}
}
