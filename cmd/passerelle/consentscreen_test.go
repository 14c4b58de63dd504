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
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// TestRevokeInTheScreenSilencesTheBusiness: on the real platform, the
// person's consents frame names the business they opened an app of, and
// revoking it there works as STOP does: the ledger records an opt-out from
// the consent screen, the app gets an optout event (its log shows it:
// hello answers every event, and an optout has no conversation to answer
// in), and the app's answers reach the person no more (refused with
// opted_out) until START.
func TestRevokeInTheScreenSilencesTheBusiness(t *testing.T) {
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
	if f := c.until("msg"); f["message"].(map[string]any)["text"] != "hello from WAT" {
		t.Fatalf("the app's answer to open: %v", f)
	}

	c.send(map[string]any{"type": "consents", "id": "k1"})
	f := c.until("consents")
	list, _ := f["consents"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["business"] != "labs" || list[0].(map[string]any)["name"] != "Labs" {
		t.Fatalf("ana's consent screen: %v", f)
	}

	c.send(map[string]any{"type": "revoke", "id": "k2", "business": "labs"})
	f = c.until("consents")
	if st := f["consents"].([]any)[0].(map[string]any); st["opted_out"] != true {
		t.Fatalf("after revoking labs: %v", st)
	}
	waitLog(t, p, "the optout event", func(l registry.LogRecord) bool { return l.Event == host.EventOptOut })
	recs, err := p.svc.Consent.Records(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if last.Kind != consent.KindOptOut || last.Business != "labs" || last.Person != ana.ID || last.Via != "consent screen" || last.Surface != "web" {
		t.Fatalf("the ledger ends with %+v, want labs' opt-out from the consent screen", last)
	}

	// Nothing the app answers reaches Ana; START brings it back, and its
	// answer is the first app message she sees after the confirmation.
	c.send(map[string]any{"type": "send", "id": "s1", "conv": conv, "text": "hi"})
	waitLog(t, p, "the refusal of the answer to hi", func(l registry.LogRecord) bool {
		return l.Event == host.EventMessage && refusedWith(l, host.StatusOptedOut)
	})
	c.send(map[string]any{"type": "send", "id": "s2", "conv": conv, "text": "START"})
	if got := appText(c); got != consent.StartText("Labs") {
		t.Fatalf("after START: %q, want its confirmation and nothing from the app before it", got)
	}
}

// appText reads frames until a message from an app and returns its text.
func appText(c *wsClient) string {
	c.t.Helper()
	for {
		f := c.until("msg")
		if from, _ := f["from"].(map[string]any); from["kind"] == "app" {
			return f["message"].(map[string]any)["text"].(string)
		}
	}
}

// waitLog waits until the hello app's log has a line that matches.
func waitLog(t *testing.T, p *platform, what string, match func(registry.LogRecord) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		logs, _ := p.registry.Logs("hello", 0, 100)
		for _, l := range logs {
			if match(l) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not in the app's log: %+v", what, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// refusedWith reports whether l is hello's event ending with status (hello
// returns chat.send's status).
func refusedWith(l registry.LogRecord, status host.Status) bool {
	return l.Kind == "guest" && strings.Contains(l.Message, fmt.Sprintf("status %d ", status))
}
