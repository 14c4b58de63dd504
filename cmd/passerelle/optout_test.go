package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// TestStopSilencesTheBusiness: on the real platform, STOP typed in an app
// conversation is answered once by the platform and never reaches the app;
// the app's next message is refused (chat.send answers opted_out, which
// hello returns: its log shows it) and nothing reaches the person; START
// brings the app back.
func TestStopSilencesTheBusiness(t *testing.T) {
	ctx := context.Background()
	p := testPlatform(t)

	// hello.wasm sends "hello from WAT" on every event and returns chat.send's status.
	code, err := os.ReadFile("../../sdk/conformance/testdata/hello.wasm")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := wasmfile.EmbedManifest(code, &host.Manifest{ABI: "passerelle_v1", ID: "hello", Name: "Hello", Version: "1",
		Permissions: []host.Permission{host.PermChat}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.svc.Identity.EnsureMerchant(ctx, "labs", "Labs"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.router.Upload(ctx, "labs", "test", "hello", wasm); err != nil {
		t.Fatal(err)
	}
	ana, _, err := p.svc.Identity.EnsurePerson(ctx, identity.Account{Surface: "web", External: "ana"}, "Ana")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := dialPerson(t, p, ana.ID)
	c.send(map[string]any{"type": "open", "id": "o1", "app": "hello"})
	conv := c.until("ack")["conv"].(string)
	appText := func() string {
		t.Helper()
		for {
			f := c.until("msg")
			if from, _ := f["from"].(map[string]any); from["kind"] == "app" {
				return f["message"].(map[string]any)["text"].(string)
			}
		}
	}
	say := func(id, text string) {
		t.Helper()
		c.send(map[string]any{"type": "send", "id": id, "conv": conv, "text": text})
	}
	if got := appText(); got != "hello from WAT" {
		t.Fatalf("the app's answer to open: %q", got)
	}

	say("s1", " Stop ")
	if got := appText(); got != consent.StopText("Labs") {
		t.Fatalf("after STOP: %q, want the one confirmation", got)
	}

	say("s2", "hi")
	deadline := time.Now().Add(time.Minute)
	for !refusedInLog(p, host.StatusOptedOut) {
		if time.Now().After(deadline) {
			logs, _ := p.registry.Logs("hello", 0, 100)
			t.Fatalf("the app's message after STOP was not refused in its log: %+v", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}

	say("s3", "START")
	if got := appText(); got != consent.StartText("Labs") {
		t.Fatalf("after START: %q, want the confirmation (and nothing from the app before it)", got)
	}
	say("s4", "hi again")
	if got := appText(); got != "hello from WAT" {
		t.Fatalf("after START the app answers: %q", got)
	}

	recs, err := p.svc.Consent.Records(ctx, 1, 0)
	if err != nil || len(recs) != 2 || recs[0].Kind != consent.KindOptOut || recs[1].Kind != consent.KindOptIn || recs[0].Business != "labs" {
		t.Fatalf("ledger %+v, %v; want the STOP and the START of labs", recs, err)
	}
}

// refusedInLog reports whether the hello app's log shows an event that
// ended with status (hello returns chat.send's status).
func refusedInLog(p *platform, status host.Status) bool {
	logs, _ := p.registry.Logs("hello", 0, 100)
	for _, l := range logs {
		if l.Kind == "guest" && strings.Contains(l.Message, fmt.Sprintf("status %d ", status)) {
			return true
		}
	}
	return false
}
