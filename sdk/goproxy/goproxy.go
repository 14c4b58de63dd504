// Package goproxy carries the Go SDK module (sdk/go) inside the passerelle
// binary, so that a merchant's app outside this repository reaches the SDK
// with no network: WriteProxy lays the module out as a Go module proxy
// directory, for GOPROXY=file://DIR, and GoSum gives the go.sum lines that
// let the go command check it without a checksum database.
//
// sdk.zip is the module zip, generated from sdk/go with
//
//	go generate ./sdk/goproxy
//
// Its version is v0.1.0 followed by a hash of its content (Version), so that
// an SDK that changes also changes version: a module cache holding an older
// SDK never meets a go.sum line for a newer one under the same version. The
// package's test fails when sdk.zip no longer matches sdk/go.
package goproxy

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Path is the SDK's module path.
const Path = "github.com/passerelle/passerelle/sdk/go"

// base is the SDK's release; Version adds a hash of the content to it. Raise
// it when the SDK's API changes.
const base = "v0.1.0"

//go:generate go run ./gen

//go:embed sdk.zip
var carried []byte

// Module is the SDK module: its version and zip.
type Module struct {
	Version string
	Zip     []byte // files named Path@Version/...
	GoMod   []byte

	files map[string][]byte // the zip's files by name
}

// Carried returns the SDK module the binary carries.
func Carried() (*Module, error) { return Read(carried) }

// Read reads a module zip made by Zip.
func Read(z []byte) (*Module, error) {
	r, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		return nil, fmt.Errorf("goproxy: the SDK module zip: %w", err)
	}
	if len(r.File) == 0 {
		return nil, errors.New("goproxy: the SDK module zip is empty")
	}
	// Names are Path@Version/file; Path itself holds slashes.
	name := r.File[0].Name
	if !strings.HasPrefix(name, Path+"@") {
		return nil, fmt.Errorf("goproxy: the SDK module zip holds %q, not a file of %s", name, Path)
	}
	version, _, _ := strings.Cut(strings.TrimPrefix(name, Path+"@"), "/")
	m := &Module{Version: version, Zip: z, files: map[string][]byte{}}
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("goproxy: the SDK module zip: %s: %w", f.Name, err)
		}
		m.files[f.Name] = b
	}
	m.GoMod = m.files[Path+"@"+version+"/go.mod"]
	if m.GoMod == nil {
		return nil, errors.New("goproxy: the SDK module zip has no go.mod")
	}
	return m, nil
}

// Zip makes the module zip of the SDK sources in dir: every file under it
// but hidden ones (an editor's, a system's), stored uncompressed with a fixed time, so that the same sources always
// give the same bytes, named Path@Version/... where Version is base and a
// hash of the files.
func Zip(dir string) ([]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), ".") && p != dir {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			return nil
		}
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		return nil, err
	}
	if files["go.mod"] == nil {
		return nil, fmt.Errorf("%s has no go.mod", dir)
	}
	version := base + "-h" + hex.EncodeToString(dirHash(files))[:12]

	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, n := range slices.Sorted(maps.Keys(files)) {
		f, err := w.CreateHeader(&zip.FileHeader{
			Name:     Path + "@" + version + "/" + n,
			Method:   zip.Store,
			Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		})
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// GoSum returns the go.sum lines for m: the hash of its zip's files and of
// its go.mod, as the go command computes them (h1, golang.org/x/mod/sumdb/dirhash).
func (m *Module) GoSum() string {
	zipHash := hash1(m.files)
	modHash := hash1(map[string][]byte{"go.mod": m.GoMod})
	return fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", Path, m.Version, zipHash, Path, m.Version, modHash)
}

// hash1 is go.sum's "h1:" hash: base64 of the SHA-256 of the sorted lines
// "SHA-256(file)  name\n".
func hash1(files map[string][]byte) string {
	return "h1:" + base64.StdEncoding.EncodeToString(dirHash(files))
}

// dirHash is the SHA-256 of the lines "SHA-256(file)  name\n" of files,
// sorted by name.
func dirHash(files map[string][]byte) []byte {
	h := sha256.New()
	for _, n := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%x  %s\n", sha256.Sum256(files[n]), n)
	}
	return h.Sum(nil)
}

// WriteProxy lays m out in dir as a module proxy (GOPROXY=file://dir): the
// version list, its .info, .mod and .zip, each written whole by write
// (atomically, so that a go command reading the proxy never sees half a
// file). Versions already there stay listed, so that apps made by an older
// binary still build.
func (m *Module) WriteProxy(dir string, write func(file string, data []byte) error) error {
	vdir := filepath.Join(dir, filepath.FromSlash(Path), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	info := fmt.Sprintf("{\"Version\":%q,\"Time\":\"2026-01-01T00:00:00Z\"}\n", m.Version)
	for name, data := range map[string][]byte{
		m.Version + ".info": []byte(info),
		m.Version + ".mod":  m.GoMod,
		m.Version + ".zip":  m.Zip,
	} {
		if err := write(filepath.Join(vdir, name), data); err != nil {
			return err
		}
	}
	var versions []string
	entries, err := os.ReadDir(vdir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if v, ok := strings.CutSuffix(e.Name(), ".zip"); ok {
			versions = append(versions, v)
		}
	}
	slices.Sort(versions)
	return write(filepath.Join(vdir, "list"), []byte(strings.Join(versions, "\n")+"\n"))
}
