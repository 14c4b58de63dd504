//go:build !wasip1

package main

import (
	"errors"
	"testing"
)

func TestCartAddAndTotal(t *testing.T) {
	cat := DefaultCatalogue()
	var cart Cart
	steps := []struct {
		product, size string
		err           error
		total         int64
		items         int
	}{
		{"tee", "M", nil, 2900, 1},
		{"tee", "M", nil, 5800, 2},
		{"jeans", "32", nil, 12700, 3},
		{"tee", "XXL", errNotSold, 12700, 3},
		{"socks", "M", errNotSold, 12700, 3},
		{"cap", "One size", nil, 14600, 4},
	}
	for _, st := range steps {
		err := cat.Add(&cart, st.product, st.size)
		if !errors.Is(err, st.err) {
			t.Fatalf("Add(%s, %s) = %v, want %v", st.product, st.size, err, st.err)
		}
		total, items, gone := cat.Total(&cart)
		if total != st.total || items != st.items || len(gone) != 0 {
			t.Fatalf("after %s %s: total %d items %d gone %v; want %d %d", st.product, st.size, total, items, gone, st.total, st.items)
		}
	}
	if cart.Version != 4 || len(cart.Lines) != 3 {
		t.Fatalf("cart %+v: want 3 lines after 4 changes", cart)
	}
	want := "2 × Linen tee (M): €58.00\n1 × Straight jeans (32): €69.00\n1 × Wool cap (One size): €19.00"
	if got := cat.Describe(&cart); got != want {
		t.Fatalf("Describe:\n%s\nwant\n%s", got, want)
	}
}

func TestCartLimits(t *testing.T) {
	cat := DefaultCatalogue()
	var cart Cart
	for range MaxQty {
		if err := cat.Add(&cart, "cap", "One size"); err != nil {
			t.Fatal(err)
		}
	}
	if err := cat.Add(&cart, "cap", "One size"); !errors.Is(err, errCartFull) {
		t.Fatalf("quantity %d: err %v, want errCartFull", MaxQty+1, err)
	}
	cart = Cart{}
	for i := range MaxLines {
		cart.Lines = append(cart.Lines, Line{Product: "tee", Size: string(rune('a' + i)), Qty: 1})
	}
	if err := cat.Add(&cart, "tee", "M"); !errors.Is(err, errCartFull) {
		t.Fatalf("line %d: err %v, want errCartFull", MaxLines+1, err)
	}
}

func TestTotalIgnoresWhatIsNotSold(t *testing.T) {
	cat := DefaultCatalogue()
	cart := Cart{Lines: []Line{{"tee", "M", 1}, {"gone", "M", 1}, {"tee", "L", -3}, {"cap", "One size", 99}}}
	total, items, gone := cat.Total(&cart)
	if total != 2900 || items != 1 || len(gone) != 3 {
		t.Fatalf("total %d items %d gone %v; want 2900, 1 and 3 lines left out", total, items, gone)
	}
}

func TestRemovePaid(t *testing.T) {
	cart := Cart{Version: 5, Lines: []Line{{"tee", "M", 3}, {"cap", "One size", 1}, {"jeans", "32", 1}}}
	Remove(&cart, []Line{{"tee", "M", 2}, {"cap", "One size", 1}})
	if len(cart.Lines) != 2 || cart.Lines[0] != (Line{"tee", "M", 1}) || cart.Lines[1] != (Line{"jeans", "32", 1}) || cart.Version != 6 {
		t.Fatalf("cart %+v", cart)
	}
}

func TestRefOfKey(t *testing.T) {
	co := checkout{Ref: "A1B2C3-4", Try: 2}
	if ref, ok := refOfKey(co.key()); !ok || ref != co.Ref {
		t.Fatalf("refOfKey(%q) = %q, %v", co.key(), ref, ok)
	}
	for _, k := range []string{"", "lunch:x:1", "shop:", "shop::2", "shop:abc"} {
		if ref, ok := refOfKey(k); ok {
			t.Errorf("refOfKey(%q) = %q, want not ok", k, ref)
		}
	}
}
