//go:build !wasip1

package supportc_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/passerelle/passerelle/runtime/apptest"
)

// TestBuildScript checks build.sh writes the very module `passerelle app
// build` (runtime/appbuild) makes, so the two cannot drift apart.
func TestBuildScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs clang and the passerelle command")
	}
	want := apptest.Build(t, cDir)
	out := filepath.Join(t.TempDir(), "support.wasm")
	cmd := exec.Command("sh", filepath.Join(cDir, "build.sh"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("build.sh wrote %d bytes, app build %d: the flags in build.sh and appbuild.CFlags differ", len(got), len(want))
	}
}
