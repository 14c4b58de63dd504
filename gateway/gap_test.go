package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/host"
)

// An app's messages never close a person's connection: past half the send
// queue they are skipped, and once the queue is empty the client gets a gap
// frame and fetches them with history. Every message arrives exactly once.
func TestAppFloodOpensAGapNotASlowConsumer(t *testing.T) {
	const queue, sent = 16, 100
	big := strings.Repeat("z", 32<<10) // fills the socket's buffers, then the queue
	e := newEnv(t, func(c *gateway.Config) { c.SendQueue = queue })
	done := make(chan struct{})
	e.apps.set(func(ev host.AppEvent) *host.Message {
		if ev.Event.Type != host.EventOpen {
			return nil
		}
		for i := range sent {
			if err := e.srv.Emit(context.Background(), host.Outgoing{App: host.AppRef{Merchant: "m", App: "lunch", Version: "1"},
				Conversation: ev.Conversation, Message: &host.Message{Text: fmt.Sprint("m", i, big)}}); err != nil {
				t.Errorf("emit %d: %v", i, err)
			}
		}
		close(done)
		return nil
	}, nil)
	bob, _ := e.connect("bob", "web", nil)
	conv := bob.request(map[string]any{"type": "open", "id": "o", "app": "lunch"})["conv"]
	<-done // bob reads nothing while the app sends

	// Read everything: live messages, and for each gap the history it
	// names, until every message is held.
	seen := map[float64]bool{}
	var gaps []map[string]any
	record := func(f map[string]any) {
		switch f["type"] {
		case "msg":
			seen[f["seq"].(float64)] = true
		case "gap":
			if f["conv"] != conv || f["last"].(float64) <= f["after"].(float64) {
				t.Fatalf("gap %v", f)
			}
			gaps = append(gaps, f)
		}
	}
	for len(seen) < sent {
		if len(gaps) == 0 {
			record(bob.next())
			continue
		}
		g := gaps[0]
		gaps = gaps[1:]
		for after := g["after"].(float64); after < g["last"].(float64); {
			id := fmt.Sprint("h", after)
			bob.send(map[string]any{"type": "history", "id": id, "conv": conv, "after": after, "limit": 10})
			f := bob.next()
			for ; f["id"] != id; f = bob.next() {
				record(f)
			}
			msgs := f["messages"].([]any)
			if len(msgs) == 0 {
				t.Fatalf("history after %v is empty; the gap said up to %v", after, g["last"])
			}
			for _, m := range msgs {
				after = m.(map[string]any)["seq"].(float64)
				seen[after] = true
			}
		}
	}
	// Still connected: bob's next message is acknowledged.
	if f := bob.request(map[string]any{"type": "send", "id": "s", "conv": conv, "text": "thanks"}); f["type"] != "ack" {
		t.Fatalf("bob's message answered %v", f)
	}
	if len(seen) != sent {
		t.Fatalf("bob holds %d of the %d messages", len(seen), sent)
	}
	resp, err := http.Get(e.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(b), "passerelle_gateway_app_gaps_total 0") || !strings.Contains(string(b), "passerelle_gateway_slow_consumers_total 0") {
		t.Fatalf("metrics: want gaps counted and no slow consumer:\n%s", b)
	}
}
