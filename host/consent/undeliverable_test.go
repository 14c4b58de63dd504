package consent_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host/consent"
)

func recipients(t *testing.T, e *env) []string {
	t.Helper()
	rs, err := e.svc.Recipients(context.Background(), "shop", "updates", "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.Person)
	}
	return out
}

// TestUndeliverableSkipsBroadcasts: a person a network could not reach is
// recorded in the ledger and left out of broadcasts until they write to
// the business again.
func TestUndeliverableSkipsBroadcasts(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, consent.Config{})
	for _, p := range []string{"p_ann", "p_bob"} {
		e.optIn(p, "shop", "updates")
	}
	if got := recipients(t, e); !slices.Equal(got, []string{"p_ann", "p_bob"}) {
		t.Fatalf("recipients %v", got)
	}
	e.clk.Add(time.Hour)
	rec, err := e.svc.Undeliverable(ctx, "p_bob", "shop", "whatsapp", "msg_1", 131026)
	if err != nil || rec.Kind != consent.KindUndeliverable || rec.Seq == 0 || rec.Message != "msg_1" {
		t.Fatalf("record %+v, %v", rec, err)
	}
	if got := recipients(t, e); !slices.Equal(got, []string{"p_ann"}) {
		t.Fatalf("recipients after undeliverable: %v", got)
	}
	if u, err := e.svc.IsUndeliverable(ctx, "p_bob", "shop"); err != nil || !u {
		t.Fatalf("IsUndeliverable %v %v", u, err)
	}
	if u, _ := e.svc.IsUndeliverable(ctx, "p_bob", "other"); u {
		t.Fatal("undeliverable for another business")
	}
	if _, err := e.svc.Verify(ctx); err != nil {
		t.Fatalf("ledger: %v", err)
	}

	e.clk.Add(time.Hour)
	if err := e.svc.Touch(ctx, "p_bob", "shop", e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if got := recipients(t, e); !slices.Equal(got, []string{"p_ann", "p_bob"}) {
		t.Fatalf("recipients after bob wrote again: %v", got)
	}
}

func TestUndeliverableRefusals(t *testing.T) {
	e := newEnv(t, consent.Config{})
	if _, err := e.svc.Undeliverable(context.Background(), "", "shop", "whatsapp", "m", 131026); err == nil {
		t.Fatal("no person accepted")
	}
}

// TestOptedOut follows STOP and START.
func TestOptedOut(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, consent.Config{})
	say := func(text string) {
		if _, err := e.svc.Inbound(ctx, consent.Inbound{Person: "p_ann", Business: "shop", Surface: "whatsapp", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		say  string
		want bool
	}{{"hello", false}, {"STOP", true}, {"START", false}, {"STOPALL", true}} {
		say(step.say)
		if got, err := e.svc.OptedOut(ctx, "p_ann", "shop"); err != nil || got != step.want {
			t.Fatalf("after %q: opted out %v (%v), want %v", step.say, got, err, step.want)
		}
	}
}
