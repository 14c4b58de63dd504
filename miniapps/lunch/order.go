package main

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Dish is one item of the menu. Prices are integer minor units of the
// menu's currency (cents for EUR); there are no floats anywhere.
type Dish struct {
	ID          string
	Name        string
	Description string
	Price       int64
}

// Option is a size or a side, with what it adds to the price.
type Option struct {
	ID    string
	Name  string
	Extra int64
}

// Menu is what the kitchen sells.
type Menu struct {
	Currency string // ISO 4217; amounts are in its minor units
	Dishes   []Dish
	Sizes    []Option // the first one is the default
	Sides    []Option // the first one is "no side"
}

func (m *Menu) dish(id string) (Dish, bool) {
	for _, d := range m.Dishes {
		if d.ID == id {
			return d, true
		}
	}
	return Dish{}, false
}

func findOption(opts []Option, id string) (Option, bool) {
	for _, o := range opts {
		if o.ID == id {
			return o, true
		}
	}
	return Option{}, false
}

// Choice is what a person picked: a dish with a size and a side.
type Choice struct {
	Dish string `json:"dish"`
	Size string `json:"size"`
	Side string `json:"side"`
}

// Price returns the price of c in minor units, or an error when c names
// something the menu does not have. Prices always come from the menu, never
// from what a button carried.
func (m *Menu) Price(c Choice) (int64, error) {
	d, ok := m.dish(c.Dish)
	if !ok {
		return 0, fmt.Errorf("%w: no dish %q", errBadChoice, c.Dish)
	}
	size, ok := findOption(m.Sizes, c.Size)
	if !ok {
		return 0, fmt.Errorf("%w: no size %q", errBadChoice, c.Size)
	}
	side, ok := findOption(m.Sides, c.Side)
	if !ok {
		return 0, fmt.Errorf("%w: no side %q", errBadChoice, c.Side)
	}
	return d.Price + size.Extra + side.Extra, nil
}

// Describe returns "Tomato soup (large, fries)": what the person ordered.
func (m *Menu) Describe(c Choice) string {
	d, _ := m.dish(c.Dish)
	var extras []string
	if size, ok := findOption(m.Sizes, c.Size); ok && size.ID != m.Sizes[0].ID {
		extras = append(extras, strings.ToLower(size.Name))
	}
	if side, ok := findOption(m.Sides, c.Side); ok && side.ID != m.Sides[0].ID {
		extras = append(extras, strings.ToLower(side.Name))
	}
	if len(extras) == 0 {
		return d.Name
	}
	return d.Name + " (" + strings.Join(extras, ", ") + ")"
}

var errBadChoice = errors.New("not on the menu")

// Draft is an order being put together. It travels in the value of the
// buttons the app draws, so the app keeps no state between the steps of
// choosing; a draft coming back is untrusted input and is checked against
// the menu before anything is priced.
type Draft struct {
	Nonce string // made once per order from the id of the event that started it
	Choice
	Try  int  // payment attempt, from 1; a retry after a decline is a new attempt
	Anon bool // the person chose to go on without sharing their name
}

// Ref is the order number people see and the app's storage key for the
// order: the nonce and a digest of the choice, so that the same choice
// pressed twice is the same order and a different choice a different one.
func (d Draft) Ref() string {
	h := fnv.New32a()
	h.Write([]byte(d.Dish + "\x00" + d.Size + "\x00" + d.Side))
	return d.Nonce + "-" + strings.ToUpper(strconv.FormatUint(uint64(h.Sum32()%(36*36*36*36)), 36))
}

// IdempotencyKey is the key of the payment request for this attempt: a
// double press asks once; a retry after a decline asks again.
func (d Draft) IdempotencyKey() string {
	return "lunch:" + d.Ref() + ":" + strconv.Itoa(d.Try)
}

// refOfKey returns the order ref inside an idempotency key made by
// IdempotencyKey.
func refOfKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "lunch:")
	if !ok {
		return "", false
	}
	ref, _, ok := strings.Cut(rest, ":")
	return ref, ok && ref != ""
}

// newNonce derives an order nonce from the id of the event that started the
// order: unique per order, the same if that event is delivered again.
func newNonce(eventID, user string) string {
	h := fnv.New64a()
	h.Write([]byte(eventID + "\x00" + user))
	s := strings.ToUpper(strconv.FormatUint(h.Sum64(), 36))
	if len(s) > 6 {
		s = s[:6]
	}
	return s
}

// Encode returns the draft as a button value: "n=K3F9QA;d=soup;s=large;x=fries;t=1".
func (d Draft) Encode() string {
	var b strings.Builder
	b.WriteString("n=" + d.Nonce + ";d=" + d.Dish)
	if d.Size != "" {
		b.WriteString(";s=" + d.Size)
	}
	if d.Side != "" {
		b.WriteString(";x=" + d.Side)
	}
	if d.Try > 0 {
		b.WriteString(";t=" + strconv.Itoa(d.Try))
	}
	if d.Anon {
		b.WriteString(";a=1")
	}
	return b.String()
}

var errBadDraft = errors.New("bad order data")

// maxTries bounds payment attempts on one order.
const maxTries = 20

// DecodeDraft parses a value made by Encode. It checks the syntax only;
// Menu.Price checks the choice.
func DecodeDraft(s string) (Draft, error) {
	var d Draft
	if s == "" || len(s) > 200 {
		return d, fmt.Errorf("%w: %d bytes", errBadDraft, len(s))
	}
	seen := map[byte]bool{}
	for part := range strings.SplitSeq(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || len(k) != 1 || seen[k[0]] || !token(v) {
			return Draft{}, fmt.Errorf("%w: %q", errBadDraft, part)
		}
		seen[k[0]] = true
		switch k[0] {
		case 'n':
			d.Nonce = v
		case 'd':
			d.Dish = v
		case 's':
			d.Size = v
		case 'x':
			d.Side = v
		case 't':
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxTries {
				return Draft{}, fmt.Errorf("%w: attempt %q", errBadDraft, v)
			}
			d.Try = n
		case 'a':
			if v != "1" {
				return Draft{}, fmt.Errorf("%w: %q", errBadDraft, part)
			}
			d.Anon = true
		default:
			return Draft{}, fmt.Errorf("%w: unknown field %q", errBadDraft, k)
		}
	}
	if d.Nonce == "" || d.Dish == "" {
		return Draft{}, fmt.Errorf("%w: no order number or dish", errBadDraft)
	}
	return d, nil
}

// token reports whether v is 1..40 characters of letters, digits and '-'.
func token(v string) bool {
	if v == "" || len(v) > 40 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
