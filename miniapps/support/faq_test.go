//go:build !wasip1

package main

import "testing"

func TestMatch(t *testing.T) {
	faq := DefaultFAQ()
	tests := []struct {
		text string
		want string // entry id; "" for no match
	}{
		{"where is my parcel?", "where"},
		{"I want my money back", "refund"},
		{"REFUNDS!!!", "refund"},
		{"my refund hasn't arrived yet", "refund"},
		{"why did my payment fail", "declined"},
		{"the shirt came broken", "damaged"},
		{"how do I unsubscribe", "stop"},
		{"delete my personal data", "data"},
		{"I moved, new address", "address"},
		{"what's the weather like", ""},
		{"", ""},
		{"   ?!  ", ""},
		{"the a an", ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			e, ok := faq.Match(tt.text)
			if got := map[bool]string{true: e.ID, false: ""}[ok]; got != tt.want {
				t.Fatalf("Match(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestWantsPerson(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"can I talk to a human?", true},
		{"Agent please", true},
		{"I need SOMEONE to help", true},
		{"where is my order", false},
		{"personal data", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := WantsPerson(tt.text); got != tt.want {
			t.Errorf("WantsPerson(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 3, "hel"},
		{"café", 4, "caf"}, // é is 2 bytes: never cut inside it
		{"☕☕", 4, "☕"},
	}
	for _, tt := range tests {
		if got := clip(tt.s, tt.n); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestDefaultFAQFitsSurfaces(t *testing.T) {
	faq := DefaultFAQ()
	for _, e := range faq.Entries {
		if len([]rune(e.Title)) > 24 {
			t.Errorf("entry %s: title %q is longer than 24 characters", e.ID, e.Title)
		}
		if _, ok := faq.topic(e.Topic); !ok {
			t.Errorf("entry %s: unknown topic %q", e.ID, e.Topic)
		}
		if got, ok := faq.Match(e.Question); !ok || got.ID != e.ID {
			t.Errorf("asking %q literally finds %q, want %q", e.Question, got.ID, e.ID)
		}
	}
}

// FuzzMatch feeds free text, as people type it, to the matcher: it never
// panics and only returns entries of the FAQ.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"where is my parcel", "REFUND", "", "ééé", "\xff\xfe", "talk to a human"} {
		f.Add(s)
	}
	faq := DefaultFAQ()
	f.Fuzz(func(t *testing.T, s string) {
		WantsPerson(s)
		if e, ok := faq.Match(s); ok {
			if _, known := faq.entry(e.ID); !known {
				t.Fatalf("Match(%q) returned an entry not in the FAQ: %+v", s, e)
			}
		}
		if c := clip(s, 7); len(c) > 7 {
			t.Fatalf("clip(%q, 7) = %q", s, c)
		}
	})
}
