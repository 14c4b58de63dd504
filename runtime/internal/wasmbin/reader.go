package wasmbin

import (
	"fmt"
	"unicode/utf8"
)

// Reader decodes primitives from B, starting at Off. The first error
// sticks: later reads return zero values, so a caller checks Err once after
// a run of reads. It never reads past B and never panics.
type Reader struct {
	B   []byte
	Off int
	Err error
	// Wrap turns a problem found at Off into Err, to name the file offset
	// and the caller's sentinel error. Nil keeps the problem as it is.
	Wrap func(off int, problem string) error
}

// Fail records a problem at the current offset unless one is recorded.
func (r *Reader) Fail(format string, args ...any) {
	if r.Err != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if r.Wrap != nil {
		r.Err = r.Wrap(r.Off, msg)
	} else {
		r.Err = fmt.Errorf("at offset %d: %s", r.Off, msg)
	}
}

// Done reports whether the reader failed or reached the end of B.
func (r *Reader) Done() bool { return r.Err != nil || r.Off >= len(r.B) }

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if r.Err != nil {
		return 0
	}
	if r.Off >= len(r.B) {
		r.Fail("cut short")
		return 0
	}
	c := r.B[r.Off]
	r.Off++
	return c
}

// Bytes returns the next n bytes of B, with the capacity clipped so that
// appending to them copies.
func (r *Reader) Bytes(n int) []byte {
	if r.Err != nil {
		return nil
	}
	if n < 0 || n > len(r.B)-r.Off {
		r.Fail("%d bytes run past the end", n)
		return nil
	}
	s := r.B[r.Off : r.Off+n : r.Off+n]
	r.Off += n
	return s
}

// U32 reads an unsigned LEB128 value of at most 32 bits.
func (r *Reader) U32() uint32 {
	if r.Err != nil {
		return 0
	}
	v, n, err := ReadU32(r.B[r.Off:])
	if err != nil {
		r.Fail("%v", err)
		return 0
	}
	r.Off += n
	return v
}

// SkipLEB skips a LEB128 value, signed or not, of at most max bytes.
func (r *Reader) SkipLEB(max int) {
	for range max {
		if r.Byte()&0x80 == 0 || r.Err != nil {
			return
		}
	}
	r.Fail("LEB128 value longer than %d bytes", max)
}

// Name reads a name: a length and that many bytes of UTF-8.
func (r *Reader) Name() string {
	b := r.Bytes(int(r.U32()))
	if r.Err == nil && !utf8.Valid(b) {
		r.Fail("name is not UTF-8")
		return ""
	}
	return string(b)
}
