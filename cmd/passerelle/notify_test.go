package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/miniapps/dist"
)

// TestBusinessMessagesInLogAndMetrics: on the real platform with the lunch
// app the binary carries, a "your order is ready" that the consent rules
// refuse (Ana never wrote to the bistro and allowed nothing) is written
// to the app's log, as its merchant reads it at /v1/apps/lunch/logs, with
// the code and what would allow it; once Ana holds a one-time
// subscription the same message goes through and reaches her; /metrics
// counts the refusal by code, the send by rule and the opt-in by kind.
func TestBusinessMessagesInLogAndMetrics(t *testing.T) {
	ctx := context.Background()
	p := testPlatform(t)
	mods, err := dist.Modules()
	if err != nil {
		t.Fatal(err)
	}
	var lunch []byte
	for _, m := range mods {
		if m.Name == "lunch" {
			lunch = m.Wasm
		}
	}
	if _, _, err := p.svc.Identity.EnsureMerchant(ctx, "bistro", "Bistro Lumière"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.router.Upload(ctx, "bistro", "test", "lunch", lunch); err != nil {
		t.Fatal(err)
	}
	ana, _, err := p.svc.Identity.EnsurePerson(ctx, identity.Account{Surface: "web", External: "ana"}, "Ana")
	if err != nil {
		t.Fatal(err)
	}
	// Ana's conversation with lunch, which she has not written in.
	conv := convlog.Conv{ID: "a_lunch_ana", Kind: "app", App: "lunch", Title: "Lunch", Members: []string{ana.ID}}
	if _, _, err := p.msgs.Ensure(ctx, conv); err != nil {
		t.Fatal(err)
	}
	c, _ := dialPerson(t, p, ana.ID)
	ready := func(ref string) error {
		payload, _ := json.Marshal(map[string]string{"kind": "ready", "ref": ref})
		return p.router.DeliverFor(ctx, host.AppRef{Merchant: "bistro", App: "lunch"}, host.AppEvent{Person: ana.ID, Conversation: conv.ID,
			Surface: "web", Event: host.Event{Type: host.EventTimer, Timer: &host.TimerEvent{ID: "tm_" + ref, Payload: payload}}, Out: p.gateway})
	}

	if err := ready("R-1"); err != nil {
		t.Fatalf("the refused ready event: %v", err) // lunch takes the refusal in its stride
	}
	tok, err := p.svc.Identity.Issue("bistro", identity.RoleMerchant, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", p.url()+"/v1/apps/lunch/logs", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	found := false
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		var l struct{ Source, Level, Message string }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("GET /v1/apps/lunch/logs: %d %s", resp.StatusCode, body)
		}
		if l.Source == "host" && strings.HasPrefix(l.Message, "chat.notify refused:") && strings.Contains(l.Message, "code=not_opted_in") &&
			strings.Contains(l.Message, `template "order-ready"`) && strings.Contains(l.Message, "ask them") && l.Level == "WARN" {
			found = true
		}
	}
	if !found {
		t.Fatalf("the app's log lacks the refusal with its code:\n%s", body)
	}

	if _, err := p.svc.Consent.Subscribe(ctx, consent.Grant{Person: ana.ID, Business: "bistro", App: "lunch", Template: "order-ready",
		Surface: "web", Conversation: conv.ID, Prompt: consent.SubscriptionPrompt("Bistro Lumière", "your order R-2 is ready")}); err != nil {
		t.Fatal(err)
	}
	if err := ready("R-2"); err != nil {
		t.Fatal(err)
	}
	if got := appText(c); got != "Your order R-2 is ready. Enjoy your lunch!" {
		t.Fatalf("Ana gets %q", got)
	}

	metrics := scrape(t, p.url()+"/metrics")
	for _, want := range []string{
		`passerelle_consent_sends_refused_total{code="not_opted_in"} 1`,
		`passerelle_consent_sends_refused_total{code="opted_out"} 0`,
		`passerelle_consent_sends_allowed_total{rule="subscription"} 1`,
		`passerelle_consent_sends_allowed_total{rule="window"} 0`,
		`passerelle_consent_opt_ins_total{kind="subscription"} 1`,
		`passerelle_consent_opt_outs_total{kind="stop"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
