//go:build !wasip1

package main

import (
	"context"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apptest"
)

// TestWasmSupport runs the bot in the real sandbox with the real chat,
// storage and identity services on a real bbolt file: topics, a free-text
// answer and a handoff that survives across events and instances.
func TestWasmSupport(t *testing.T) {
	ctx := context.Background()
	p := apptest.New(t, ".", apptest.Options{Ref: host.AppRef{Merchant: "m_shop", App: "support", Version: "1.0.0"}, Surface: "whatsapp"})
	bob := p.NewPerson("Bob")

	msgs, _ := bob.Open()
	if len(msgs) != 1 || msgs[0].Card == nil || msgs[0].Card.List == nil || len(msgs[0].Card.List.Items) != 4 {
		t.Fatalf("open: %+v", msgs)
	}
	msgs, _ = bob.Message("I want my money back")
	if len(msgs) != 1 || msgs[0].Card == nil || msgs[0].Card.Title != "How do refunds work?" {
		t.Fatalf("free text: %+v", msgs)
	}
	ans := msgs[0].Card
	msgs, _ = bob.Press(ans, "human")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "passed this conversation to our support team (reference S-") {
		t.Fatalf("handoff: %+v", msgs)
	}
	ticket := msgs[0].Text[strings.Index(msgs[0].Text, "S-"):]
	ticket = ticket[:strings.IndexByte(ticket, ')')]

	// The ticket is in Bob's storage, under his id for this app.
	ns, err := p.Services.KV.PersonNamespace(p.Ref, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Services.KV.Get(ctx, ns, "ticket")
	if err != nil || !strings.Contains(string(v.Data), ticket) {
		t.Fatalf("stored ticket %q, %v; want %s", v.Data, err, ticket)
	}
	found := false
	for _, l := range p.Log() {
		found = found || strings.HasPrefix(l, "log INFO handoff "+ticket)
	}
	if !found {
		t.Fatalf("no handoff line in the app log: %q", p.Log())
	}

	// Handed off: Bob's messages are for the merchant's staff.
	open, err := p.Services.Handoffs.List(ctx, p.Ref.Merchant, true, 0)
	if err != nil || len(open) != 1 || open[0].Fields["reference"] != ticket || open[0].User != bob.OpenID() {
		t.Fatalf("open handoffs %+v, %v", open, err)
	}
	if msgs, _ = bob.Message("agent please"); len(msgs) != 0 {
		t.Fatalf("the app answered a message the team holds: %+v", msgs)
	}
	if _, err := p.Services.Handoffs.Take(ctx, p.Ref.Merchant, open[0].ID, "Ana"); err != nil {
		t.Fatal(err)
	}
	if msgs, _ = p.Deliver(host.EventHandoff); len(msgs) != 1 || msgs[0].Text != "Ana from our team has joined the conversation." {
		t.Fatalf("handoff event: %+v", msgs)
	}
	if _, err := p.Services.Handoffs.Return(ctx, p.Ref.Merchant, open[0].ID, "Ana", "refund sent"); err != nil {
		t.Fatal(err)
	}
	if msgs, _ = p.Deliver(host.EventHandback); len(msgs) != 1 || msgs[0].Card == nil || !strings.Contains(msgs[0].Card.Text, "I am back") {
		t.Fatalf("handback event: %+v", msgs)
	}
	if _, err := p.Services.KV.Get(ctx, ns, "ticket"); err == nil {
		t.Fatal("the ticket outlived the handback")
	}
	if msgs, _ = bob.Message("I want my money back"); len(msgs) != 1 || msgs[0].Card == nil {
		t.Fatalf("after the handback: %+v", msgs)
	}

	rep, err := p.Engine.Check(ctx, p.Wasm)
	if err != nil || len(rep.Violations) > 0 {
		t.Fatalf("check: %v %+v", err, rep)
	}
}
