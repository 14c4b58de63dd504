package leb128_test

import (
	"testing"

	"github.com/passerelle/passerelle/runtime/internal/leb128"
)

func TestRoundTrip(t *testing.T) {
	for _, v := range []uint32{0, 1, 63, 64, 127, 128, 300, 1<<21 - 1, 1 << 28, 1<<32 - 1} {
		b := leb128.AppendU32(nil, v)
		got, n, err := leb128.ReadU32(append(b, 0xff))
		if err != nil || got != v || n != len(b) {
			t.Errorf("%d: encoded %x, read %d, %d bytes, %v", v, b, got, n, err)
		}
	}
}

func TestReadU32Errors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"cut short", []byte{0x80, 0x80}},
		{"overflows 32 bits", []byte{0xff, 0xff, 0xff, 0xff, 0x1f}},
		{"longer than 5 bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := leb128.ReadU32(tc.in); err == nil {
				t.Errorf("ReadU32(%x) succeeded", tc.in)
			}
		})
	}
}
