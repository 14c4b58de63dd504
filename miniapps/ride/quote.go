package main

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Fares in minor units of the currency. All integer.
type Fares struct {
	Currency string
	Base     int64 // per ride
	PerKm    int64
	Van      int64 // added for more than 4 passengers
}

// Request is what the person filled in.
type Request struct {
	Pickup, Dropoff string
	Passengers      int
}

// Quote is the price of a request.
type Quote struct {
	Km, Minutes int
	Vehicle     string
	Price       int64
}

// Limits of a request.
const (
	MaxAddress    = 120 // characters
	MaxPassengers = 6
)

var errBadRequest = errors.New("bad ride request")

// ParseRequest checks the submitted form fields and returns the request,
// or an error saying what to fix (for the person).
func ParseRequest(fields map[string]string) (Request, error) {
	r := Request{
		Pickup:     strings.TrimSpace(fields["pickup"]),
		Dropoff:    strings.TrimSpace(fields["dropoff"]),
		Passengers: 1,
	}
	for _, f := range []struct{ name, v string }{{"pick-up address", r.Pickup}, {"destination", r.Dropoff}} {
		switch n := utf8.RuneCountInString(f.v); {
		case !utf8.ValidString(f.v):
			return Request{}, fmt.Errorf("%w: the %s is not text", errBadRequest, f.name)
		case n == 0:
			return Request{}, fmt.Errorf("%w: please give a %s", errBadRequest, f.name)
		case n > MaxAddress:
			return Request{}, fmt.Errorf("%w: the %s is %d characters; keep it under %d", errBadRequest, f.name, n, MaxAddress)
		}
		if strings.ContainsFunc(f.v, unicode.IsControl) {
			return Request{}, fmt.Errorf("%w: the %s has control characters", errBadRequest, f.name)
		}
	}
	if normalize(r.Pickup) == normalize(r.Dropoff) {
		return Request{}, fmt.Errorf("%w: the pick-up address and the destination are the same", errBadRequest)
	}
	if p := strings.TrimSpace(fields["passengers"]); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > MaxPassengers {
			return Request{}, fmt.Errorf("%w: passengers must be a number from 1 to %d", errBadRequest, MaxPassengers)
		}
		r.Passengers = n
	}
	return r, nil
}

func normalize(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }

// Price quotes a request. There is no map in the sandbox, so the distance
// is a stable stand-in derived from the two addresses: 2 to 25 km, the
// same for the same trip.
func (f *Fares) Price(r Request) Quote {
	h := fnv.New32a()
	h.Write([]byte(normalize(r.Pickup) + "\x00" + normalize(r.Dropoff)))
	km := 2 + int(h.Sum32()%24)
	q := Quote{Km: km, Minutes: 3 + 2*km, Vehicle: "Car", Price: f.Base + f.PerKm*int64(km)}
	if r.Passengers > 4 {
		q.Vehicle = "Van"
		q.Price += f.Van
	}
	return q
}
