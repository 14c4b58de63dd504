//go:build !wasip1

// Package supportc_test tests the C support bot (miniapps/support-c, one
// directory up: Go files cannot sit beside C sources) in the real sandbox
// with the platform's host services. The Go bot (miniapps/support) is the
// spec: its tests are translated here, and TestSameAsGo and FuzzSameAsGo run
// both modules side by side and compare everything they send.
package supportc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apptest"
)

const (
	cDir  = ".."
	goDir = "../../support"
)

var ref = host.AppRef{Merchant: "m_shop", App: "support", Version: "1.0.0"}

func load(t testing.TB, dir string) (*apptest.Platform, *apptest.Person) {
	t.Helper()
	p := apptest.New(t, dir, apptest.Options{Ref: ref, Surface: "whatsapp"})
	return p, p.NewPerson("Bob")
}

func one(t testing.TB, msgs []host.Message) host.Message {
	t.Helper()
	if len(msgs) != 1 {
		t.Fatalf("app sent %d messages, want 1: %+v", len(msgs), msgs)
	}
	return msgs[0]
}

func itemIDs(c *host.Card) string {
	if c == nil || c.List == nil {
		return ""
	}
	var ids []string
	for _, it := range c.List.Items {
		ids = append(ids, it.ID)
	}
	return strings.Join(ids, ",")
}

var refRE = regexp.MustCompile(`S-[0-9A-Z]+`)

// reference is the Go bot's ticket reference for an event.
func reference(eventID, user string) string {
	h := fnv.New32a()
	h.Write([]byte(eventID + "\x00" + user))
	return "S-" + strings.ToUpper(strconv.FormatUint(uint64(h.Sum32()), 36))
}

func TestBrowseTopics(t *testing.T) {
	_, bob := load(t, cDir)
	msgs, _ := bob.Open()
	if got := itemIDs(one(t, msgs).Card); got != "topic:orders,topic:payments,topic:account,human" {
		t.Fatalf("open: items %q", got)
	}
	msgs, _ = bob.Action(host.Action{ID: "topic:payments"})
	if got := itemIDs(one(t, msgs).Card); got != "faq:refund,faq:declined,human" {
		t.Fatalf("payments: items %q", got)
	}
	msgs, _ = bob.Action(host.Action{ID: "faq:refund"})
	ans := one(t, msgs).Card
	if ans == nil || ans.Title != "How do refunds work?" || !strings.Contains(ans.Text, "back to the wallet") {
		t.Fatalf("answer %+v", ans)
	}
	msgs, _ = bob.Press(ans, "helped")
	if got := one(t, msgs).Text; got != "Glad I could help! Type anything if you need more." {
		t.Fatalf("helped: %q", got)
	}
}

// TestMatch is the Go bot's matcher table, asked through messages: a match
// answers with the entry's question as the card title; text with no
// meaningful word gets the topics; anything else the "not sure" card.
func TestMatch(t *testing.T) {
	questions := map[string]string{
		"where": "Where is my order?", "refund": "How do refunds work?", "declined": "Why was my payment declined?",
		"damaged": "My item arrived damaged", "stop": "How do I stop messages?", "data": "What do you know about me?",
		"address": "Can I change the delivery address?",
	}
	_, bob := load(t, cDir)
	tests := []struct {
		text string
		want string // entry id; "" for no match, "topics" when no word is left
	}{
		{"where is my parcel?", "where"},
		{"I want my money back", "refund"},
		{"REFUNDS!!!", "refund"},
		{"my refund hasn't arrived yet", "refund"},
		{"why did my payment fail", "declined"},
		{"the shirt came broken", "damaged"},
		{"how do I unsubscribe", "stop"},
		{"delete my personal data", "data"},
		{"I moved, new address", "address"},
		{"Où est mon COLIS? parcel", "where"},
		{"what's the weather like", ""},
		{"", "topics"},
		{"   ?!  ", "topics"},
		{"the a an", "topics"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			msgs, _ := bob.Message(tt.text)
			card := one(t, msgs).Card
			want := questions[tt.want]
			switch tt.want {
			case "":
				want = "I am not sure I understood"
			case "topics":
				want = "Help centre"
			}
			if card == nil || card.Title != want {
				t.Fatalf("%q answered %+v, want a card titled %q", tt.text, card, want)
			}
		})
	}
}

