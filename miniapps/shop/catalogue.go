package main

//go:generate go run ./internal/photos

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/passerelle/passerelle/miniapps/internal/money"
)

// Product is one item of the catalogue. Prices are integer minor units of
// the catalogue's currency.
type Product struct {
	ID          string
	Name        string
	Description string
	Image       string // "asset:<name>" of a photo in assets/, or an https URL
	Price       int64
	Sizes       []string
}

// Catalogue is what the shop sells.
type Catalogue struct {
	Currency string
	Products []Product
}

// DefaultCatalogue is the demo shop. Its photos ship with the app, in
// assets/ (drawn by internal/photos).
func DefaultCatalogue() Catalogue {
	const img = "asset:"
	return Catalogue{
		Currency: "EUR",
		Products: []Product{
			{ID: "tee", Name: "Linen tee", Description: "Washed linen, relaxed fit. Sand.", Image: img + "tee.png", Price: 2900, Sizes: []string{"S", "M", "L", "XL"}},
			{ID: "jeans", Name: "Straight jeans", Description: "Organic denim, straight leg. Indigo.", Image: img + "jeans.png", Price: 6900, Sizes: []string{"30", "32", "34"}},
			{ID: "hoodie", Name: "Loopback hoodie", Description: "Heavy cotton loopback. Forest green.", Image: img + "hoodie.png", Price: 5500, Sizes: []string{"S", "M", "L"}},
			{ID: "cap", Name: "Wool cap", Description: "Merino wool, one size fits most.", Image: img + "cap.png", Price: 1900, Sizes: []string{"One size"}},
		},
	}
}

func (c *Catalogue) product(id string) (Product, bool) {
	for _, p := range c.Products {
		if p.ID == id {
			return p, true
		}
	}
	return Product{}, false
}

// Line is one product in one size, in some quantity.
type Line struct {
	Product string `json:"product"`
	Size    string `json:"size"`
	Qty     int    `json:"qty"`
}

// Cart is the person's basket. ID is made when the cart is started;
// Version counts its changes, so that a checkout names exactly the cart
// that was paid for.
type Cart struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Lines   []Line `json:"lines"`
}

// Limits of a cart.
const (
	MaxLines = 20 // different product/size lines
	MaxQty   = 10 // of one line
)

var (
	errNotSold  = errors.New("not in the catalogue")
	errCartFull = errors.New("cart is full")
)

// Add puts one of product in size into the cart.
func (c *Catalogue) Add(cart *Cart, product, size string) error {
	p, ok := c.product(product)
	if !ok || !slices.Contains(p.Sizes, size) {
		return fmt.Errorf("%w: %q in size %q", errNotSold, product, size)
	}
	for i := range cart.Lines {
		if l := &cart.Lines[i]; l.Product == product && l.Size == size {
			if l.Qty >= MaxQty {
				return fmt.Errorf("%w: at most %d of one item", errCartFull, MaxQty)
			}
			l.Qty++
			cart.Version++
			return nil
		}
	}
	if len(cart.Lines) >= MaxLines {
		return fmt.Errorf("%w: at most %d different items", errCartFull, MaxLines)
	}
	cart.Lines = append(cart.Lines, Line{Product: product, Size: size, Qty: 1})
	cart.Version++
	return nil
}

// Total returns the price of the cart from the catalogue's prices; lines of
// products no longer sold are dropped from the count and reported.
func (c *Catalogue) Total(cart *Cart) (total int64, items int, gone []Line) {
	for _, l := range cart.Lines {
		p, ok := c.product(l.Product)
		if !ok || l.Qty < 1 || l.Qty > MaxQty {
			gone = append(gone, l)
			continue
		}
		total += p.Price * int64(l.Qty)
		items += l.Qty
	}
	return total, items, gone
}

// Describe writes the cart one line per item: "2 × Linen tee (M): €58.00".
func (c *Catalogue) Describe(cart *Cart) string {
	var b strings.Builder
	for _, l := range cart.Lines {
		p, ok := c.product(l.Product)
		if !ok {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%d × %s (%s): %s", l.Qty, p.Name, l.Size, money.Format(p.Price*int64(l.Qty), c.Currency))
	}
	return b.String()
}

// Remove takes the paid lines out of cart (used when a person changed
// their cart after checking out).
func Remove(cart *Cart, paid []Line) {
	for _, pl := range paid {
		for i := range cart.Lines {
			if l := &cart.Lines[i]; l.Product == pl.Product && l.Size == pl.Size {
				l.Qty -= pl.Qty
			}
		}
	}
	cart.Lines = slices.DeleteFunc(cart.Lines, func(l Line) bool { return l.Qty <= 0 })
	cart.Version++
}
