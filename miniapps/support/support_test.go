//go:build !wasip1

package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	passerelle "github.com/passerelle/passerelle/sdk/go"
	"github.com/passerelle/passerelle/sdk/go/sdktest"
)

// newHost runs the bot on sdktest with an in-memory person storage.
func newHost(t *testing.T) (*sdktest.Host, map[string]string) {
	h := sdktest.New(newApp(DefaultFAQ()))
	h.AppID = "support"
	h.Permissions = []string{"chat", "storage"}
	kv := map[string]string{}
	type req struct {
		Scope string  `json:"scope"`
		Key   string  `json:"key"`
		Value *string `json:"value"`
	}
	decode := func(b []byte) (req, error) {
		var r req
		if err := json.Unmarshal(b, &r); err != nil {
			return r, err
		}
		if r.Scope != "person" {
			return r, fmt.Errorf("tickets belong in the person scope, got %q", r.Scope)
		}
		return r, nil
	}
	h.Handle("kv.get", func(b []byte) (any, error) {
		r, err := decode(b)
		if err != nil {
			return nil, err
		}
		v, ok := kv[r.Key]
		if !ok {
			return nil, &passerelle.Error{Status: passerelle.StatusNotFound, Message: "no such key"}
		}
		return map[string]string{"value": v}, nil
	})
	h.Handle("kv.set", func(b []byte) (any, error) {
		r, err := decode(b)
		if err != nil {
			return nil, err
		}
		kv[r.Key] = *r.Value
		return struct{}{}, nil
	})
	h.Handle("kv.delete", func(b []byte) (any, error) {
		r, err := decode(b)
		if err != nil {
			return nil, err
		}
		_, ok := kv[r.Key]
		delete(kv, r.Key)
		return map[string]bool{"deleted": ok}, nil
	})
	return h, kv
}

func one(t *testing.T, h *sdktest.Host) passerelle.Message {
	t.Helper()
	sent := h.TakeSent()
	if len(sent) != 1 {
		t.Fatalf("app sent %d messages, want 1: %+v", len(sent), sent)
	}
	return sent[0]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func press(h *sdktest.Host, card *passerelle.Card, id string) error {
	if card == nil {
		return fmt.Errorf("no card to press %q on", id)
	}
	for _, b := range card.Buttons {
		if b.ID == id {
			return h.Action(passerelle.Action{ID: b.ID, Value: b.Value})
		}
	}
	return fmt.Errorf("card %q has no button %q", card.Title, id)
}

func itemIDs(c *passerelle.Card) string {
	if c == nil || c.List == nil {
		return ""
	}
	var ids []string
	for _, it := range c.List.Items {
		ids = append(ids, it.ID)
	}
	return strings.Join(ids, ",")
}

var refRE = regexp.MustCompile(`reference (S-[0-9A-Z]+)`)

func TestBrowseTopics(t *testing.T) {
	h, _ := newHost(t)
	must(t, h.Open())
	if got := itemIDs(one(t, h).Card); got != "topic:orders,topic:payments,topic:account,human" {
		t.Fatalf("open: items %q", got)
	}
	must(t, h.Action(passerelle.Action{ID: "topic:payments"}))
	if got := itemIDs(one(t, h).Card); got != "faq:refund,faq:declined,human" {
		t.Fatalf("payments: items %q", got)
	}
	must(t, h.Action(passerelle.Action{ID: "faq:refund"}))
	ans := one(t, h).Card
	if ans.Title != "How do refunds work?" || !strings.Contains(ans.Text, "back to the wallet") {
		t.Fatalf("answer %+v", ans)
	}
	must(t, press(h, ans, "helped"))
	if got := one(t, h).Text; got != "Glad I could help! Type anything if you need more." {
		t.Fatalf("helped: %q", got)
	}
}

func TestFreeText(t *testing.T) {
	tests := []struct {
		text, title string
	}{
		{"my refund hasn't arrived yet", "How do refunds work?"},
		{"where is my parcel", "Where is my order?"},
		{"payment failed??", "Why was my payment declined?"},
		{"what's the weather like", "I am not sure I understood"},
		{"hello", "Help centre"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			h, _ := newHost(t)
			must(t, h.Message(tt.text))
			if got := one(t, h).Card; got == nil || got.Title != tt.title {
				t.Fatalf("%q answered %+v, want a card titled %q", tt.text, got, tt.title)
			}
		})
	}
}

