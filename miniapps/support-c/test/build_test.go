//go:build !wasip1

package supportc_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apptest"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// TestBuildScript checks build.sh writes the very module `passerelle app
// build` (runtime/appbuild) makes, so the two cannot drift apart; with
// --no-manifest, the same module before the manifest is embedded.
func TestBuildScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs clang and the passerelle command")
	}
	want := apptest.Build(t, cDir)
	raw, err := os.ReadFile(filepath.Join(cDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := host.ParseManifest(raw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		embed bool
	}{
		{"with manifest", nil, false},
		{"no manifest", []string{"--no-manifest"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "support.wasm")
			args := append(append([]string{filepath.Join(cDir, "build.sh")}, tt.args...), out)
			if b, err := exec.Command("sh", args...).CombinedOutput(); err != nil {
				t.Fatalf("build.sh: %v\n%s", err, b)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if tt.embed {
				if got, err = wasmfile.EmbedManifest(got, m); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("build.sh wrote %d bytes, app build %d: the flags in build.sh and appbuild.CFlags differ", len(got), len(want))
			}
		})
	}
}
