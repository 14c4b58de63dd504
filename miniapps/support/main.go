//go:build wasip1

// Support is a Passerelle support bot: it lists help topics, answers common
// questions asked in people's own words by matching them against its FAQ,
// and hands the conversation to a person when asked (or when it cannot
// help), giving a reference the person can quote.
//
// Build it with
//
//	passerelle app build miniapps/support
//
// or run it with the other examples, in a browser, with
//
//	passerelle demo
package main

import passerelle "github.com/passerelle/passerelle/sdk/go"

func init() {
	passerelle.Serve(newApp(DefaultFAQ()))
}

// main is never run: the platform loads support as a reactor module.
func main() {}
