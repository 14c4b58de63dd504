package wasmbin

import "errors"

// ReadU32 decodes an unsigned LEB128 value of at most 32 bits from the
// start of b and returns it with the number of bytes it took.
func ReadU32(b []byte) (v uint32, n int, err error) {
	var shift uint
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0, errors.New("LEB128 value cut short by the end of the file")
		}
		c := b[i]
		if i == 4 && c&0xf0 != 0 {
			return 0, 0, errors.New("LEB128 value overflows 32 bits")
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, errors.New("LEB128 value longer than 5 bytes")
}

// AppendU32 appends v to b in unsigned LEB128.
func AppendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}
