package wasmfile

import (
	"fmt"
	"unicode/utf8"
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
		r := reader{b: wasm[s.payload:s.end], base: s.payload}
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			imp := Import{Module: r.name(), Name: r.name(), Kind: r.byte()}
			switch imp.Kind {
			case KindFunc:
				r.u32()
			case KindTable:
				r.refType()
				r.limits()
			case KindMemory:
				r.limits()
			case KindGlobal:
				r.valType()
				r.byte()
			case KindTag:
				r.byte()
				r.u32()
			default:
				r.fail("unknown import kind %#x", imp.Kind)
			}
			if r.err == nil {
				out = append(out, imp)
			}
		}
		if r.err != nil {
			return out, r.err
		}
	}
	return out, nil
}

type reader struct {
	b    []byte
	off  int
	base int
	what string // e.g. "code section"; "" is the import section
	err  error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		what := r.what
		if what == "" {
			what = "import section"
		}
		r.err = fmt.Errorf("%w: %s at offset %d: %s", ErrMalformed, what, r.base+r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("cut short")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) u32() uint32 {
	if r.err != nil {
		return 0
	}
	v, n, err := readU32(r.b[r.off:])
	if err != nil {
		r.fail("%v", err)
		return 0
	}
	r.off += n
	return v
}

// u64 skips an unsigned LEB128 value of up to 10 bytes.
func (r *reader) u64() {
	for i := 0; i < 10; i++ {
		if r.byte()&0x80 == 0 || r.err != nil {
			return
		}
	}
	r.fail("LEB128 value longer than 10 bytes")
}

func (r *reader) name() string {
	n := r.u32()
	if r.err != nil {
		return ""
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail("name of %d bytes runs past the section", n)
		return ""
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	if !utf8.Valid(s) {
		r.fail("name is not UTF-8")
		return ""
	}
	return string(s)
}

func (r *reader) limits() { r.limitValues() }

// limitValues reads a limits descriptor: its initial value and, when
// declared (hasMax), its maximum. 64-bit values are read but reported as 0.
func (r *reader) limitValues() (initial, most uint32, hasMax bool) {
	flags := r.byte()
	if flags > 0x07 {
		r.fail("unknown limits flags %#x", flags)
		return 0, 0, false
	}
	wide := flags&0x04 != 0
	hasMax = flags&0x01 != 0
	vals := [2]uint32{}
	for i := range 1 + int(flags&0x01) {
		if wide {
			r.u64()
		} else {
			vals[i] = r.u32()
		}
	}
	return vals[0], vals[1], hasMax
}

func (r *reader) refType() {
	switch c := r.byte(); c {
	case 0x70, 0x6f: // funcref, externref
	case 0x63, 0x64: // (ref null ht), (ref ht)
		r.heapType()
	default:
		r.fail("unknown reference type %#x", c)
	}
}

func (r *reader) valType() {
	if r.err != nil || r.off >= len(r.b) {
		r.fail("cut short")
		return
	}
	switch c := r.b[r.off]; c {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b: // i32 i64 f32 f64 v128
		r.off++
	default:
		r.refType()
	}
}

// heapType skips a signed LEB128 (s33) heap type.
func (r *reader) heapType() {
	for i := 0; i < 5; i++ {
		if r.byte()&0x80 == 0 || r.err != nil {
			return
		}
	}
	r.fail("heap type longer than 5 bytes")
}
