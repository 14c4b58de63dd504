package appbuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	csdk "github.com/passerelle/passerelle/sdk/c"
)

// ErrNoClang is returned when clang is not on PATH.
var ErrNoClang = errors.New("clang is not on PATH: install clang and lld 14 or later to build C mini-apps (Debian: apt-get install clang lld)")

// CFlags returns the flags CBuild gives clang: freestanding wasm32 (no libc,
// no WASI) with the bulk memory instructions (memcpy and memset are one
// instruction each, not loops the sandbox checks at every iteration), a
// reactor with no entry point, unused functions and imports dropped, names
// stripped, and a 64 KiB stack below the data so that an overflow traps
// instead of overwriting it.
func CFlags() []string {
	return []string{
		"--target=wasm32", "-mbulk-memory", "-nostdlib", "-ffreestanding", "-std=c11", "-O2",
		"-Wall", "-Wextra", "-Werror=implicit-function-declaration",
		"-Wl,--no-entry", "-Wl,--gc-sections", "-Wl,--strip-all",
		"-Wl,--stack-first", "-Wl,-z,stack-size=65536",
	}
}

// IsC reports whether dir holds a C mini-app: .c files and no Go files
// other than tests.
func IsC(dir string) (bool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("read the app directory: %w", err)
	}
	c := false
	for _, e := range ents {
		name := e.Name()
		switch {
		case e.IsDir():
		case strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go"):
			return false, nil
		case strings.HasSuffix(name, ".c"):
			c = true
		}
	}
	return c, nil
}

// CBuild compiles the .c files of dir with the C SDK (include/passerelle.h
// and src/passerelle.c, carried in this binary; a passerelle.c in dir
// replaces the SDK's) into a passerelle_v1 reactor and returns the module,
// without a manifest. clang's output goes to stderr.
func CBuild(ctx context.Context, dir string, stderr io.Writer) ([]byte, error) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		return nil, ErrNoClang
	}
	tmp, err := os.MkdirTemp("", "passerelle-cbuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := os.CopyFS(filepath.Join(tmp, "sdk"), csdk.Files); err != nil {
		return nil, fmt.Errorf("write the C SDK: %w", err)
	}
	srcs, err := filepath.Glob(filepath.Join(dir, "*.c"))
	if err != nil {
		return nil, err
	}
	sort.Strings(srcs)
	own := false
	for i, s := range srcs {
		srcs[i] = filepath.Base(s)
		own = own || srcs[i] == "passerelle.c"
	}
	if !own {
		srcs = append(srcs, filepath.Join(tmp, "sdk", "src", "passerelle.c"))
	}
	out := filepath.Join(tmp, "app.wasm")
	args := append(CFlags(), "-I", ".", "-I", filepath.Join(tmp, "sdk", "include"), "-o", out)
	cmd := exec.CommandContext(ctx, clang, append(args, srcs...)...)
	return compile(cmd, dir, out, stderr, "clang", ` ("wasm-ld" not found means lld is not installed: apt-get install lld)`)
}
