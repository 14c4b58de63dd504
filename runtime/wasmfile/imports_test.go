package wasmfile_test

import (
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/passerelle/passerelle/runtime/wasmfile"
)

func TestImports(t *testing.T) {
	wasm, err := os.ReadFile("testdata/imports.wasm")
	if err != nil {
		t.Fatal(err)
	}
	imps, err := wasmfile.Imports(wasm)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range imps {
		got = append(got, i.Module+"."+i.Name+":"+i.KindName())
	}
	want := []string{"env.f:func", "env.t:table", "env.m:memory", "env.g:global", "env.g2:global"}
	if !slices.Equal(got, want) {
		t.Errorf("Imports = %v, want %v", got, want)
	}
	if imps, err := wasmfile.Imports(empty); err != nil || len(imps) != 0 {
		t.Errorf("empty module: %v, %v", imps, err)
	}
	// Cut inside the import section.
	cut := append([]byte{}, wasm[:8]...)
	cut = append(cut, 2, 3, 1, 3, 'e')
	if _, err := wasmfile.Imports(cut); !errors.Is(err, wasmfile.ErrMalformed) {
		t.Errorf("cut section: err = %v, want ErrMalformed", err)
	}
}

func FuzzImports(f *testing.F) {
	if wasm, err := os.ReadFile("testdata/imports.wasm"); err == nil {
		f.Add(wasm)
	}
	f.Add(empty)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		imps, err := wasmfile.Imports(wasm)
		if err != nil {
			return
		}
		for _, i := range imps {
			if i.Kind > wasmfile.KindTag {
				t.Fatalf("kind %d returned without error", i.Kind)
			}
		}
	})
}
