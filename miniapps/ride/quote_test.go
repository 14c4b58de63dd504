//go:build !wasip1

package main

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		want   Request
		err    string // part of the message; "" for success
	}{
		{"minimal", map[string]string{"pickup": " 1 Main St ", "dropoff": "Gare de Lyon"}, Request{"1 Main St", "Gare de Lyon", 1}, ""},
		{"passengers", map[string]string{"pickup": "a", "dropoff": "b", "passengers": "5"}, Request{"a", "b", 5}, ""},
		{"no pickup", map[string]string{"dropoff": "b"}, Request{}, "please give a pick-up address"},
		{"blank destination", map[string]string{"pickup": "a", "dropoff": "   "}, Request{}, "please give a destination"},
		{"same place", map[string]string{"pickup": "Gare  du Nord", "dropoff": "gare du nord"}, Request{}, "are the same"},
		{"too many", map[string]string{"pickup": "a", "dropoff": "b", "passengers": "7"}, Request{}, "from 1 to 6"},
		{"zero", map[string]string{"pickup": "a", "dropoff": "b", "passengers": "0"}, Request{}, "from 1 to 6"},
		{"not a number", map[string]string{"pickup": "a", "dropoff": "b", "passengers": "two"}, Request{}, "from 1 to 6"},
		{"too long", map[string]string{"pickup": strings.Repeat("é", MaxAddress+1), "dropoff": "b"}, Request{}, "keep it under"},
		{"control", map[string]string{"pickup": "a\x00b", "dropoff": "b"}, Request{}, "control characters"},
		{"not utf-8", map[string]string{"pickup": "\xff", "dropoff": "b"}, Request{}, "is not text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest(tt.fields)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseRequest = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, errBadRequest) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("ParseRequest error %v, want one saying %q", err, tt.err)
			}
		})
	}
}

func TestPrice(t *testing.T) {
	f := DefaultConfig().Fares
	car := Request{"1 Main St", "Gare de Lyon", 2}
	q := f.Price(car)
	if q.Km < 2 || q.Km > 25 || q.Price != f.Base+f.PerKm*int64(q.Km) || q.Vehicle != "Car" || q.Minutes != 3+2*q.Km {
		t.Fatalf("quote %+v", q)
	}
	if again := f.Price(Request{"1  main st", "GARE DE LYON", 2}); again != q {
		t.Fatalf("the same trip written differently is priced %+v, then %+v", q, again)
	}
	van := car
	van.Passengers = 6
	if v := f.Price(van); v.Vehicle != "Van" || v.Price != q.Price+f.Van {
		t.Fatalf("van %+v, car %+v", v, q)
	}
}

func TestIDOfKey(t *testing.T) {
	r := ride{ID: "R1A2B3", Try: 3}
	if id, ok := idOfKey(r.key()); !ok || id != r.ID {
		t.Fatalf("idOfKey(%q) = %q, %v", r.key(), id, ok)
	}
	for _, k := range []string{"", "shop:x:1", "ride:", "ride::1", "ride:abc"} {
		if id, ok := idOfKey(k); ok {
			t.Errorf("idOfKey(%q) = %q, want not ok", k, id)
		}
	}
}

// FuzzParseRequest feeds form fields, as people's clients submit them: no
// panic, and an accepted request is priced within bounds.
func FuzzParseRequest(f *testing.F) {
	f.Add("1 Main St", "Gare de Lyon", "2")
	f.Add("", "", "")
	f.Add("a", "A", "-1")
	f.Add("\xff", "b", "99999999999999999999")
	fares := DefaultConfig().Fares
	f.Fuzz(func(t *testing.T, pickup, dropoff, passengers string) {
		r, err := ParseRequest(map[string]string{"pickup": pickup, "dropoff": dropoff, "passengers": passengers})
		if err != nil {
			return
		}
		if r.Passengers < 1 || r.Passengers > MaxPassengers || r.Pickup == "" || r.Dropoff == "" {
			t.Fatalf("accepted %+v", r)
		}
		q := fares.Price(r)
		if q.Km < 2 || q.Km > 25 || q.Price <= 0 {
			t.Fatalf("quote %+v", q)
		}
	})
}
