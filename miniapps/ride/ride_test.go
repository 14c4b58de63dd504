//go:build !wasip1

package main

import (
	"strings"
	"testing"

	passerelle "github.com/passerelle/passerelle/sdk/go"
	"github.com/passerelle/passerelle/sdk/go/sdktest"
)

// TestFormErrors submits bad forms: the app draws the form again saying
// what to fix, and stores nothing.
func TestFormErrors(t *testing.T) {
	tests := []struct {
		fields map[string]string
		want   string
	}{
		{map[string]string{"dropoff": "Gare de Lyon"}, "Almost: please give a pick-up address."},
		{map[string]string{"pickup": "Home", "dropoff": "home"}, "Almost: the pick-up address and the destination are the same."},
		{map[string]string{"pickup": "a", "dropoff": "b", "passengers": "9"}, "Almost: passengers must be a number from 1 to 6."},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			h := sdktest.New(newApp(DefaultConfig()))
			h.Permissions = []string{"chat", "storage", "pay", "timer"}
			if err := h.Action(passerelle.Action{ID: "ride", Fields: tt.fields}); err != nil {
				t.Fatal(err)
			}
			sent := h.TakeSent()
			if len(sent) != 1 || sent[0].Card == nil || sent[0].Card.Form == nil || sent[0].Card.Text != tt.want {
				t.Fatalf("sent %+v, want the form saying %q", sent, tt.want)
			}
			for _, c := range h.Calls() {
				if strings.HasPrefix(c.Op, "kv.") || strings.HasPrefix(c.Op, "pay.") {
					t.Fatalf("a bad form made a %s call", c.Op)
				}
			}
		})
	}
}

// TestUnknownRide presses buttons naming rides the person does not have.
func TestUnknownRide(t *testing.T) {
	for _, id := range []string{"book", "cancel", "retry"} {
		t.Run(id, func(t *testing.T) {
			h := sdktest.New(newApp(DefaultConfig()))
			h.Handle("kv.get", func([]byte) (any, error) {
				return nil, &passerelle.Error{Status: passerelle.StatusNotFound, Message: "no such key"}
			})
			if err := h.Action(passerelle.Action{ID: id, Value: "RNOPE"}); err != nil {
				t.Fatal(err)
			}
			sent := h.TakeSent()
			if len(sent) != 1 || sent[0].Card == nil || sent[0].Card.Form == nil {
				t.Fatalf("sent %+v, want the form again", sent)
			}
		})
	}
}
