package bridge

import (
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
)

func TestFormAccept(t *testing.T) {
	f := &formState{Form: host.Form{ID: "f", Fields: []host.FormField{
		{Name: "n", Label: "N", Type: "number", Required: true},
		{Name: "e", Label: "E", Type: "email"},
		{Name: "p", Label: "P", Type: "phone", Required: true},
		{Name: "t", Label: "T"},
	}}}
	tests := []struct {
		field int
		reply string
		want  string
		ok    bool
	}{
		{0, "3", "3", true}, {0, "2,5", "2,5", true}, {0, "three", "", false}, {0, "NaN", "", false}, {0, "inf", "", false}, {0, "-", "", false}, {0, " ", "", false},
		{1, "a@b.example", "a@b.example", true}, {1, "-", "", true}, {1, "not an address", "", false}, {1, "Ana <a@b.example>", "", false},
		{2, "+33 6 12 34 56 78", "+33 6 12 34 56 78", true}, {2, "12", "", false}, {2, "call me", "", false},
		{3, "  anything  ", "anything", true}, {3, "-", "", true},
	}
	for _, tt := range tests {
		f.Index = tt.field
		got, err := f.accept(tt.reply)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("field %d, %q: %q, %v", tt.field, tt.reply, got, err)
		}
	}
}

func FuzzFormAccept(f *testing.F) {
	for _, s := range []string{"3", "a@b.c", "+1 555", "-", "", "\x00", "1e400"} {
		f.Add(s)
	}
	form := &formState{Form: host.Form{ID: "f", Fields: []host.FormField{
		{Name: "n", Type: "number"}, {Name: "e", Type: "email"}, {Name: "p", Type: "phone"}, {Name: "t"},
	}}}
	f.Fuzz(func(t *testing.T, reply string) {
		for i := range form.Form.Fields {
			form.Index = i
			got, err := form.accept(reply)
			if err == nil && got != "" && got != strings.TrimSpace(reply) {
				t.Fatalf("field %d kept %q for %q", i, got, reply)
			}
			if q := form.question(); q == "" {
				t.Fatal("no question")
			}
		}
	})
}
