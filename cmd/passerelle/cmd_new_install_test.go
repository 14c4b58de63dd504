package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/runtime/apptest"
	"github.com/passerelle/passerelle/sdk/goproxy"
)

// TestInstallOutsideTheWorkspace builds the passerelle command as go install
// would: from a copy of the module outside the repository's go.work
// (GOWORK=off), resolving its requirements itself (-mod=mod) with no network
// (GOPROXY=off). The published module requires a tagged sdk/go; here a
// replace written into the copy's go.mod stands for the tag. The binary it
// builds then starts a C app in another temporary directory, and the app's
// own test.sh passes with it, and fails when the app answers otherwise.
func TestInstallOutsideTheWorkspace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the passerelle command from a copy of the module")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go on PATH")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	if err := copyModule(root, src); err != nil {
		t.Fatal(err)
	}
	gomod := filepath.Join(src, "go.mod")
	b, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\n\t"+goproxy.Path+" v") {
		t.Fatalf("go.mod does not require %s at a version:\n%s", goproxy.Path, b)
	}
	if strings.Contains(string(b), "replace") {
		t.Fatalf("go.mod has a replace, which go install refuses:\n%s", b)
	}
	b = append(b, "\nreplace "+goproxy.Path+" => ./sdk/go\n"...)
	if err := os.WriteFile(gomod, b, 0o644); err != nil {
		t.Fatal(err)
	}

	// -trimpath: the copy's directory changes with every run, and without
	// it the build cache would be keyed on it and never hit.
	bin := filepath.Join(tmp, "bin", "passerelle")
	t.Log("building passerelle from a copy of the module, outside the workspace (a minute the first time)")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", bin, "./cmd/passerelle")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build outside the workspace: %v\n%s", err, out)
	}

	t.Run("a C app, tested with its test.sh", func(t *testing.T) {
		apptest.NeedClang(t)
		apps := filepath.Join(tmp, "apps")
		if err := os.MkdirAll(apps, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "app", "new", "--lang", "c", "kiosk")
		cmd.Dir = apps
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("app new: %v\n%s", err, out)
		}
		dir := filepath.Join(apps, "kiosk")
		t.Setenv("PASSERELLE_COMPILE_CACHE", t.TempDir())
		if out, ok := runTestSh(t, dir, bin); !ok || !strings.Contains(out, "ok   tests/welcome.session") {
			t.Fatalf("test.sh of a new app failed:\n%s", out)
		}
		app := filepath.Join(dir, "app.c")
		c, err := os.ReadFile(app)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(app, []byte(strings.Replace(string(c), "You have sent", "You sent", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, ok := runTestSh(t, dir, bin)
		if ok || !strings.Contains(out, "FAIL tests/welcome.session") ||
			!strings.Contains(out, "-kiosk> You have sent 2 message(s).") || !strings.Contains(out, "+kiosk> You sent 2 message(s).") {
			t.Fatalf("test.sh did not fail with the difference when the app answered otherwise:\n%s", out)
		}
	})
}

// copyModule copies the module at root to dst: its files without .git and
// the go.work that joins it to sdk/go.
func copyModule(root, dst string) error {
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		switch {
		case e.IsDir() && e.Name() == ".git":
			return filepath.SkipDir
		case rel == "go.work" || rel == "go.work.sum":
			return nil
		case e.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		case !e.Type().IsRegular():
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}
