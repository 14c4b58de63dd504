package bridge_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/host/identity"
)

// msEcho is a Messenger message echo from the Page to psid.
func msEcho(psid, mid, text, appID string) []byte {
	b, _ := json.Marshal(map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": pageID, "time": time.Now().UnixMilli(), "messaging": []any{map[string]any{
			"sender": map[string]any{"id": pageID}, "recipient": map[string]any{"id": psid},
			"timestamp": time.Now().UnixMilli(),
			"message":   map[string]any{"is_echo": true, "app_id": json.Number(appID), "mid": mid, "text": text},
		}}}}})
	return b
}

// TestEchoes: the echo of a message the bridge sent is its own and is
// not stored again; an echo of a message written in Meta's own inbox is
// stored in the person's conversation, once however often it comes, from
// the Page's inbox, and no connector sends it back.
func TestEchoes(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, stackOpts{})
	s.deliver(s.msHook, msMessage("psid-echo", map[string]any{"mid": "m.hi", "text": "hi"}))
	waitFor(t, "the menu on Messenger", func() bool { return len(s.ms.Sent()) == 1 })
	waitFor(t, "the send counted", func() bool {
		return s.metric("passerelle_connector_sends_total", map[string]string{"network": "messenger", "outcome": "sent"}) == 1
	})
	p, err := s.svc.Identity.PersonByAccount(ctx, identity.Account{Surface: connector.NetworkMessenger, External: "psid-echo"})
	if err != nil {
		t.Fatal(err)
	}
	conv := gateway.NetworkConvID("lunch", "c_page", p.ID)
	count := func(kind string) int {
		msgs, err := s.gw.Messages(ctx, conv, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range msgs {
			if m.From.Kind == kind {
				n++
			}
		}
		return n
	}
	apps := count("app")

	s.deliver(s.msHook, msEcho("psid-echo", s.ms.Sent()[0].ID, "the menu", "1234"))
	waitFor(t, "our own echo recognised", func() bool {
		return s.metric("passerelle_connector_inbound_total", map[string]string{"network": "messenger", "kind": "echo_ours"}) == 1
	})
	if n := count(gateway.KindPage); n != 0 {
		t.Fatalf("our own send's echo was stored %d times", n)
	}

	for range 2 { // Meta may deliver a webhook twice
		s.deliver(s.msHook, msEcho("psid-echo", "m.page-1", "Marc here, from the bistro", "263902037430900"))
	}
	waitFor(t, "the echo from Meta's inbox stored", func() bool { return count(gateway.KindPage) == 1 })
	msgs, _ := s.gw.Messages(ctx, conv, 0, 100)
	last := msgs[len(msgs)-1]
	if last.Msg.Text != "Marc here, from the bistro" || last.From.Name != "Messenger inbox" || last.Surface != "messenger" {
		t.Fatalf("stored as %+v", last)
	}
	time.Sleep(100 * time.Millisecond)
	if n := count(gateway.KindPage); n != 1 || count("app") != apps || len(s.ms.Sent()) != 1 {
		t.Fatalf("%d page messages, %d app messages (want %d), %d sends (want 1)", n, count("app"), apps, len(s.ms.Sent()))
	}
}
