package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/passerelle/passerelle/gateway"
	hconsent "github.com/passerelle/passerelle/host/consent"
)

// screen is the consent screen's service on the real consent service,
// with the names and the revocations a test can read.
type screen struct {
	svc   *hconsent.Service
	names map[string]string
	mu    sync.Mutex
	told  []hconsent.Record // what Revoke recorded, as the apps would be told
}

func (s *screen) Standings(ctx context.Context, person string) ([]gateway.BusinessStanding, error) {
	list, err := s.svc.Standings(ctx, person)
	if err != nil {
		return nil, err
	}
	out := make([]gateway.BusinessStanding, len(list))
	for i, st := range list {
		out[i] = gateway.BusinessStanding{Standing: st, Name: s.names[st.Business], Apps: map[string]string{"lunch": "Lunch"}}
	}
	return out, nil
}

func (s *screen) Revoke(ctx context.Context, person, business, purpose, surface string) error {
	rec, err := s.svc.Revoke(ctx, person, business, purpose, surface)
	if err == nil && rec.Seq != 0 {
		s.mu.Lock()
		s.told = append(s.told, rec)
		s.mu.Unlock()
	}
	return err
}

// standingsOf decodes a consents frame.
func standingsOf(t *testing.T, f map[string]any) []gateway.BusinessStanding {
	t.Helper()
	if f["type"] != "consents" {
		t.Fatalf("want a consents frame, got %v", f)
	}
	b, _ := json.Marshal(f["consents"])
	var out []gateway.BusinessStanding
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestConsentScreenFrames: the consents frame lists every business the
// person dealt with, with its name, each opt-in's purpose, since when and
// the prompt they answered; revoke withdraws one purpose or stops the whole
// business (recorded with the surface and "consent screen", and the
// business's messages refused from then on), answers with the list as it
// is now, and refuses what the person cannot revoke with a code that says
// why.
func TestConsentScreenFrames(t *testing.T) {
	ctx := context.Background()
	var sc *screen
	e := newEnv(t, func(c *gateway.Config) {
		db := openDB(t, t.TempDir())
		t.Cleanup(func() { db.Close() })
		svc, err := hconsent.Open(db, hconsent.Config{})
		if err != nil {
			t.Fatal(err)
		}
		sc = &screen{svc: svc, names: map[string]string{"bistro": "Bistro Lumière", "atelier": "Atelier Nord"}}
		c.Consents = sc
	})
	prompt := hconsent.OptInPrompt("Bistro Lumière", "specials")
	for _, g := range []hconsent.Grant{
		{Person: "alice", Business: "bistro", App: "lunch", Purpose: "specials", Surface: "web", Conversation: "a_1", Prompt: prompt},
		{Person: "alice", Business: "bistro", App: "lunch", Purpose: "news", Surface: "whatsapp", Prompt: "Allow news?"},
		{Person: "alice", Business: "atelier", App: "shop", Purpose: "new-collection", Prompt: "Allow new collections?"},
		{Person: "bob", Business: "bistro", App: "lunch", Purpose: "specials", Prompt: prompt},
	} {
		if _, err := sc.svc.OptIn(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := e.connect("alice", "web", nil)

	list := standingsOf(t, c.request(map[string]any{"type": "consents", "id": "k1"}))
	if len(list) != 2 || list[0].Business != "atelier" || list[1].Business != "bistro" || list[1].Name != "Bistro Lumière" {
		t.Fatalf("alice's standings: %+v", list)
	}
	if got := list[1].OptIns; len(got) != 2 || got[0].Purpose != "specials" || got[0].Prompt != prompt || got[0].App != "lunch" ||
		got[0].Surface != "web" || got[0].Time.IsZero() || list[1].Apps["lunch"] != "Lunch" {
		t.Fatalf("bistro's opt-ins: %+v", list[1])
	}

	for _, tc := range []struct {
		name  string
		frame map[string]any
		code  string
		in    string // the error message names it
	}{
		{"no business", map[string]any{"type": "revoke"}, "bad_request", `"business"`},
		{"a business never dealt with", map[string]any{"type": "revoke", "business": "ride"}, "not_found", "ride"},
		{"a purpose not held", map[string]any{"type": "revoke", "business": "bistro", "purpose": "gossip"}, "not_found", "gossip"},
		{"a malformed purpose", map[string]any{"type": "revoke", "business": "atelier", "purpose": "New Things"}, "not_found", "New Things"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.frame["id"] = "bad"
			f := c.request(tc.frame)
			if f["type"] != "error" || f["code"] != tc.code || !strings.Contains(f["message"].(string), tc.in) {
				t.Fatalf("%v: %v, want %s naming %s", tc.frame, f, tc.code, tc.in)
			}
		})
	}

	// One purpose: the other stays, and so does the business.
	list = standingsOf(t, c.request(map[string]any{"type": "revoke", "id": "k2", "business": "bistro", "purpose": "specials"}))
	if got := list[1].OptIns; list[1].OptedOut || len(got) != 1 || got[0].Purpose != "news" {
		t.Fatalf("after withdrawing specials: %+v", list[1])
	}
	if _, err := sc.svc.Check(ctx, hconsent.Message{Person: "alice", Business: "bistro", Purpose: "specials"}); !errors.Is(err, hconsent.ErrNotOptedIn) {
		t.Fatalf("a specials message after the withdrawal: %v, want not_opted_in", err)
	}
	if _, err := sc.svc.Check(ctx, hconsent.Message{Person: "alice", Business: "bistro", Purpose: "news"}); err != nil {
		t.Fatalf("a news message after withdrawing specials: %v", err)
	}

	// The whole business, from a client showing WhatsApp.
	w, _ := e.connect("alice", "whatsapp", nil)
	list = standingsOf(t, w.request(map[string]any{"type": "revoke", "id": "k3", "business": "bistro"}))
	if !list[1].OptedOut || list[1].OptedOutSince.IsZero() || len(list[1].OptIns) != 0 || list[0].OptedOut {
		t.Fatalf("after stopping bistro: %+v", list)
	}
	if _, err := sc.svc.Check(ctx, hconsent.Message{Person: "alice", Business: "bistro", Purpose: "news"}); !errors.Is(err, hconsent.ErrOptedOut) {
		t.Fatalf("a message after stopping the business: %v, want opted_out", err)
	}
	if _, err := sc.svc.Check(ctx, hconsent.Message{Person: "bob", Business: "bistro", Purpose: "specials"}); err != nil {
		t.Fatalf("bob's opt-in is his own: %v", err)
	}
	// Stopping it again changes nothing and records nothing.
	standingsOf(t, c.request(map[string]any{"type": "revoke", "id": "k4", "business": "bistro"}))

	sc.mu.Lock()
	told := sc.told
	sc.mu.Unlock()
	if len(told) != 2 || told[0].Kind != hconsent.KindWithdrawal || told[0].Purpose != "specials" || told[0].Surface != "web" ||
		told[1].Kind != hconsent.KindOptOut || told[1].Business != "bistro" || told[1].Surface != "whatsapp" || told[1].Via != "consent screen" {
		t.Fatalf("recorded %+v", told)
	}
}

// TestConsentScreenUnavailable: a server without the consent screen says
// so, for both frames.
func TestConsentScreenUnavailable(t *testing.T) {
	e := newEnv(t, nil)
	c, _ := e.connect("alice", "web", nil)
	for _, f := range []map[string]any{{"type": "consents", "id": "a"}, {"type": "revoke", "id": "b", "business": "bistro"}} {
		if got := c.request(f); got["code"] != "unavailable" {
			t.Fatalf("%v: %v, want unavailable", f, got)
		}
	}
}
