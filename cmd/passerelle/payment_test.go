package main

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// testPlatform starts a server on a free port and a fresh data directory,
// closed when the test ends.
func testPlatform(t testing.TB) *platform {
	t.Helper()
	cfg := defaultConfig()
	cfg.Addr, cfg.Data = "127.0.0.1:0", t.TempDir()
	sharedCompileCache(&cfg)
	p, err := startPlatform(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.close(context.Background()) })
	return p
}

// wsClient is a person's WebSocket connection to a running platform.
type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
}

// dialPerson connects as person, says hello and reads up to ready,
// returning the types of the frames before it.
func dialPerson(t *testing.T, p *platform, person string) (*wsClient, []string) {
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
	c.send(map[string]any{"type": "hello", "v": 1})
	var before []string
	for {
		f := c.next()
		if f["type"] == "ready" {
			return c, before
		}
		before = append(before, f["type"].(string))
	}
}

func (c *wsClient) next() map[string]any {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(time.Minute))
	var f map[string]any
	if err := c.ws.ReadJSON(&f); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// until reads frames until one of type typ (or an error frame) comes.
func (c *wsClient) until(typ string) map[string]any {
	c.t.Helper()
	for {
		f := c.next()
		if f["type"] == typ {
			return f
		}
		if f["type"] == "error" {
			c.t.Fatalf("waiting for %s: %v", typ, f)
		}
	}
}

// TestConfirmWithoutEnoughMoney: a person who confirms a payment their
// wallet cannot cover is told so (code insufficient_funds, the balance and
// the price, what to do), the order is declined with reason
// insufficient_funds, and the prompt closes: it is not shown again.
func TestConfirmWithoutEnoughMoney(t *testing.T) {
	ctx := context.Background()
	p := testPlatform(t)

	// pay.wasm requests 12.50 EUR for "Soup" on every event.
	code, err := os.ReadFile("../../sdk/conformance/testdata/pay.wasm")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := wasmfile.EmbedManifest(code, &host.Manifest{ABI: "passerelle_v1", ID: "till", Name: "Till", Version: "1",
		Permissions: []host.Permission{host.PermPay}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.svc.Identity.EnsureMerchant(ctx, "labs", "Labs"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.router.Upload(ctx, "labs", "test", "till", wasm); err != nil {
		t.Fatal(err)
	}
	ana, _, err := p.svc.Identity.EnsurePerson(ctx, identity.Account{Surface: "web", External: "ana"}, "Ana")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.svc.Pay.Fund(ctx, pay.PersonAccount(ana.ID), "EUR", 500); err != nil {
		t.Fatal(err)
	}

	c, _ := dialPerson(t, p, ana.ID)
	c.send(map[string]any{"type": "open", "id": "o1", "app": "till"})
	pr := c.until("prompt")["prompt"].(map[string]any)
	body := pr["body"].(map[string]any)
	order := body["order"].(string)
	c.send(map[string]any{"type": "answer", "id": "a1", "prompt": pr["id"], "answer": "confirm"})
	var e, closed map[string]any // in either order
	for e == nil || closed == nil {
		switch f := c.next(); f["type"] {
		case "error":
			e = f
		case "prompt_closed":
			closed = f
		}
	}
	if e["id"] != "a1" || e["code"] != "insufficient_funds" {
		t.Fatalf("confirm without money answered %v; want insufficient_funds for a1", e)
	}
	msg, _ := e["message"].(string)
	for _, part := range []string{"5.00 EUR", "12.50 EUR", order, "declined", "add money"} {
		if !strings.Contains(msg, part) {
			t.Errorf("message %q does not say %q", msg, part)
		}
	}
	if closed["prompt"] != pr["id"] {
		t.Fatalf("prompt_closed %v, want %v", closed, pr["id"])
	}
	o, err := p.svc.Pay.Order(ctx, order)
	if err != nil || o.State != pay.StateDeclined || o.Reason != pay.ReasonInsufficientFunds {
		t.Fatalf("order %+v, %v; want declined for insufficient_funds", o, err)
	}
	if bal, _ := p.svc.Pay.Balance(ctx, pay.PersonAccount(ana.ID), "EUR"); bal != 500 {
		t.Fatalf("balance %d after a declined order, want 500", bal)
	}

	// A new connection is not asked again.
	if _, before := dialPerson(t, p, ana.ID); slices.Contains(before, "prompt") {
		t.Fatalf("the settled prompt was shown again: %v", before)
	}
}
