package meter

import (
	"fmt"

	"github.com/passerelle/passerelle/runtime/internal/wasmbin"
)

// reader decodes one part of a module (see wasmbin.Reader); its problems
// wrap ErrMalformed and name the file offset.
type reader struct {
	wasmbin.Reader
	at int // offset of B[0] in the file
}

func newReader(b []byte, at int) *reader {
	return &reader{Reader: wasmbin.Reader{B: b, Wrap: func(off int, problem string) error {
		return fmt.Errorf("%w: at offset %d: %s", ErrMalformed, at+off, problem)
	}}, at: at}
}

// s33 decodes a signed LEB128 value of at most 33 bits (a block type).
func (r *reader) s33() int64 {
	var v int64
	var shift uint
	for i := 0; i < 5; i++ {
		c := r.Byte()
		if r.Err != nil {
			return 0
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if c&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
	r.Fail("s33 longer than 5 bytes")
	return 0
}

// count reads a vector length and checks it against the bytes left (every
// element takes at least one byte), so that no caller allocates for a
// length the input cannot hold.
func (r *reader) count() int {
	n := r.U32()
	if r.Err == nil && int64(n) > int64(len(r.B)-r.Off) {
		r.Fail("vector of %d elements in %d bytes", n, len(r.B)-r.Off)
		return 0
	}
	return int(n)
}

func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	b = wasmbin.AppendU32(b, uint32(len(s)))
	return append(b, s...)
}

// appendSection appends a section with its id and size.
func appendSection(b []byte, id byte, payload []byte) []byte {
	b = append(b, id)
	b = wasmbin.AppendU32(b, uint32(len(payload)))
	return append(b, payload...)
}
