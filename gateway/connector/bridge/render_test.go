package bridge_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/bridge"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
	"github.com/passerelle/passerelle/host"
)

func TestRender(t *testing.T) {
	buttons := func(n int) []host.Button {
		var bs []host.Button
		for i := range n {
			bs = append(bs, host.Button{ID: "b" + string(rune('a'+i)), Title: "Option " + string(rune('A'+i)), Value: "v"})
		}
		return bs
	}
	tests := []struct {
		name    string
		network string
		msg     host.Message
		check   func(t *testing.T, out bridge.Out)
	}{
		{"text on WhatsApp", connector.NetworkWhatsApp, host.Message{Text: "hello"}, func(t *testing.T, out bridge.Out) {
			if m, ok := out.WhatsApp.(whatsapp.Text); !ok || m.Body != "hello" {
				t.Fatalf("%#v", out.WhatsApp)
			}
		}},
		{"three buttons on WhatsApp", connector.NetworkWhatsApp, host.Message{Card: &host.Card{Text: "Pick", Buttons: buttons(3)}}, func(t *testing.T, out bridge.Out) {
			m, ok := out.WhatsApp.(whatsapp.Buttons)
			if !ok || len(m.Buttons) != 3 {
				t.Fatalf("%#v", out.WhatsApp)
			}
			a, tok := bridge.ParseReplyID(m.Buttons[1].ID)
			if tok != "" || a == nil || a.ID != "bb" || a.Value != "v" {
				t.Fatalf("reply id %q reads as %+v %q", m.Buttons[1].ID, a, tok)
			}
		}},
		{"four buttons degrade to a numbered menu", connector.NetworkWhatsApp, host.Message{Card: &host.Card{Text: "Pick", Buttons: buttons(4)}}, func(t *testing.T, out bridge.Out) {
			m, ok := out.WhatsApp.(whatsapp.Text)
			if !ok || !strings.Contains(m.Body, "4. Option D") || !strings.Contains(m.Body, "Reply with a number") {
				t.Fatalf("%#v", out.WhatsApp)
			}
		}},
		{"a list on WhatsApp", connector.NetworkWhatsApp, host.Message{Card: &host.Card{Text: "Menu", List: &host.List{Button: "See", Items: []host.ListItem{{ID: "x", Title: "X", Description: "d"}}}}}, func(t *testing.T, out bridge.Out) {
			if m, ok := out.WhatsApp.(whatsapp.List); !ok || m.Button != "See" || m.Sections[0].Rows[0].Description != "d" {
				t.Fatalf("%#v", out.WhatsApp)
			}
		}},
		{"quick replies on Messenger", connector.NetworkMessenger, host.Message{Card: &host.Card{Text: "Pick", Buttons: buttons(4)}}, func(t *testing.T, out bridge.Out) {
			if m := out.Messenger; m == nil || len(m.QuickReplies) != 4 || m.Text != "Pick" {
				t.Fatalf("%#v", out.Messenger)
			}
		}},
		{"a titled card is a generic template on Instagram", connector.NetworkInstagram, host.Message{Card: &host.Card{Title: "Soup", Text: "hot", Buttons: buttons(2)}}, func(t *testing.T, out bridge.Out) {
			if m := out.Messenger; m == nil || len(m.Cards) != 1 || len(m.Cards[0].Buttons) != 2 || m.Cards[0].Subtitle != "hot" {
				t.Fatalf("%#v", out.Messenger)
			}
		}},
		{"an id too long for a button degrades to a menu", connector.NetworkWhatsApp, host.Message{Card: &host.Card{Text: "Pick", Buttons: []host.Button{{ID: "a", Title: "A", Value: strings.Repeat("v", 300)}}}}, func(t *testing.T, out bridge.Out) {
			if _, ok := out.WhatsApp.(whatsapp.Text); !ok {
				t.Fatalf("%#v", out.WhatsApp)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := bridge.Render(tt.network, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, out)
		})
	}
}

// TestAppCannotForgeHostPrompts: an app's button, list item or form whose
// id starts with the host's prefix is refused, on every network.
func TestAppCannotForgeHostPrompts(t *testing.T) {
	forged := []*host.Card{
		{Text: "Pay?", Buttons: []host.Button{{ID: "hp:0123", Title: "Pay"}}},
		{Text: "Pay?", List: &host.List{Items: []host.ListItem{{ID: "hp:x", Title: "Pay"}}}},
		{Text: "Pay?", Form: &host.Form{ID: "hp:f", Fields: []host.FormField{{Name: "a", Label: "A"}}}},
	}
	for _, c := range forged {
		for _, n := range []string{connector.NetworkWhatsApp, connector.NetworkMessenger, connector.NetworkInstagram} {
			if _, err := bridge.Render(n, host.Message{Card: c}); !errors.Is(err, bridge.ErrReservedID) {
				t.Errorf("%s: %+v rendered (%v)", n, c, err)
			}
		}
	}
}

func FuzzParseReplyID(f *testing.F) {
	for _, s := range []string{"a:[\"button\",\"x\",\"v\"]", "hp:abc", "a:[]", "a:", "hp:", "", "a:[\"b\",\"\",\"\"]", "a:{\"x\":1}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		a, tok := bridge.ParseReplyID(id)
		if a != nil && tok != "" {
			t.Fatalf("%q is both an app's choice and a host token", id)
		}
		if tok != "" && !strings.HasPrefix(id, bridge.HostPrefix) {
			t.Fatalf("%q read as a host token without the prefix", id)
		}
		if a != nil && (!strings.HasPrefix(id, bridge.AppPrefix) || a.ID == "") {
			t.Fatalf("%q read as the app choice %+v", id, a)
		}
	})
}

// TestTopicPurpose: a Messenger topic's title names a consent purpose.
func TestTopicPurpose(t *testing.T) {
	for title, want := range map[string]string{
		"Lunch deals!":             "lunch-deals",
		"  Été 2026 / offers  ":    "t-2026-offers",
		"updates from The Kitchen": "updates-from-the-kitchen",
		"!!!":                      "notifications",
		strings.Repeat("ab ", 40):  strings.TrimRight(strings.Repeat("ab-", 22)[:64], "-"),
	} {
		got := bridge.TopicPurpose(title)
		if got != want {
			t.Errorf("TopicPurpose(%q) = %q, want %q", title, got, want)
		}
		if len(got) > 64 || strings.Trim(got, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Errorf("TopicPurpose(%q) = %q is not a purpose name", title, got)
		}
	}
}
