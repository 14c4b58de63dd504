// Package dist carries the example mini-apps built ahead: one module per
// app, its manifest embedded, so that `passerelle demo` installs them from
// any directory without a Go toolchain.
//
// Each module is gzipped (a Go module shrinks to about a quarter). They are
// generated from their sources in miniapps/ (and, for an
// app written in another language, by its own build script) with
//
//	go generate ./miniapps/dist
//
// which runs ./gen and rewrites the .wasm.gz files and dist.json (each module's
// SHA-256, the hash of the sources it was built from and the toolchain that
// built it). The test in ./gen rebuilds every module and fails when a carried
// one no longer matches its sources; regenerate and commit when it does.
package dist

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

//go:generate go run ./gen

//go:embed *.wasm.gz
var modules embed.FS

// Module is one carried module: its file name without ".wasm.gz" and its
// bytes, the app's manifest embedded.
type Module struct {
	Name string
	Wasm []byte
}

// Modules returns every carried module, sorted by name.
func Modules() ([]Module, error) {
	names, err := fs.Glob(modules, "*.wasm.gz")
	if err != nil {
		return nil, err
	}
	out := make([]Module, 0, len(names))
	for _, n := range names {
		f, err := modules.Open(n)
		if err != nil {
			return nil, err
		}
		wasm, err := gunzip(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("carried module %s: %w", n, err)
		}
		out = append(out, Module{Name: strings.TrimSuffix(n, ".wasm.gz"), Wasm: wasm})
	}
	return out, nil
}

func gunzip(r io.Reader) ([]byte, error) {
	z, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(z); err != nil {
		return nil, err
	}
	return b.Bytes(), z.Close()
}
