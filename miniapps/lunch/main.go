//go:build wasip1

// Lunch is the Passerelle showcase mini-app: it shows a menu card, asks for
// size and side, asks for the person's name through the identity API,
// remembers their usual in storage, requests the payment, sends a receipt
// when it is paid and tells them when the food is ready with a timer. It
// uses every host API: chat, storage, identity, pay and timer.
//
// Build it with
//
//	passerelle app build miniapps/lunch
//
// or run it with the other examples, in a browser, with
//
//	passerelle demo
package main

import passerelle "github.com/passerelle/passerelle/sdk/go"

func init() {
	passerelle.Serve(newApp(DefaultConfig()))
}

// main is never run: the platform loads lunch as a reactor module.
func main() {}
