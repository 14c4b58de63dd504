// Package money formats amounts for the example mini-apps' messages.
package money

import "fmt"

// Format formats minor units of a two-decimal currency: 1250 EUR → "12.50 €",
// 1250 USD → "12.50 USD". The example apps price everything in such a
// currency.
func Format(amount int64, currency string) string {
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	s := fmt.Sprintf("%s%d.%02d", sign, amount/100, amount%100)
	if currency == "EUR" {
		return s + " €"
	}
	return s + " " + currency
}
