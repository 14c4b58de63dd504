package money_test

import (
	"testing"

	"github.com/passerelle/passerelle/miniapps/internal/money"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		amount   int64
		currency string
		want     string
	}{
		{1250, "EUR", "€12.50"},
		{5, "EUR", "€0.05"},
		{0, "EUR", "€0.00"},
		{-300, "EUR", "-€3.00"},
		{1670, "USD", "USD 16.70"},
		{100000, "USD", "USD 1000.00"},
	}
	for _, tt := range tests {
		if got := money.Format(tt.amount, tt.currency); got != tt.want {
			t.Errorf("Format(%d, %s) = %q, want %q", tt.amount, tt.currency, got, tt.want)
		}
	}
}
