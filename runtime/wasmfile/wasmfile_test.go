package wasmfile_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

var empty = []byte{0, 'a', 's', 'm', 1, 0, 0, 0}

// withType is an empty module plus a type section declaring func() -> ().
var withType = append(append([]byte{}, empty...), 1, 4, 1, 0x60, 0, 0)

func manifest(version string) *host.Manifest {
	return &host.Manifest{ABI: host.ABIVersion, ID: "shop", Name: "Shop", Version: version,
		Permissions: []host.Permission{host.PermChat}}
}

func custom(name string, payload []byte) []byte {
	content := append([]byte{byte(len(name))}, name...)
	content = append(content, payload...)
	return append([]byte{0, byte(len(content))}, content...)
}

func TestEmbedAndRead(t *testing.T) {
	tests := []struct {
		name string
		wasm []byte
	}{
		{"empty module", empty},
		{"with a type section", withType},
		{"with another custom section", append(append([]byte{}, withType...), custom("name", []byte{1, 2})...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := wasmfile.EmbedManifest(tt.wasm, manifest("1.0.0"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(out, tt.wasm) {
				t.Error("embedding changed the existing sections")
			}
			m, err := wasmfile.ReadManifest(out)
			if err != nil {
				t.Fatal(err)
			}
			if m.Version != "1.0.0" || m.ID != "shop" {
				t.Errorf("read back %+v", m)
			}
			// Replacing keeps exactly one section with the new content.
			out2, err := wasmfile.EmbedManifest(out, manifest("2.0.0"))
			if err != nil {
				t.Fatal(err)
			}
			m, err = wasmfile.ReadManifest(out2)
			if err != nil {
				t.Fatal(err)
			}
			if m.Version != "2.0.0" {
				t.Errorf("version after replace = %q, want 2.0.0", m.Version)
			}
			if len(out2) != len(out) {
				t.Errorf("replace changed the size from %d to %d", len(out), len(out2))
			}
		})
	}
}

func TestReadManifestErrors(t *testing.T) {
	good, err := wasmfile.EmbedManifest(empty, manifest("1"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		wasm []byte
		want error
	}{
		{"zero bytes", nil, wasmfile.ErrNotWasm},
		{"text file", []byte("hello, world"), wasmfile.ErrNotWasm},
		{"version 2", []byte{0, 'a', 's', 'm', 2, 0, 0, 0}, wasmfile.ErrNotWasm},
		{"no manifest", withType, wasmfile.ErrNoManifest},
		{"truncated section", good[:len(good)-3], wasmfile.ErrMalformed},
		{"bad leb", append(append([]byte{}, empty...), 1, 0xff, 0xff, 0xff, 0xff, 0x7f), wasmfile.ErrMalformed},
		{"cut leb", append(append([]byte{}, empty...), 1, 0x80), wasmfile.ErrMalformed},
		{"name past section", append(append([]byte{}, empty...), 0, 1, 5), wasmfile.ErrMalformed},
		{"two manifests", append(append([]byte{}, good...), good[8:]...), wasmfile.ErrDuplicateManifest},
		{"invalid json", append(append([]byte{}, empty...), custom(wasmfile.SectionName, []byte("{"))...), host.ErrInvalidManifest},
		{"invalid manifest", append(append([]byte{}, empty...), custom(wasmfile.SectionName, []byte(`{"abi":"x"}`))...), host.ErrInvalidManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := wasmfile.ReadManifest(tt.wasm)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadManifest() = %v, %v; want error %v", m, err, tt.want)
			}
		})
	}
}

func TestEmbedRejects(t *testing.T) {
	if _, err := wasmfile.EmbedManifest(empty, &host.Manifest{ID: "x"}); !errors.Is(err, host.ErrInvalidManifest) {
		t.Errorf("invalid manifest: err = %v", err)
	}
	if _, err := wasmfile.EmbedManifest([]byte("text"), manifest("1")); !errors.Is(err, wasmfile.ErrNotWasm) {
		t.Errorf("not wasm: err = %v", err)
	}
	if _, err := wasmfile.EmbedManifest(empty, nil); err == nil {
		t.Error("nil manifest accepted")
	}
}

func FuzzReadManifest(f *testing.F) {
	good, _ := wasmfile.EmbedManifest(withType, manifest("1"))
	f.Add(good)
	f.Add(empty)
	f.Add(withType)
	f.Add([]byte{0, 'a', 's', 'm', 1, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x0f})
	f.Fuzz(func(t *testing.T, wasm []byte) {
		m, err := wasmfile.ReadManifest(wasm)
		if err == nil {
			if err := m.Validate(); err != nil {
				t.Fatalf("ReadManifest returned an invalid manifest: %v", err)
			}
		}
		out, err := wasmfile.EmbedManifest(wasm, manifest("9"))
		if err != nil {
			return
		}
		m, err = wasmfile.ReadManifest(out)
		if err != nil || m.Version != "9" {
			t.Fatalf("embedded manifest does not read back: %v, %v", m, err)
		}
	})
}
