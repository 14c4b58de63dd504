// Package appbuild turns a mini-app directory into a module the platform
// accepts: it reads DIR/manifest.json, builds the Go package in DIR for
// GOOS=wasip1 GOARCH=wasm as a reactor with the Go toolchain on PATH, or the
// C sources in DIR with clang and the C SDK (sdk/c), or takes a module built
// by another toolchain, and embeds the manifest and the images of
// DIR/assets/ in the module's custom sections (see sdk/ABI.md).
//
// `passerelle app build`, `passerelle dev` and runtime/apptest all build
// through this package, so a test runs exactly what a merchant uploads.
package appbuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/assets"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// ErrNoGo is returned when the go command is not on PATH.
var ErrNoGo = errors.New("the go command is not on PATH: install Go 1.24 or later to build Go mini-apps")

// Built is a module with its manifest and assets embedded.
type Built struct {
	Manifest *host.Manifest
	Assets   []assets.Asset
	Wasm     []byte
}

// Build reads dir/manifest.json, builds dir (with clang when IsC(dir), with
// the Go toolchain otherwise; when module is not "", it reads that
// already-built module instead) and embeds the manifest. The compiler's
// diagnostics go to stderr.
func Build(ctx context.Context, dir, module string, stderr io.Writer) (*Built, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("read the app's manifest: %w; every app directory needs a manifest.json (see sdk/ABI.md#manifest)", err)
	}
	m, err := host.ParseManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("%s/manifest.json: %w", dir, err)
	}
	files, err := assets.ReadDir(filepath.Join(dir, "assets"))
	if err != nil {
		return nil, fmt.Errorf("%s/assets: %w (see sdk/ABI.md#assets)", dir, err)
	}
	var wasm []byte
	if module != "" {
		if wasm, err = os.ReadFile(module); err != nil {
			return nil, err
		}
	} else if isC, err := IsC(dir); err != nil {
		return nil, err
	} else if isC {
		if wasm, err = CBuild(ctx, dir, stderr); err != nil {
			return nil, err
		}
	} else if wasm, err = GoBuild(ctx, dir, stderr); err != nil {
		return nil, err
	}
	wasm, err = wasmfile.EmbedManifest(wasm, m)
	if err != nil {
		return nil, fmt.Errorf("embed the manifest: %w", err)
	}
	if wasm, err = assets.Embed(wasm, files); err != nil {
		return nil, fmt.Errorf("embed the assets: %w", err)
	}
	return &Built{Manifest: m, Assets: files, Wasm: wasm}, nil
}

// GoBuild compiles the Go package in dir as a wasip1 reactor
// (-buildmode=c-shared, -trimpath, stripped) and returns the module, without
// a manifest. go build's output goes to stderr.
func GoBuild(ctx context.Context, dir string, stderr io.Writer) ([]byte, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, ErrNoGo
	}
	tmp, err := os.MkdirTemp("", "passerelle-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "app.wasm")
	cmd := exec.CommandContext(ctx, goBin, "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	return compile(cmd, dir, out, stderr, "go build", "")
}

// compile runs a compiler's cmd in dir, its output going to stderr, and
// returns the module it wrote to out. A failure says to fix the errors
// shown, then hint.
func compile(cmd *exec.Cmd, dir, out string, stderr io.Writer, name, hint string) ([]byte, error) {
	cmd.Dir = dir
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s in %s failed (%v): fix the errors above%s", name, dir, err, hint)
	}
	return os.ReadFile(out)
}

// CompileCacheDir is where the local tools (and runtime/apptest) keep
// compiled modules, so that running the same build again does not compile
// it again: $PASSERELLE_COMPILE_CACHE, or passerelle/compile in the user's
// cache directory. "" (for PASSERELLE_COMPILE_CACHE=off, or without a user
// cache directory) keeps compiled code in memory only.
func CompileCacheDir() string {
	if v := os.Getenv("PASSERELLE_COMPILE_CACHE"); v != "" {
		if v == "off" {
			return ""
		}
		return v
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "passerelle", "compile")
}
