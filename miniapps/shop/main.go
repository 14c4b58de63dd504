//go:build wasip1

// Shop is a Passerelle clothing shop: a catalogue of product cards with
// images, sizes as buttons, a cart kept in the person's storage and a
// checkout through the platform's payments.
//
// Build it with
//
//	passerelle app build miniapps/shop
//
// or run it with the other examples, in a browser, with
//
//	passerelle demo
package main

import passerelle "github.com/passerelle/passerelle/sdk/go"

func init() {
	passerelle.Serve(newApp(DefaultCatalogue()))
}

// main is never run: the platform loads shop as a reactor module.
func main() {}
