package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/runtime/apptest"
)

// TestMetricsCoverRuntimeAndPayments checks that /metrics reports the
// runtime's instance pools and the payment outcomes, besides the gateway's
// own figures.
func TestMetricsCoverRuntimeAndPayments(t *testing.T) {
	ctx := context.Background()
	p := testPlatform(t)

	wasm := apptest.Build(t, "../../miniapps/echo")
	ver, _, err := p.router.Upload(ctx, "labs", "test", "echo", wasm)
	if err != nil {
		t.Fatal(err)
	}
	person, _, err := p.svc.Identity.EnsurePerson(ctx, identity.Account{Surface: "web", External: "ana"}, "Ana")
	if err != nil {
		t.Fatal(err)
	}
	// The conversation is not one the gateway knows, so echo's reply is
	// refused and the event counts as a guest failure: both show.
	ev := host.AppEvent{Person: person.ID, Conversation: "c_metrics", Surface: "web", Event: host.Event{Type: host.EventMessage, Text: "hi"}, Out: p.gateway}
	if err := p.router.Deliver(ctx, "echo", ev); err == nil {
		t.Fatal("echo's reply into an unknown conversation was accepted")
	}
	// A paid order: its outcome goes through the platform's payment queue.
	if err := p.svc.Pay.Fund(ctx, pay.PersonAccount(person.ID), "EUR", 5000); err != nil {
		t.Fatal(err)
	}
	ref := host.AppRef{Merchant: "labs", App: "echo", Version: ver.Version}
	o, _, err := p.svc.Pay.NewOrder(ctx, ref, person.ID, "c_metrics", "web", pay.Request{Amount: 1200, Currency: "EUR", Description: "Tea", IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.svc.Pay.Confirm(ctx, person.ID, o.ID); err != nil {
		t.Fatal(err)
	}

	want := []string{
		// The message, then the payment event the confirmation caused.
		`passerelle_runtime_events_total{app="echo",version="` + ver.Version + `"} 2`,
		`passerelle_runtime_instances{app="echo",state="idle",version="` + ver.Version + `"}`,
		`passerelle_runtime_failures_total{app="echo",kind="guest",version="` + ver.Version + `"} 1`,
		`passerelle_runtime_failures_total{app="echo",kind="trap",version="` + ver.Version + `"} 0`,
		`passerelle_pay_outcomes_total{currency="EUR",state="paid"} 1`,
		`passerelle_gateway_connections 0`,
	}
	var body string
	deadline := time.Now().Add(time.Minute)
	for {
		body = scrape(t, p.url()+"/metrics")
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %s; it says:\n%s", missing, body)
		}
		time.Sleep(50 * time.Millisecond) // the payment outcome is queued
	}
	// Once delivered, the outcome is forgotten at the next sweep: a restart
	// would not hand it to the app again.
	waitNone(t, "payment outcomes", func() (int, error) {
		if _, err := p.svc.Pay.Sweep(ctx, time.Now()); err != nil {
			return 0, err
		}
		return p.svc.Pay.Undelivered(ctx)
	})
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}