func TestHandoff(t *testing.T) {
	h, kv := newHost(t)
	must(t, h.Message("what's the weather like"))
	notSure := one(t, h).Card
	must(t, press(h, notSure, "human"))
	text := one(t, h).Text
	m := refRE.FindStringSubmatch(text)
	if m == nil || !strings.Contains(text, "passed this conversation to our support team") {
		t.Fatalf("handoff: %q", text)
	}
	var tk ticket
	if err := json.Unmarshal([]byte(kv["ticket"]), &tk); err != nil || tk.Ref != m[1] || tk.Question != "what's the weather like" {
		t.Fatalf("stored ticket %q, want ref %s with the question", kv["ticket"], m[1])
	}
	logged := false
	for _, l := range h.Logs() {
		logged = logged || (l.Level == passerelle.LevelInfo && strings.HasPrefix(l.Message, "handoff "+m[1]))
	}
	if !logged {
		t.Fatalf("the handoff is not in the app log: %+v", h.Logs())
	}
	hos := h.Handoffs()
	if len(hos) != 1 || hos[0].Reason == "" || hos[0].Fields["reference"] != m[1] || !strings.Contains(hos[0].Summary, "what's the weather like") {
		t.Fatalf("handoff requests %+v, want one with the reference %s and the question", hos, m[1])
	}

	// While handed off, the person talks to the team: the app hears nothing.
	must(t, h.Message("let me talk to a human"))
	if sent := h.TakeSent(); len(sent) != 0 || len(h.Held()) != 1 {
		t.Fatalf("while handed off the app answered %+v (held %+v)", sent, h.Held())
	}
	must(t, h.Take("Ana"))
	if joined := one(t, h).Text; joined != "Ana from our team has joined the conversation." {
		t.Fatalf("handoff event answered %q", joined)
	}

	// Handed back: the bot greets the person and answers again.
	must(t, h.Handback("Ana", "refund issued"))
	if back := one(t, h).Card; back == nil || !strings.Contains(back.Text, "I am back") || back.List == nil {
		t.Fatalf("handback answered %+v", back)
	}
	if _, ok := kv["ticket"]; ok {
		t.Fatalf("the ticket outlived the handback: %q", kv["ticket"])
	}
	must(t, h.Message("how do refunds work"))
	if c := one(t, h).Card; c == nil || c.Title != "How do refunds work?" {
		t.Fatalf("after the handback the bot answered %+v", c)
	}

	// Asking for a person again is a new handoff with a new reference.
	must(t, h.Message("talk to a human"))
	if again := refRE.FindStringSubmatch(one(t, h).Text); again == nil || again[1] == m[1] || len(h.Handoffs()) != 2 {
		t.Fatalf("second handoff: %v, %d requests", again, len(h.Handoffs()))
	}
}

// A conversation handed off already answers with the reference it has.
func TestHandoffAlready(t *testing.T) {
	h, _ := newHost(t)
	h.Handle("chat.handoff", func([]byte) (any, error) {
		return passerelle.HandoffResult{ID: "ho1", Status: "taken", Already: true}, nil
	})
	must(t, h.Message("talk to a human"))
	if text := one(t, h).Text; !strings.Contains(text, "already in our queue (reference S-") {
		t.Fatalf("already handed off: %q", text)
	}
}

// When the host cannot take the handoff, the person is told, not left waiting.
func TestHandoffRefused(t *testing.T) {
	h, _ := newHost(t)
	h.Handle("chat.handoff", func([]byte) (any, error) {
		return nil, &passerelle.Error{Status: passerelle.StatusUnavailable, Message: "no merchant inbox"}
	})
	must(t, h.Message("talk to a human"))
	if text := one(t, h).Text; !strings.Contains(text, "could not reach our team") {
		t.Fatalf("refused handoff: %q", text)
	}
}

func TestUnknownActions(t *testing.T) {
	for _, a := range []passerelle.Action{{ID: "faq:nope"}, {ID: "topic:nope"}, {ID: "explode"}} {
		t.Run(a.ID, func(t *testing.T) {
			h, _ := newHost(t)
			must(t, h.Action(a))
			if c := one(t, h).Card; c == nil || c.List == nil {
				t.Fatalf("%s: want the topics again, got %+v", a.ID, c)
			}
		})
	}
}
