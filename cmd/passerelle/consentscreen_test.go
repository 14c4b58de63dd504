package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

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
	return appTextIn(c, "")
}

// appTextIn reads frames until a message from an app in conv (any
// conversation when "") and returns its text.
func appTextIn(c *wsClient, conv string) string {
	c.t.Helper()
	for {
		f := c.until("msg")
		if from, _ := f["from"].(map[string]any); from["kind"] == "app" && (conv == "" || f["conv"] == conv) {
			return f["message"].(map[string]any)["text"].(string)
		}
	}
}

// waitLog waits until the hello app's log has a line that matches.
func waitLog(t *testing.T, p *platform, what string, match func(registry.LogRecord) bool) {
	t.Helper()
	waitLogOf(t, p, "hello", what, match)
}

// waitLogOf waits until app's log has a line that matches.
func waitLogOf(t *testing.T, p *platform, app, what string, match func(registry.LogRecord) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		logs, _ := p.registry.Logs(app, 0, 100)
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

// TestStopOnOneSurfaceSilencesTheOthers: Ana is connected twice, from the
// web and as WhatsApp; she types STOP on WhatsApp in one app of the
// business, and the business's other app, which she talks to on the web,
// is silenced too (its answer refused with opted_out, nothing reaches
// either connection) until she types START on the web.
func TestStopOnOneSurfaceSilencesTheOthers(t *testing.T) {
	ctx := context.Background()
	p := testPlatform(t)
	code, err := os.ReadFile("../../sdk/conformance/testdata/hello.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.svc.Identity.EnsureMerchant(ctx, "labs", "Labs"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"hello", "hello2"} {
		wasm, err := wasmfile.EmbedManifest(code, &host.Manifest{ABI: "passerelle_v1", ID: id, Name: "Hello", Version: "1",
			Permissions: []host.Permission{host.PermChat}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.router.Upload(ctx, "labs", "test", id, wasm); err != nil {
			t.Fatal(err)
		}
	}
	ana, _, err := p.svc.Identity.EnsurePerson(ctx, identity.Account{Surface: "web", External: "ana"}, "Ana")
	if err != nil {
		t.Fatal(err)
	}
	web, _ := dialPerson(t, p, ana.ID)
	wa := dialSurface(t, p, ana.ID, "whatsapp")
	open := func(c *wsClient, app string) string {
		t.Helper()
		c.send(map[string]any{"type": "open", "id": "o-" + app, "app": app})
		conv := c.until("ack")["conv"].(string)
		if got := appTextIn(c, conv); got != "hello from WAT" {
			t.Fatalf("%s's answer to open: %q", app, got)
		}
		return conv
	}
	onWeb := open(web, "hello2")
	onWA := open(wa, "hello")

	wa.send(map[string]any{"type": "send", "id": "s1", "conv": onWA, "text": "STOP"})
	if got := appTextIn(wa, onWA); got != consent.StopText("Labs") {
		t.Fatalf("on WhatsApp after STOP: %q", got)
	}
	web.send(map[string]any{"type": "send", "id": "s2", "conv": onWeb, "text": "hi"})
	waitLogOf(t, p, "hello2", "the refusal of hello2's answer on the web", func(l registry.LogRecord) bool {
		return l.Event == host.EventMessage && refusedWith(l, host.StatusOptedOut)
	})
	web.send(map[string]any{"type": "send", "id": "s3", "conv": onWeb, "text": "start"})
	if got := appTextIn(web, onWeb); got != consent.StartText("Labs") {
		t.Fatalf("on the web after START: %q, want its confirmation and no app message before it", got)
	}
	wa.send(map[string]any{"type": "send", "id": "s4", "conv": onWA, "text": "hi again"})
	if got := appTextIn(wa, onWA); got != "hello from WAT" {
		t.Fatalf("on WhatsApp after START on the web: %q", got)
	}
}

// dialSurface connects as person showing surface and reads up to ready.
func dialSurface(t *testing.T, p *platform, person, surface string) *wsClient {
	t.Helper()
	tok, err := p.svc.Identity.Issue(person, identity.RolePerson, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(p.url(), "http")+"/ws?token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &wsClient{t: t, ws: ws}
	c.send(map[string]any{"type": "hello", "v": 1, "surface": surface})
	c.until("ready")
	return c
}