func TestWantsPerson(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"can I talk to a human?", true},
		{"Agent please", true},
		{"I need SOMEONE to help", true},
		{"agents!", true},
		{"where is my order", false},
		{"personal data", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			_, bob := load(t, cDir)
			msgs, _ := bob.Message(tt.text)
			got := strings.Contains(one(t, msgs).Text, "passed this conversation to our support team")
			if got != tt.want {
				t.Fatalf("%q: handed off %v, want %v (%+v)", tt.text, got, tt.want, msgs)
			}
		})
	}
}

// TestClip checks the question kept on the "Talk to a person" button is cut
// to 200 bytes, never inside a rune.
func TestClip(t *testing.T) {
	_, bob := load(t, cDir)
	x := strings.Repeat("x", 198)
	tests := []struct {
		text, want string
	}{
		{"zzz", "zzz"},
		{x + "zz" + "tail", x + "zz"},
		{x + "zé", x + "z"},         // é is 2 bytes: never cut inside it
		{x + "☕☕", x},               // ☕ is 3 bytes
		{" \u00a0zzz\u3000", "zzz"}, // trimmed as strings.TrimSpace does
	}
	for _, tt := range tests {
		msgs, _ := bob.Message(tt.text)
		card := one(t, msgs).Card
		if card == nil || card.Title != "I am not sure I understood" || len(card.Buttons) != 2 {
			t.Fatalf("%q: %+v", tt.text, card)
		}
		if got := card.Buttons[1].Value; got != tt.want || !utf8.ValidString(got) {
			t.Errorf("value for %q = %q, want %q", tt.text, got, tt.want)
		}
	}
}

// TestFAQFitsSurfaces browses every topic: entry titles fit every surface's
// list rows, every entry opens, and asking its question literally finds it.
func TestFAQFitsSurfaces(t *testing.T) {
	_, bob := load(t, cDir)
	msgs, _ := bob.Open()
	entries := 0
	for _, topic := range one(t, msgs).Card.List.Items {
		if topic.ID == "human" {
			continue
		}
		msgs, _ = bob.Action(host.Action{ID: topic.ID})
		for _, it := range one(t, msgs).Card.List.Items {
			if it.ID == "human" {
				continue
			}
			entries++
			if n := utf8.RuneCountInString(it.Title); n > 24 {
				t.Errorf("entry %s: title %q is %d characters, more than 24", it.ID, it.Title, n)
			}
			msgs, _ = bob.Action(host.Action{ID: it.ID})
			if ans := one(t, msgs).Card; ans == nil || ans.Title != it.Description {
				t.Errorf("entry %s: answer %+v, want the card of %q", it.ID, ans, it.Description)
			}
			msgs, _ = bob.Message(it.Description)
			if ans := one(t, msgs).Card; ans == nil || ans.Title != it.Description {
				t.Errorf("asking %q literally answers %+v", it.Description, ans)
			}
		}
	}
	if entries != 7 {
		t.Fatalf("browsed %d entries, want the FAQ's 7", entries)
	}
}

func TestUnknownActions(t *testing.T) {
	for _, a := range []host.Action{{ID: "faq:nope"}, {ID: "topic:nope"}, {ID: "explode"}} {
		t.Run(a.ID, func(t *testing.T) {
			p, bob := load(t, cDir)
			msgs, _ := bob.Action(a)
			if c := one(t, msgs).Card; c == nil || c.List == nil {
				t.Fatalf("%s: want the topics again, got %+v", a.ID, c)
			}
			if a.ID == "explode" && !slices.Contains(p.Log(), `log WARN unknown action "explode"`) {
				t.Fatalf("app log %q lacks the unknown action", p.Log())
			}
		})
	}
}

