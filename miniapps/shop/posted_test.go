//go:build !wasip1

package main

import (
	"strings"
	"testing"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// TestKeepMePosted: "keep me posted" asks for the standing opt-in to the
// news of new collections in the platform's prompt; accepting is thanked
// and remembered (asking again says so), declining is answered politely,
// and a withdrawal from the consent screen or a STOP forgets it without a
// word.
func TestKeepMePosted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string // accept or decline
	}{
		{name: "accepted", answer: "accept"},
		{name: "declined", answer: "decline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, kv := newHost(t)
			must(t, h.Message("Keep me posted"))
			prompts := h.Prompts()
			if len(prompts) != 1 || prompts[0].Purpose != purposeCollections || prompts[0].Text != collectionsText {
				t.Fatalf("prompts %+v: want one opt-in to %q", prompts, purposeCollections)
			}
			if tc.answer == "accept" {
				must(t, h.AcceptPrompt(prompts[0].ID))
				if got := one(t, h).Text; !strings.HasPrefix(got, "Thank you! We will tell you when a new collection arrives") || kv[keyPosted] != "yes" {
					t.Fatalf("after accepting: %q, stored %q", got, kv[keyPosted])
				}
				must(t, h.Message("news"))
				if got := one(t, h).Text; !strings.Contains(got, "already get the news") || len(h.Prompts()) != 0 {
					t.Fatalf("asking again: %q, prompts %+v", got, h.Prompts())
				}
				return
			}
			must(t, h.DeclinePrompt(prompts[0].ID))
			if got := one(t, h).Text; !strings.HasPrefix(got, "No problem") || kv[keyPosted] != "" {
				t.Fatalf("after declining: %q, stored %q", got, kv[keyPosted])
			}
		})
	}

	for _, tc := range []struct {
		name string
		ev   passerelle.Event
	}{
		{"withdrawn in the consent screen", passerelle.Event{Type: passerelle.EventConsent, Consent: &passerelle.Consent{Purpose: purposeCollections}}},
		{"stopped", passerelle.Event{Type: passerelle.EventOptOut}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, kv := newHost(t)
			kv[keyPosted] = "yes"
			must(t, h.Event(tc.ev))
			if sent := h.TakeSent(); len(sent) != 0 || kv[keyPosted] != "" {
				t.Fatalf("sent %+v, stored %q: want nothing sent and the news forgotten", sent, kv[keyPosted])
			}
		})
	}
}
