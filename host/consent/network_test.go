package consent_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host/consent"
)

// A network's opt-in with an expiry (Messenger's notification messages)
// lets messages of its purpose through until it expires, survives a
// restart, is withdrawn by the network's stop and given again by its
// resume; the ledger keeps each step with the expiry.
func TestNetworkOptInExpiresAndWithdraws(t *testing.T) {
	e := newEnv(t, consent.Config{})
	msg := consent.Message{Person: "p_ada", Business: "shop", App: "app", Purpose: "updates", Surface: "messenger"}
	check := func(want error, what string) {
		t.Helper()
		_, err := e.svc.Check(ctx, msg)
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Fatalf("%s: Check = %v, want %v", what, err, want)
		}
	}
	until := e.clk.Now().Add(30 * 24 * time.Hour)
	g := consent.Grant{Person: "p_ada", Business: "shop", App: "app", Purpose: "updates", Surface: "messenger",
		Prompt: "Get updates from Shop", Answer: "optin:p1"}
	if _, err := e.svc.OptInUntil(ctx, g, "", until); !errors.Is(err, consent.ErrInvalid) {
		t.Fatalf("OptInUntil without via: %v", err)
	}
	r, err := e.svc.OptInUntil(ctx, g, "messenger notification messages", until)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != consent.KindGrant || !r.Expires.Equal(until) || r.Via != "messenger notification messages" {
		t.Fatalf("record %+v", r)
	}
	// The same opt-in answered again (a redelivery, or the host prompt
	// the network's opt-in stood for) writes nothing.
	again, err := e.svc.OptIn(ctx, consent.Grant{Person: "p_ada", Business: "shop", App: "app", Purpose: "updates", Surface: "messenger",
		Prompt: "Allow Shop to send you updates messages", Answer: "optin:p1"})
	if err != nil || again.Seq != r.Seq {
		t.Fatalf("the same answer again: %+v %v, want record %d", again, err, r.Seq)
	}

	e.clk.Add(48 * time.Hour)
	check(nil, "two days later")
	if sts, err := e.svc.Standings(ctx, "p_ada"); err != nil || len(sts) != 1 || len(sts[0].OptIns) != 1 || !sts[0].OptIns[0].Expires.Equal(until) {
		t.Fatalf("Standings = %+v %v, want the opt-in with its expiry", sts, err)
	}
	e.restart()
	msg.ID = "m2"
	check(nil, "after a restart")
	msg.ID = ""

	w, err := e.svc.Withdraw(ctx, "p_ada", "shop", "updates", "messenger", "messenger: STOP NOTIFICATIONS")
	if err != nil || w.Kind != consent.KindWithdrawal || w.Relies != r.Seq {
		t.Fatalf("Withdraw = %+v %v", w, err)
	}
	check(consent.ErrNotOptedIn, "after STOP NOTIFICATIONS")
	if w, err := e.svc.Withdraw(ctx, "p_ada", "shop", "updates", "messenger", "messenger: STOP NOTIFICATIONS"); err != nil || w.Seq != 0 {
		t.Fatalf("a second withdrawal wrote %+v %v", w, err)
	}

	g.Answer = "optin:resume"
	if _, err := e.svc.OptInUntil(ctx, g, "messenger notification messages: RESUME NOTIFICATIONS", until); err != nil {
		t.Fatal(err)
	}
	check(nil, "after RESUME NOTIFICATIONS")

	e.clk.Add(29 * 24 * time.Hour) // past the expiry
	_, err = e.svc.Check(ctx, msg)
	if !errors.Is(err, consent.ErrNotOptedIn) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("after the expiry: %v, want not_opted_in saying it expired", err)
	}
	if rs, err := e.svc.Recipients(ctx, "shop", "updates", ""); err != nil || len(rs) != 0 {
		t.Fatalf("Recipients after the expiry: %+v %v", rs, err)
	}
	if sts, err := e.svc.Standings(ctx, "p_ada"); err != nil || len(sts) != 1 || len(sts[0].OptIns) != 0 {
		t.Fatalf("Standings after the expiry = %+v %v, want no opt-in", sts, err)
	}
	if _, err := e.svc.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
