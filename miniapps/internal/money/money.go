// Package money formats amounts for the example mini-apps' messages.
package money

import "fmt"

// Format formats minor units of a two-decimal currency as the web client
// does, so that people meet one money format: 1250 EUR → "€12.50", 1250 USD
// → "USD 12.50", -300 EUR → "-€3.00". The example apps price everything in
// such a currency.
func Format(amount int64, currency string) string {
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	unit := currency + " "
	if currency == "EUR" {
		unit = "€"
	}
	return fmt.Sprintf("%s%s%d.%02d", sign, unit, amount/100, amount%100)
}
