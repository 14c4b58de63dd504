package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/miniapps/dist"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

const regenerate = "run `go generate ./miniapps/dist` and commit the result"

// TestCarriedModulesMatchSources rebuilds every carried module from its
// sources and fails when the module the binary carries is not what they
// build today. The sources are compared by hash (any toolchain); the bytes
// are compared when this toolchain is the one that built the carried module
// (Go's wasip1 builds with -trimpath are reproducible byte for byte).
func TestCarriedModulesMatchSources(t *testing.T) {
	if testing.Short() {
		t.Skip("rebuilds the carried modules")
	}
	ctx := context.Background()
	root, err := repoRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec := readRecord(t, root)
	carried := carriedModules(t)

	var files []string
	for _, e := range rec.Modules {
		files = append(files, e.File)
	}
	var want []string
	for _, r := range recipes {
		want = append(want, r.Name+".wasm.gz")
	}
	if !slices.Equal(files, want) {
		t.Fatalf("dist.json lists %v, the recipes make %v: %s", files, want, regenerate)
	}
	if len(carried) != len(want) {
		t.Fatalf("the binary carries %d modules, the recipes make %d: %s", len(carried), len(want), regenerate)
	}
	for i, r := range recipes {
		t.Run(r.Name, func(t *testing.T) {
			e, wasm := rec.Modules[i], carried[r.Name]
			if wasm == nil {
				t.Fatalf("the binary does not carry %s: %s", e.File, regenerate)
			}
			if got := sha(wasm); got != e.SHA256 || len(wasm) != e.Size {
				t.Fatalf("%s unzips to %d bytes with SHA-256 %s; dist.json says %d bytes, %s: %s",
					e.File, len(wasm), got, e.Size, e.SHA256, regenerate)
			}
			m, err := wasmfile.ReadManifest(wasm)
			if err != nil || m.ID+" "+m.Version != e.App {
				t.Fatalf("%s carries manifest %+v (%v), dist.json says %s", e.File, m, err, e.App)
			}
			if r.Build != nil {
				for _, tool := range []string{r.Build[0], r.Version[0]} {
					if _, err := exec.LookPath(tool); err != nil {
						t.Skipf("%s is built with %s, which is not installed", r.Name, tool)
					}
				}
			}
			t.Logf("rebuilding %s", r.Dir)
			var out bytes.Buffer
			b, err := r.build(ctx, root, &out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if b.entry.Sources != e.Sources {
				t.Fatalf("the sources of %s changed since %s was built: %s", r.Dir, e.File, regenerate)
			}
			if b.entry.Toolchain != e.Toolchain {
				t.Logf("%s was built with %s, this is %s: sources compared, bytes not", e.File, e.Toolchain, b.entry.Toolchain)
				return
			}
			if b.entry.SHA256 != e.SHA256 {
				t.Fatalf("%s built from the same sources with the same toolchain (%s) is %d bytes with SHA-256 %s, "+
					"the carried one %d bytes with %s: the build changed; %s",
					r.Dir, e.Toolchain, b.entry.Size, b.entry.SHA256, e.Size, e.SHA256, regenerate)
			}
		})
	}
}

// TestExternalRecipe builds a module the way a recipe for another toolchain
// does: its command writes the module, gen embeds the app's manifest and
// hashes the app's directory and the sources it names.
func TestExternalRecipe(t *testing.T) {
	root := t.TempDir()
	hello, err := os.ReadFile(filepath.Join("..", "..", "..", "sdk", "conformance", "testdata", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"apps/hello-c/manifest.json": `{"abi":"passerelle_v1","id":"hello-c","name":"Hello C","version":"1.0.0","permissions":["chat"]}`,
		"apps/hello-c/build.sh":      "cp ../../sdk/c/hello.wasm \"$1\"\n",
		"sdk/c/hello.wasm":           string(hello),
	}
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := external("hello-c", "apps/hello-c", []string{"sdk/c"}, []string{"sh", "-c", "echo toolchain 1.0; echo more"}, "sh", "build.sh", "{out}")
	build := func() *built {
		t.Helper()
		var out bytes.Buffer
		b, err := r.build(context.Background(), root, &out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		return b
	}
	b := build()
	m, err := wasmfile.ReadManifest(b.wasm)
	if err != nil || m.ID != "hello-c" {
		t.Fatalf("manifest %+v, %v", m, err)
	}
	if e := b.entry; e.File != "hello-c.wasm.gz" || e.App != "hello-c 1.0.0" || e.Toolchain != "toolchain 1.0" || e.SHA256 != sha(b.wasm) {
		t.Fatalf("entry %+v", e)
	}
	if again := build(); again.entry != b.entry {
		t.Fatalf("two builds: %+v and %+v", b.entry, again.entry)
	}
	if err := os.WriteFile(filepath.Join(root, "sdk", "c", "hello.h"), []byte("/* new */"), 0o644); err != nil {
		t.Fatal(err)
	}
	if again := build(); again.entry.Sources == b.entry.Sources {
		t.Fatal("a new file among the named sources kept the sources hash")
	}
	r.Build = []string{"sh", "-c", "exit 3"}
	if _, err := r.build(context.Background(), root, io.Discard); err == nil || !strings.Contains(err.Error(), "build apps/hello-c") {
		t.Fatalf("a failing build: err = %v", err)
	}
}

// TestSourcesHash: the hash changes with a file's content, its name, and an
// added file, and not with the order the files are listed in.
func TestSourcesHash(t *testing.T) {
	root := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.go", "package a\n")
	write("b.go", "package b\n")
	hash := func(files ...string) string {
		h, err := sourcesHash(root, files)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	base := hash("a.go", "b.go")
	if hash("b.go", "a.go") != base {
		t.Fatal("the order of the list changed the hash")
	}
	write("c.go", "package b\n")
	if hash("a.go", "c.go") == base {
		t.Fatal("a renamed file kept the hash")
	}
	if hash("a.go", "b.go", "c.go") == base {
		t.Fatal("an added file kept the hash")
	}
	write("b.go", "package b // changed\n")
	if hash("a.go", "b.go") == base {
		t.Fatal("a changed file kept the hash")
	}
}

func readRecord(t *testing.T, root string) record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "miniapps", "dist", "dist.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("dist.json: %v", err)
	}
	if !strings.Contains(rec.Note, "go generate") {
		t.Fatalf("dist.json has no note saying how it is made: %q", rec.Note)
	}
	return rec
}

// carriedModules returns what the binary carries, by name.
func carriedModules(t *testing.T) map[string][]byte {
	t.Helper()
	mods, err := dist.Modules()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, m := range mods {
		out[m.Name] = m.Wasm
	}
	return out
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
