package wasmfile_test

import (
	"errors"
	"os"
	"testing"

	"github.com/passerelle/passerelle/runtime/wasmfile"
)

func TestReadShape(t *testing.T) {
	fixture, err := os.ReadFile("testdata/shape.wasm")
	if err != nil {
		t.Fatal(err)
	}
	withManifest := append(append([]byte{}, fixture...), custom("passerelle.manifest", []byte("{}"))...)
	// A code section of one body claiming 9 bytes with 2 left.
	longBody := append(append([]byte{}, empty...), 10, 4, 1, 9, 0, 0x0b)
	// A body whose local declarations run past it.
	cutLocals := append(append([]byte{}, empty...), 10, 5, 1, 3, 2, 5, 0x7f)
	// A table whose limits run past the section.
	cutTable := append(append([]byte{}, empty...), 4, 3, 1, 0x70, 1)
	tests := []struct {
		name string
		wasm []byte
		want wasmfile.Shape
		err  error
	}{
		{"empty module", empty, wasmfile.Shape{}, nil},
		{"a little of everything", fixture, wasmfile.Shape{Types: 2, Imports: 2, Functions: 3, Tables: 2, Globals: 1,
			Exports: 3, Elements: 1, DataSegments: 2, TableElements: 15, CodeBytes: 18, LargestBody: 8, Locals: 4, MostLocals: 3,
			DataBytes: 22}, nil},
		{"custom sections", withManifest, wasmfile.Shape{Types: 2, Imports: 2, Functions: 3, Tables: 2, Globals: 1,
			Exports: 3, Elements: 1, DataSegments: 2, TableElements: 15, CodeBytes: 18, LargestBody: 8, Locals: 4, MostLocals: 3,
			DataBytes: 22, Customs: 1, CustomBytes: 2 + 20 + 2}, nil},
		{"not wasm", []byte("(module)"), wasmfile.Shape{}, wasmfile.ErrNotWasm},
		{"body past its section", longBody, wasmfile.Shape{}, wasmfile.ErrMalformed},
		{"locals past their body", cutLocals, wasmfile.Shape{}, wasmfile.ErrMalformed},
		{"table cut short", cutTable, wasmfile.Shape{}, wasmfile.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wasmfile.ReadShape(tt.wasm)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Errorf("shape = %+v\nwant    %+v", got, tt.want)
			}
		})
	}
}

func FuzzReadShape(f *testing.F) {
	for _, name := range []string{"testdata/shape.wasm", "testdata/imports.wasm"} {
		if wasm, err := os.ReadFile(name); err == nil {
			f.Add(wasm)
		}
	}
	f.Add(empty)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		sh, err := wasmfile.ReadShape(wasm)
		if err != nil {
			return
		}
		if sh.CodeBytes+sh.DataBytes+sh.CustomBytes > len(wasm) || sh.LargestBody > sh.CodeBytes {
			t.Fatalf("shape %+v larger than the %d-byte module", sh, len(wasm))
		}
	})
}
