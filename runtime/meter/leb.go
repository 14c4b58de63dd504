package meter

import (
	"fmt"
	"unicode/utf8"

	"github.com/passerelle/passerelle/runtime/internal/leb128"
)

// reader decodes one part of a module. The first error sticks: later reads
// return zero values, so callers check err once after a run of reads.
type reader struct {
	b   []byte
	off int
	at  int // offset of b[0] in the file, for error messages
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: at offset %d: %s", ErrMalformed, r.at+r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) done() bool { return r.err != nil || r.off >= len(r.b) }

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

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail("%d bytes run past the end", n)
		return nil
	}
	s := r.b[r.off : r.off+n : r.off+n] // clipped: appending copies
	r.off += n
	return s
}

// u32 decodes an unsigned LEB128 value of at most 32 bits.
func (r *reader) u32() uint32 {
	if r.err != nil {
		return 0
	}
	v, n, err := leb128.ReadU32(r.b[r.off:])
	if err != nil {
		r.fail("%v", err)
		return 0
	}
	r.off += n
	return v
}

// skipLEB skips a LEB128 value (signed or not) of at most max bytes.
func (r *reader) skipLEB(max int) {
	for i := 0; i < max; i++ {
		if r.byte()&0x80 == 0 || r.err != nil {
			return
		}
	}
	r.fail("LEB128 value longer than %d bytes", max)
}

// s33 decodes a signed LEB128 value of at most 33 bits (a block type).
func (r *reader) s33() int64 {
	var v int64
	var shift uint
	for i := 0; i < 5; i++ {
		c := r.byte()
		if r.err != nil {
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
	r.fail("s33 longer than 5 bytes")
	return 0
}

func (r *reader) name() string {
	n := r.u32()
	b := r.bytes(int(n))
	if r.err == nil && !utf8.Valid(b) {
		r.fail("name is not UTF-8")
	}
	return string(b)
}

// count reads a vector length and checks it against the bytes left (every
// element takes at least one byte), so that no caller allocates for a
// length the input cannot hold.
func (r *reader) count() int {
	n := r.u32()
	if r.err == nil && int64(n) > int64(len(r.b)-r.off) {
		r.fail("vector of %d elements in %d bytes", n, len(r.b)-r.off)
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
	b = leb128.AppendU32(b, uint32(len(s)))
	return append(b, s...)
}

// appendSection appends a section with its id and size.
func appendSection(b []byte, id byte, payload []byte) []byte {
	b = append(b, id)
	b = leb128.AppendU32(b, uint32(len(payload)))
	return append(b, payload...)
}
