package jsonstr_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/passerelle/passerelle/gateway/internal/jsonstr"
)

// Append writes exactly what encoding/json writes, after what is already there.
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "hi", `q"uote`, `back\slash`, "<b>&", "line\nbreak", "\u2028", "\x00", "\xff", "Zoë", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		got := jsonstr.Append([]byte("x"), s)
		if !bytes.Equal(got, append([]byte("x"), want...)) {
			t.Fatalf("%q: got %s, want x%s", s, got, want)
		}
	})
}
