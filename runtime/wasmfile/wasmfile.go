package wasmfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/internal/wasmbin"
)

// SectionName is the name of the custom section holding the manifest.
const SectionName = "passerelle.manifest"

var (
	// ErrNotWasm means the bytes do not start with the wasm magic and version 1.
	ErrNotWasm = errors.New("not a WebAssembly module")
	// ErrMalformed means the section structure is broken (a length runs past
	// the end of the file, a section name is not UTF-8...).
	ErrMalformed = errors.New("malformed WebAssembly module")
	// ErrNoManifest means the module has no "passerelle.manifest" section.
	ErrNoManifest = errors.New("no passerelle.manifest section")
	// ErrDuplicateManifest means the module has more than one manifest section.
	ErrDuplicateManifest = errors.New("more than one passerelle.manifest section")
)

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// section is one section of a module: its id, its custom name (id 0 only),
// and where it starts and ends in the file (header included).
type section struct {
	id         byte
	name       string
	start, end int // [start,end) spans the whole section
	payload    int // offset of the content after the custom name
}

// sections splits wasm into its sections.
func sections(wasm []byte) ([]section, error) {
	if len(wasm) < len(header) || !bytes.Equal(wasm[:4], header[:4]) {
		return nil, fmt.Errorf("%w: the file does not start with \\0asm; upload the .wasm file the compiler produced", ErrNotWasm)
	}
	if !bytes.Equal(wasm[4:8], header[4:8]) {
		return nil, fmt.Errorf("%w: binary format version %x, want 1", ErrNotWasm, wasm[4:8])
	}
	var out []section
	off := len(header)
	for off < len(wasm) {
		s := section{id: wasm[off], start: off}
		size, n, err := readU32(wasm[off+1:])
		if err != nil {
			return nil, fmt.Errorf("%w: section at offset %d: %v", ErrMalformed, off, err)
		}
		body := off + 1 + n
		if uint64(size) > uint64(len(wasm)-body) {
			return nil, fmt.Errorf("%w: section at offset %d claims %d bytes, only %d remain", ErrMalformed, off, size, len(wasm)-body)
		}
		s.end = body + int(size)
		s.payload = body
		if s.id == 0 {
			nlen, m, err := readU32(wasm[body:s.end])
			if err != nil {
				return nil, fmt.Errorf("%w: custom section name at offset %d: %v", ErrMalformed, body, err)
			}
			if uint64(nlen) > uint64(s.end-body-m) {
				return nil, fmt.Errorf("%w: custom section name at offset %d runs past its section", ErrMalformed, body)
			}
			s.name = string(wasm[body+m : body+m+int(nlen)])
			s.payload = body + m + int(nlen)
		}
		out = append(out, s)
		off = s.end
	}
	return out, nil
}

// readU32 decodes an unsigned LEB128 value of at most 32 bits.
func readU32(b []byte) (v uint32, n int, err error) { return wasmbin.ReadU32(b) }

func appendU32(b []byte, v uint32) []byte { return wasmbin.AppendU32(b, v) }

// ManifestBytes returns a copy of the raw content of the manifest section.
func ManifestBytes(wasm []byte) ([]byte, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	var found []byte
	for _, s := range secs {
		if s.id != 0 || s.name != SectionName {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w; rebuild with `passerelle app build`", ErrDuplicateManifest)
		}
		found = append([]byte{}, wasm[s.payload:s.end]...)
	}
	if found == nil {
		return nil, fmt.Errorf("%w; build the module with `passerelle app build`, which embeds manifest.json", ErrNoManifest)
	}
	return found, nil
}

// ReadManifest returns the manifest embedded in wasm, parsed and validated
// with host.ParseManifest. Errors wrap ErrNotWasm, ErrMalformed,
// ErrNoManifest, ErrDuplicateManifest or host.ErrInvalidManifest.
func ReadManifest(wasm []byte) (*host.Manifest, error) {
	raw, err := ManifestBytes(wasm)
	if err != nil {
		return nil, err
	}
	return host.ParseManifest(raw)
}

// EmbedManifest returns a copy of wasm whose manifest section holds m,
// replacing any existing manifest section. m must be valid.
func EmbedManifest(wasm []byte, m *host.Manifest) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil manifest", host.ErrInvalidManifest)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return EmbedCustom(wasm, SectionName, body)
}

// CustomSection returns a copy of the content of the custom section named
// name, and false when there is none. Two sections of that name are
// ErrMalformed.
func CustomSection(wasm []byte, name string) ([]byte, bool, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, false, err
	}
	var found []byte
	for _, s := range secs {
		if s.id != 0 || s.name != name {
			continue
		}
		if found != nil {
			return nil, false, fmt.Errorf("%w: more than one %s section; rebuild with `passerelle app build`", ErrMalformed, name)
		}
		found = append([]byte{}, wasm[s.payload:s.end]...)
	}
	return found, found != nil, nil
}

// EmbedCustom returns a copy of wasm whose custom section named name holds
// body, replacing any existing section of that name and appending the new
// one at the end of the file.
func EmbedCustom(wasm []byte, name string, body []byte) ([]byte, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(wasm)+len(body)+32)
	out = append(out, header...)
	for _, s := range secs {
		if s.id == 0 && s.name == name {
			continue
		}
		out = append(out, wasm[s.start:s.end]...)
	}
	content := appendU32(nil, uint32(len(name)))
	content = append(content, name...)
	content = append(content, body...)
	out = append(out, 0)
	out = appendU32(out, uint32(len(content)))
	return append(out, content...), nil
}