// TestWasmSupport is the Go bot's sandbox test: topics, a free-text answer
// and a handoff that survives across events and instances.
func TestWasmSupport(t *testing.T) {
	ctx := context.Background()
	p, bob := load(t, cDir)
	msgs, _ := bob.Open()
	if len(msgs) != 1 || msgs[0].Card == nil || msgs[0].Card.List == nil || len(msgs[0].Card.List.Items) != 4 {
		t.Fatalf("open: %+v", msgs)
	}
	msgs, _ = bob.Message("I want my money back")
	if len(msgs) != 1 || msgs[0].Card == nil || msgs[0].Card.Title != "How do refunds work?" {
		t.Fatalf("free text: %+v", msgs)
	}
	msgs, _ = bob.Press(msgs[0].Card, "human")
	// The third event of the platform is ev3; the reference is the Go bot's.
	ticket := reference("ev3", bob.OpenID())
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "passed this conversation to our support team (reference "+ticket+")") {
		t.Fatalf("handoff: %+v, want reference %s", msgs, ticket)
	}
	ns, err := p.Services.KV.PersonNamespace(p.Ref, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Services.KV.Get(ctx, ns, "ticket")
	var stored struct{ Ref, Question string }
	if err != nil || json.Unmarshal(v.Data, &stored) != nil || stored.Ref != ticket || stored.Question != "How do refunds work?" {
		t.Fatalf("stored ticket %q, %v; want %s with the question", v.Data, err, ticket)
	}
	want := fmt.Sprintf("log INFO handoff %s conversation=cv_1 user=%s question=%q", ticket, bob.OpenID(), "How do refunds work?")
	if !slices.Contains(p.Log(), want) {
		t.Fatalf("app log %q lacks %q", p.Log(), want)
	}
	// Handed off: the team has Bob's messages, the bot none of them.
	open, err := p.Services.Handoffs.List(ctx, p.Ref.Merchant, true, 0)
	if err != nil || len(open) != 1 || open[0].Fields["reference"] != ticket || open[0].Summary != "The person asked: How do refunds work?" {
		t.Fatalf("open handoffs %+v, %v", open, err)
	}
	if msgs, _ = bob.Message("agent please"); len(msgs) != 0 {
		t.Fatalf("the bot answered a message the team holds: %+v", msgs)
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
	if !slices.Contains(p.Log(), "log INFO handback "+open[0].ID+" by Ana: refund sent") {
		t.Fatalf("app log %q lacks the handback", p.Log())
	}
	if _, err := p.Services.KV.Get(ctx, ns, "ticket"); err == nil {
		t.Fatal("the ticket outlived the handback")
	}
	if msgs, _ = bob.Message("agent please"); len(msgs) != 1 || !strings.Contains(msgs[0].Text, "passed this conversation") {
		t.Fatalf("a new handoff after the handback: %+v", msgs)
	}
	rep, err := p.Engine.Check(ctx, p.Wasm)
	if err != nil || len(rep.Violations) > 0 {
		t.Fatalf("check: %v %+v", err, rep)
	}
	if st := p.App.Stats(); st.Discarded != 0 {
		t.Fatalf("pool %+v: no instance should be discarded", st)
	}
}

// TestHandoffReadError checks a failing kv.get is logged and the handoff
// goes on, as in the Go bot.
func TestHandoffReadError(t *testing.T) {
	p := apptest.New(t, cDir, apptest.Options{Ref: ref, Funcs: []host.Func{{Op: "kv.get", Permission: host.PermStorage,
		Handle: func(context.Context, *host.Call, []byte) ([]byte, error) {
			return nil, host.Errorf(host.StatusUnavailable, "the store is busy")
		}}}})
	bob := p.NewPerson("Bob")
	msgs, _ := bob.Message("human please")
	if !strings.Contains(one(t, msgs).Text, "passed this conversation") {
		t.Fatalf("handoff: %+v", msgs)
	}
	if want := "log WARN read ticket: kv.get: unavailable: the store is busy"; !slices.Contains(p.Log(), want) {
		t.Fatalf("app log %q lacks %q", p.Log(), want)
	}
}
