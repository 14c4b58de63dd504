package appbuild_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/runtime/appbuild"
	"github.com/passerelle/passerelle/runtime/apptest"
	"github.com/passerelle/passerelle/runtime/assets"
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
			dir := writeFiles(t, tc.files)
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

func TestBuildC(t *testing.T) {
	apptest.NeedClang(t)
	ctx := context.Background()
	const hello = "#include \"passerelle.h\"\nstatic pl_status on_message(const pl_event *ev) { return pl_send_text(ev->text, NULL); }\nPASSERELLE_APP(.on_message = on_message);\n"
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{"ok", map[string]string{"manifest.json": manifest, "app.c": hello}, ""},
		{"ok with a test file beside", map[string]string{"manifest.json": manifest, "app.c": hello, "app_test.go": "package app_test\n"}, ""},
		{"compile error", map[string]string{"manifest.json": manifest, "app.c": "int f(void) { return undefined(); }\n"}, "fix the errors above"},
		{"no app defined", map[string]string{"manifest.json": manifest, "app.c": "#include \"passerelle.h\"\n"}, "fix the errors above"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			if isC, err := appbuild.IsC(dir); err != nil || !isC {
				t.Fatalf("IsC = %v, %v; want a C app", isC, err)
			}
			var stderr bytes.Buffer
			b, err := appbuild.Build(ctx, dir, "", &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				if stderr.Len() == 0 {
					t.Fatal("clang's diagnostics did not reach stderr")
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			m, err := wasmfile.ReadManifest(b.Wasm)
			if err != nil || m.ID != "hello" {
				t.Fatalf("embedded manifest %+v, %v", m, err)
			}
		})
	}
}

func TestIsC(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		want  bool
	}{
		{"go", []string{"main.go", "manifest.json"}, false},
		{"c", []string{"app.c", "manifest.json"}, true},
		{"c with go tests", []string{"app.c", "app_test.go"}, true},
		{"go with a c file", []string{"main.go", "x.c"}, false},
		{"empty", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			for _, name := range tc.files {
				files[name] = ""
			}
			dir := writeFiles(t, files)
			if got, err := appbuild.IsC(dir); err != nil || got != tc.want {
				t.Fatalf("IsC = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// writeFiles writes files (name → content) into a new temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBuildAssets packs the images of assets/ into the module, and refuses
// a file that breaks a rule, naming it.
func TestBuildAssets(t *testing.T) {
	var photo bytes.Buffer
	if err := png.Encode(&photo, image.NewGray(image.Rect(0, 0, 3, 3))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{"none", nil, ""},
		{"photos", map[string]string{"tee.png": photo.String(), "cap.png": photo.String()}, ""},
		{"text as png", map[string]string{"tee.png": photo.String(), "notes.png": "remember the milk"}, `"notes.png": not a PNG, JPEG or WebP`},
		{"bad name", map[string]string{"Tee Shirt.png": photo.String()}, `"Tee Shirt.png": the name may hold only`},
		{"too big", map[string]string{"big.png": photo.String() + strings.Repeat("x", 512<<10)}, `"big.png": ` + "524"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"manifest.json": manifest, "app.wasm": "\x00asm\x01\x00\x00\x00"})
			if tc.files != nil {
				if err := os.Mkdir(filepath.Join(dir, "assets"), 0o755); err != nil {
					t.Fatal(err)
				}
				for name, body := range tc.files {
					if err := os.WriteFile(filepath.Join(dir, "assets", name), []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			b, err := appbuild.Build(context.Background(), dir, filepath.Join(dir, "app.wasm"), io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "assets") {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := assets.FromModule(b.Wasm)
			if err != nil || len(got) != len(tc.files) || len(b.Assets) != len(tc.files) {
				t.Fatalf("module carries %d assets (%v), want %d", len(got), err, len(tc.files))
			}
			for _, a := range got {
				if a.Data == nil || tc.files[a.Name] != string(a.Data) {
					t.Fatalf("asset %q does not hold its file", a.Name)
				}
			}
		})
	}
}
