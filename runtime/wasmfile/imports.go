package wasmfile

import (
	"fmt"

	"github.com/passerelle/passerelle/runtime/internal/wasmbin"
)

// Import kinds, as encoded in the import section.
const (
	KindFunc   byte = 0x00
	KindTable  byte = 0x01
	KindMemory byte = 0x02
	KindGlobal byte = 0x03
	KindTag    byte = 0x04
)

// Import is one entry of a module's import section.
type Import struct {
	Module, Name string
	Kind         byte // KindFunc, KindTable, KindMemory, KindGlobal or KindTag
}

// KindName returns "func", "table", "memory", "global" or "tag".
func (i Import) KindName() string {
	switch i.Kind {
	case KindFunc:
		return "func"
	case KindTable:
		return "table"
	case KindMemory:
		return "memory"
	case KindGlobal:
		return "global"
	case KindTag:
		return "tag"
	}
	return fmt.Sprintf("kind %#x", i.Kind)
}

// Imports lists the entries of wasm's import section. It understands the
// encodings of WebAssembly 2.0 plus 64-bit and shared memories; anything
// else in a descriptor is ErrMalformed.
func Imports(wasm []byte) ([]Import, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	var out []Import
	for _, s := range secs {
		if s.id != 2 {
			continue
		}
		r := newReader(wasm[s.payload:s.end], s.payload)
		n := r.U32()
		for i := uint32(0); i < n && r.Err == nil; i++ {
			imp := Import{Module: r.Name(), Name: r.Name(), Kind: r.Byte()}
			switch imp.Kind {
			case KindFunc:
				r.U32()
			case KindTable:
				r.refType()
				r.limits()
			case KindMemory:
				r.limits()
			case KindGlobal:
				r.valType()
				r.Byte()
			case KindTag:
				r.Byte()
				r.U32()
			default:
				r.Fail("unknown import kind %#x", imp.Kind)
			}
			if r.Err == nil {
				out = append(out, imp)
			}
		}
		if r.Err != nil {
			return out, r.Err
		}
	}
	return out, nil
}

// reader decodes the import section; its problems wrap ErrMalformed.
type reader struct{ wasmbin.Reader }

func newReader(b []byte, base int) *reader {
	return &reader{wasmbin.Reader{B: b, Wrap: func(off int, problem string) error {
		return fmt.Errorf("%w: import section at offset %d: %s", ErrMalformed, base+off, problem)
	}}}
}

func (r *reader) limits() {
	flags := r.Byte()
	if flags > 0x07 {
		r.Fail("unknown limits flags %#x", flags)
		return
	}
	wide := flags&0x04 != 0
	for range 1 + int(flags&0x01) {
		if wide {
			r.SkipLEB(10)
		} else {
			r.U32()
		}
	}
}

func (r *reader) refType() {
	switch c := r.Byte(); c {
	case 0x70, 0x6f: // funcref, externref
	case 0x63, 0x64: // (ref null ht), (ref ht)
		r.SkipLEB(5) // heap type, s33
	default:
		r.Fail("unknown reference type %#x", c)
	}
}

func (r *reader) valType() {
	if r.Err == nil && r.Off < len(r.B) {
		switch r.B[r.Off] {
		case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b: // i32 i64 f32 f64 v128
			r.Off++
			return
		}
	}
	r.refType()
}
