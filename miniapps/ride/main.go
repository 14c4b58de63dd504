//go:build wasip1

// Ride is a Passerelle ride-hailing mini-app: a form for the pick-up and the
// destination, a fixed price quote, payment through the platform, a timer
// that says when the driver arrives, and cancellation with a refund until
// then.
//
// Build it with
//
//	passerelle app build miniapps/ride
//
// or run it with the other examples, in a browser, with
//
//	passerelle demo
package main

import passerelle "github.com/passerelle/passerelle/sdk/go"

func init() {
	passerelle.Serve(newApp(DefaultConfig()))
}

// main is never run: the platform loads ride as a reactor module.
func main() {}
