package wasmbin_test

import (
	"fmt"
	"testing"

	"github.com/passerelle/passerelle/runtime/internal/wasmbin"
)

func TestRoundTrip(t *testing.T) {
	for _, v := range []uint32{0, 1, 63, 64, 127, 128, 300, 1<<21 - 1, 1 << 28, 1<<32 - 1} {
		b := wasmbin.AppendU32(nil, v)
		got, n, err := wasmbin.ReadU32(append(b, 0xff))
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
			if _, _, err := wasmbin.ReadU32(tc.in); err == nil {
				t.Errorf("ReadU32(%x) succeeded", tc.in)
			}
		})
	}
}

func TestReader(t *testing.T) {
	r := &wasmbin.Reader{B: []byte{0x03, 'a', 'b', 'c', 0xe5, 0x8e, 0x26, 0x07}}
	if name, v, c := r.Name(), r.U32(), r.Byte(); r.Err != nil || name != "abc" || v != 624485 || c != 7 || !r.Done() {
		t.Fatalf("read %q %d %d, err %v", name, v, c, r.Err)
	}
	r.Byte()
	if r.Err == nil {
		t.Fatal("reading past the end succeeded")
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"name past the end", []byte{0x05, 'a'}},
		{"name not UTF-8", []byte{0x01, 0xff}},
		{"LEB128 too long", []byte{0x80, 0x80, 0x80}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &wasmbin.Reader{B: tc.in, Wrap: func(off int, p string) error { return fmt.Errorf("at %d: %s", off, p) }}
			r.Name()
			if tc.name == "LEB128 too long" {
				r = &wasmbin.Reader{B: tc.in}
				r.SkipLEB(2)
			}
			if r.Err == nil {
				t.Errorf("%x: no error", tc.in)
			}
		})
	}
}
