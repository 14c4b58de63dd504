//go:build !wasip1

package main

import (
	"errors"
	"testing"
)

func TestPrice(t *testing.T) {
	m := DefaultConfig().Menu
	tests := []struct {
		name string
		c    Choice
		want int64
		err  bool
	}{
		{"plain", Choice{"soup", "regular", "none"}, 650, false},
		{"large with fries", Choice{"soup", "large", "fries"}, 650 + 250 + 300, false},
		{"bowl with greens", Choice{"bowl", "regular", "greens"}, 1290 + 250, false},
		{"unknown dish", Choice{"pizza", "regular", "none"}, 0, true},
		{"unknown size", Choice{"soup", "huge", "none"}, 0, true},
		{"unknown side", Choice{"soup", "regular", "caviar"}, 0, true},
		{"empty", Choice{}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Price(tt.c)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("Price(%+v) = %d, %v; want %d, error %v", tt.c, got, err, tt.want, tt.err)
			}
			if err != nil && !errors.Is(err, errBadChoice) {
				t.Fatalf("error %v does not wrap errBadChoice", err)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	m := DefaultConfig().Menu
	tests := []struct {
		c    Choice
		want string
	}{
		{Choice{"soup", "regular", "none"}, "Tomato soup"},
		{Choice{"soup", "large", "none"}, "Tomato soup (large)"},
		{Choice{"burger", "large", "fries"}, "Veggie burger (large, fries)"},
		{Choice{"salad", "regular", "greens"}, "Caesar salad (side salad)"},
	}
	for _, tt := range tests {
		if got := m.Describe(tt.c); got != tt.want {
			t.Errorf("Describe(%+v) = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestDraftRoundTrip(t *testing.T) {
	tests := []Draft{
		{Nonce: "K3F9QA", Choice: Choice{Dish: "soup"}},
		{Nonce: "K3F9QA", Choice: Choice{Dish: "soup", Size: "large"}},
		{Nonce: "K3F9QA", Choice: Choice{Dish: "soup", Size: "large", Side: "fries"}, Try: 3, Anon: true},
	}
	for _, d := range tests {
		t.Run(d.Encode(), func(t *testing.T) {
			got, err := DecodeDraft(d.Encode())
			if err != nil || got != d {
				t.Fatalf("DecodeDraft(Encode(%+v)) = %+v, %v", d, got, err)
			}
		})
	}
}

func TestDecodeDraftRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"d=soup",                   // no nonce
		"n=ABC",                    // no dish
		"n=ABC;d=soup;d=salad",     // repeated field
		"n=ABC;d=so up",            // bad character
		"n=ABC;d=soup;t=0",         // attempts start at 1
		"n=ABC;d=soup;t=999",       // too many attempts
		"n=ABC;d=soup;a=2",         // flag is 1
		"n=ABC;d=soup;q=1",         // unknown field
		"n=ABC;d=soup;",            // empty part
		"n=ABC;dish=soup",          // long key
		"n=ABC;d=soup;s=" + long(), // too long value
	} {
		if d, err := DecodeDraft(s); !errors.Is(err, errBadDraft) {
			t.Errorf("DecodeDraft(%q) = %+v, %v; want errBadDraft", s, d, err)
		}
	}
}

func long() string {
	b := make([]byte, 41)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}

func TestRefAndKey(t *testing.T) {
	a := Draft{Nonce: "K3F9QA", Choice: Choice{"soup", "large", "fries"}, Try: 1}
	b := a
	b.Side = "greens"
	if a.Ref() == b.Ref() {
		t.Fatalf("different choices share ref %s", a.Ref())
	}
	again := a
	again.Try = 2
	if a.Ref() != again.Ref() || a.IdempotencyKey() == again.IdempotencyKey() {
		t.Fatalf("a retry must keep the ref (%s, %s) and change the key (%s, %s)", a.Ref(), again.Ref(), a.IdempotencyKey(), again.IdempotencyKey())
	}
	if ref, ok := refOfKey(a.IdempotencyKey()); !ok || ref != a.Ref() {
		t.Fatalf("refOfKey(%q) = %q, %v; want %q", a.IdempotencyKey(), ref, ok, a.Ref())
	}
	for _, k := range []string{"", "shop:x:1", "lunch:", "lunch::1", "lunch:abc"} {
		if ref, ok := refOfKey(k); ok {
			t.Errorf("refOfKey(%q) = %q, want not ok", k, ref)
		}
	}
	if n1, n2 := newNonce("ev1", "u1"), newNonce("ev2", "u1"); n1 == n2 || n1 != newNonce("ev1", "u1") {
		t.Fatalf("nonces %q %q: want distinct per event and stable per event", n1, n2)
	}
}

// FuzzDecodeDraft feeds button values, which come back from people's
// clients, to the parser: it must never panic, and what it accepts must
// survive a round trip.
func FuzzDecodeDraft(f *testing.F) {
	for _, s := range []string{"n=K3F9QA;d=soup;s=large;x=fries;t=1", "n=A;d=b;a=1", "", ";;", "n==;d=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := DecodeDraft(s)
		if err != nil {
			return
		}
		got, err := DecodeDraft(d.Encode())
		if err != nil || got != d {
			t.Fatalf("round trip of %q: %+v → %q → %+v, %v", s, d, d.Encode(), got, err)
		}
	})
}
