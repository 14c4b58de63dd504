package goproxy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/sdk/goproxy"
)

// TestCarriedMatchesSources fails when sdk.zip is not what sdk/go makes today.
func TestCarriedMatchesSources(t *testing.T) {
	want, err := goproxy.Zip(filepath.Join("..", "go"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := goproxy.Carried()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Zip, want) {
		w, _ := goproxy.Read(want)
		t.Fatalf("the carried SDK is %s, sdk/go makes %s: run `go generate ./sdk/goproxy` and commit sdk.zip", got.Version, w.Version)
	}
}

// TestVersionFollowsContent: any change to a file changes the version.
func TestVersionFollowsContent(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	version := func() *goproxy.Module {
		z, err := goproxy.Zip(dir)
		if err != nil {
			t.Fatal(err)
		}
		m, err := goproxy.Read(z)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if _, err := goproxy.Zip(dir); err == nil || !strings.Contains(err.Error(), "no go.mod") {
		t.Fatalf("a directory without go.mod: err = %v", err)
	}
	write("go.mod", "module "+goproxy.Path+"\n\ngo 1.24\n")
	write("a.go", "package passerelle\n")
	a := version()
	if b := version(); b.Version != a.Version || !bytes.Equal(a.Zip, b.Zip) {
		t.Fatal("the same files gave two zips")
	}
	if !strings.HasPrefix(a.Version, "v0.1.0-h") || string(a.GoMod) != "module "+goproxy.Path+"\n\ngo 1.24\n" {
		t.Fatalf("version %q, go.mod %q", a.Version, a.GoMod)
	}
	write(".a.go.swp", "an editor's")
	if b := version(); b.Version != a.Version {
		t.Fatal("a hidden file changed the version")
	}
	write("a.go", "package passerelle // changed\n")
	if b := version(); b.Version == a.Version {
		t.Fatal("a changed file kept the version")
	}
}
