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

	// Asking again, in words, gives the same reference.
	must(t, h.Message("let me talk to a human"))
	if again := one(t, h).Text; !strings.Contains(again, "already in our queue (reference "+m[1]+")") {
		t.Fatalf("second handoff: %q", again)
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
