package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/host"
)

func TestQueueStoresInOrderBeforeDelivery(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	bob, _ := e.connect("bob", "web", nil)
	conv := bob.request(map[string]any{"type": "open", "id": "o", "app": "lunch"})["conv"].(string)

	app := host.AppRef{Merchant: "m", App: "lunch", Version: "1"}
	var waits []func() error
	for _, text := range []string{"one", "two", "three"} {
		wait, err := e.srv.Queue(ctx, host.Outgoing{App: app, Conversation: conv, Message: &host.Message{Text: text}})
		if err != nil {
			t.Fatalf("Queue %q: %v", text, err)
		}
		waits = append(waits, wait)
	}
	bob.send(map[string]any{"type": "send", "id": "s1", "conv": conv, "text": "four"})
	for i, w := range waits {
		if err := w(); err != nil {
			t.Fatalf("wait %d: %v", i, err)
		}
	}

	// Bob sees the app's three messages in the order they were queued,
	// each once, with consecutive seqs, then the ack of his own message.
	var texts []string
	var last float64
	for {
		f := bob.next()
		if f["type"] == "ack" && f["id"] == "s1" {
			if f["seq"].(float64) != last+1 {
				t.Fatalf("bob's message has seq %v, want %v (after the queued ones)", f["seq"], last+1)
			}
			break
		}
		if f["type"] != "msg" || f["from"].(map[string]any)["kind"] != "app" {
			continue
		}
		seq := f["seq"].(float64)
		if last != 0 && seq != last+1 {
			t.Fatalf("seq %v after %v", seq, last)
		}
		last = seq
		texts = append(texts, f["message"].(map[string]any)["text"].(string))
	}
	if len(texts) != 3 || texts[0] != "one" || texts[1] != "two" || texts[2] != "three" {
		t.Fatalf("app messages arrived as %q", texts)
	}

	// What was queued is stored: a new connection resuming from 0 gets it
	// (replayed before ready).
	_, frames := e.connect("bob", "web", map[string]uint64{conv: 0})
	seen := 0
	for _, f := range frames {
		if f["type"] == "msg" && f["from"].(map[string]any)["kind"] == "app" {
			seen++
		}
	}
	if seen != 3 {
		t.Fatalf("resume replayed %d app messages, want 3", seen)
	}
}

func TestQueueRefusals(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	tests := map[string]host.Outgoing{
		"empty message":        {Conversation: "x", Message: &host.Message{}},
		"no conversation":      {Message: &host.Message{Text: "hi"}},
		"nothing":              {Conversation: "x"},
		"missing conversation": {Conversation: "d_missing", Message: &host.Message{Text: "hi"}},
		"prompt for nobody":    {Prompt: &host.Prompt{Kind: e.pay.kind(), Body: json.RawMessage(`{"type":"payment"}`)}},
	}
	for name, out := range tests {
		t.Run(name, func(t *testing.T) {
			if wait, err := e.srv.Queue(ctx, out); err == nil || wait != nil {
				t.Fatalf("Queue(%+v) = wait %v, err %v; want an error and no wait", out, wait != nil, err)
			}
		})
	}
	e.stop()
	_, err := e.srv.Queue(ctx, host.Outgoing{Conversation: "x", Message: &host.Message{Text: "hi"}})
	if !errors.Is(err, gateway.ErrClosed) {
		t.Fatalf("Queue after Close: %v, want ErrClosed", err)
	}
}

// TestAppMessageKeepsItsID: the id chat.send gave the app is the stored
// message's, in live deliveries and in history.
func TestAppMessageKeepsItsID(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	bob, _ := e.connect("bob", "web", nil)
	conv := bob.request(map[string]any{"type": "open", "id": "o", "app": "lunch"})["conv"].(string)
	app := host.AppRef{Merchant: "m", App: "lunch", Version: "1"}
	for i, m := range []*host.Message{{Text: "hi"}, {Card: &host.Card{Title: "Menu"}}} {
		id := fmt.Sprintf("msg_%d", i)
		wait, err := e.srv.Queue(ctx, host.Outgoing{App: app, Conversation: conv, Message: m, ID: id})
		if err != nil {
			t.Fatal(err)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if f := bob.until("msg"); f["id"] != id {
			t.Fatalf("live delivery %v, want id %s", f, id)
		}
	}
	h := bob.request(map[string]any{"type": "history", "id": "h", "conv": conv, "after": 0})
	msgs := h["messages"].([]any)
	for i, m := range msgs {
		if got := m.(map[string]any)["id"]; got != fmt.Sprintf("msg_%d", i) {
			t.Fatalf("history message %d has id %v", i, got)
		}
	}
	if len(msgs) != 2 {
		t.Fatalf("history %v", h)
	}
}
