package messenger_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

const pageToken = "EAAGpage-token"

func newClient(t *testing.T, sim http.Handler, net messenger.Network, attempts int) *messenger.Client {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := messenger.NewClient(messenger.ClientConfig{Network: net, BaseURL: srv.URL, Token: pageToken, MaxAttempts: attempts, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func qrs(n, title int) []messenger.QuickReply {
	out := make([]messenger.QuickReply, n)
	for i := range out {
		out[i] = messenger.QuickReply{Title: strings.Repeat("q", title), Payload: "P"}
	}
	return out
}

func cards(n int, f func(*messenger.Card)) []messenger.Card {
	out := make([]messenger.Card, n)
	for i := range out {
		out[i] = messenger.Card{Title: "Ramen", Subtitle: "12 EUR", Buttons: []messenger.Button{{Title: "Order", Payload: "ORDER"}, {Title: "Menu", URL: "https://example.com/menu"}}}
		if f != nil {
			f(&out[i])
		}
	}
	return out
}

// Messages within the limits are accepted by the simulator, which checks
// them independently; the body has the documented shape.
func TestSendWithinLimits(t *testing.T) {
	tests := []struct {
		name string
		net  messenger.Network
		m    messenger.Message
		want string // a fragment of the body received
	}{
		{"text", messenger.Messenger, messenger.Message{Text: "hello"}, `"messaging_type":"RESPONSE"`},
		{"longest text", messenger.Messenger, messenger.Message{Text: strings.Repeat("é", messenger.MaxText)}, `"text":"éé`},
		{"13 quick replies of 20", messenger.Messenger, messenger.Message{Text: "Pick", QuickReplies: qrs(13, 20)}, `"content_type":"text"`},
		{"10 cards of 3 buttons", messenger.Messenger, messenger.Message{Cards: cards(10, func(c *messenger.Card) {
			c.Title, c.Subtitle = strings.Repeat("t", 80), strings.Repeat("s", 80)
			c.Buttons = append(c.Buttons, messenger.Button{Title: strings.Repeat("b", 20), Payload: "X"})
		})}, `"template_type":"generic"`},
		{"human agent", messenger.Messenger, messenger.Message{Type: messenger.MessageTag, Tag: messenger.HumanAgent, Text: "Hi, Ana from the shop"}, `"tag":"HUMAN_AGENT"`},
		{"update", messenger.Messenger, messenger.Message{Type: messenger.Update, Text: "Your order is ready"}, `"messaging_type":"UPDATE"`},
		{"instagram text", messenger.Instagram, messenger.Message{Text: strings.Repeat("a", messenger.MaxInstagramText)}, `"recipient":{"id":"IGSID1"}`},
		{"opt-in request", messenger.Messenger, messenger.Message{OptinRequest: &messenger.OptinRequest{Title: strings.Repeat("t", messenger.MaxOptinTitle),
			Payload: "topic", Frequency: "WEEKLY", CTAText: "GET"}}, `"template_type":"notification_messages"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := metasim.NewMessenger(metasim.MessengerConfig{Token: pageToken, Instagram: tt.net == messenger.Instagram})
			c := newClient(t, sim, tt.net, 1)
			to := "PSID1"
			if tt.net == messenger.Instagram {
				to = "IGSID1"
			}
			id, err := c.Send(context.Background(), to, tt.m)
			if err != nil {
				t.Fatal(err)
			}
			sent := sim.Sent()
			if len(sent) != 1 || sent[0].ID != id || sent[0].To != to {
				t.Fatalf("sent %+v, id %q", sent, id)
			}
			if !strings.Contains(string(sent[0].Body), tt.want) {
				t.Fatalf("body %s lacks %s", sent[0].Body, tt.want)
			}
		})
	}
}

// Messages past a limit are refused before anything is sent, naming the
// field.
func TestSendRefusesBeyondLimits(t *testing.T) {
	tests := []struct {
		name  string
		net   messenger.Network
		m     messenger.Message
		field string
	}{
		{"empty", messenger.Messenger, messenger.Message{}, "message.text"},
		{"text too long", messenger.Messenger, messenger.Message{Text: strings.Repeat("a", messenger.MaxText+1)}, "message.text"},
		{"instagram text in bytes", messenger.Instagram, messenger.Message{Text: strings.Repeat("é", 501)}, "message.text"},
		{"14 quick replies", messenger.Messenger, messenger.Message{Text: "Pick", QuickReplies: qrs(14, 5)}, "quick_replies"},
		{"quick reply title 21", messenger.Messenger, messenger.Message{Text: "Pick", QuickReplies: qrs(2, 21)}, "quick_replies[0].title"},
		{"11 cards", messenger.Messenger, messenger.Message{Cards: cards(11, nil)}, "elements"},
		{"card title 81", messenger.Messenger, messenger.Message{Cards: cards(1, func(c *messenger.Card) { c.Title = strings.Repeat("t", 81) })}, "elements[0].title"},
		{"subtitle 81", messenger.Messenger, messenger.Message{Cards: cards(1, func(c *messenger.Card) { c.Subtitle = strings.Repeat("s", 81) })}, "elements[0].subtitle"},
		{"4 buttons", messenger.Messenger, messenger.Message{Cards: cards(1, func(c *messenger.Card) { c.Buttons = append(c.Buttons, c.Buttons...) })}, "elements[0].buttons"},
		{"button title 21", messenger.Messenger, messenger.Message{Cards: cards(1, func(c *messenger.Card) { c.Buttons[0].Title = strings.Repeat("b", 21) })}, "elements[0].buttons[0].title"},
		{"button without action", messenger.Messenger, messenger.Message{Cards: cards(1, func(c *messenger.Card) { c.Buttons[0].Payload = "" })}, "elements[0].buttons[0]"},
		{"tag without MESSAGE_TAG", messenger.Messenger, messenger.Message{Tag: messenger.HumanAgent, Text: "x"}, "tag"},
		{"MESSAGE_TAG without tag", messenger.Messenger, messenger.Message{Type: messenger.MessageTag, Text: "x"}, "tag"},
		{"instagram takes HUMAN_AGENT only", messenger.Instagram, messenger.Message{Type: messenger.MessageTag, Tag: messenger.AccountUpdate, Text: "x"}, "tag"},
		{"unknown messaging type", messenger.Messenger, messenger.Message{Type: "PROMO", Text: "x"}, "messaging_type"},
		{"opt-in title 66", messenger.Messenger, messenger.Message{OptinRequest: &messenger.OptinRequest{Title: strings.Repeat("t", 66)}}, "attachment.payload.title"},
		{"opt-in frequency", messenger.Messenger, messenger.Message{OptinRequest: &messenger.OptinRequest{Title: "Deals", Frequency: "HOURLY"}}, "notification_messages_frequency"},
		{"opt-in button words", messenger.Messenger, messenger.Message{OptinRequest: &messenger.OptinRequest{Title: "Deals", CTAText: "CLICK"}}, "notification_messages_cta_text"},
		{"opt-in with text", messenger.Messenger, messenger.Message{Text: "x", OptinRequest: &messenger.OptinRequest{Title: "Deals"}}, "message"},
		{"opt-in by token", messenger.Messenger, messenger.Message{Token: "nmt", OptinRequest: &messenger.OptinRequest{Title: "Deals"}}, "recipient"},
		{"token with a tag", messenger.Messenger, messenger.Message{Token: "nmt", Type: messenger.MessageTag, Tag: messenger.HumanAgent, Text: "x"}, "messaging_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := metasim.NewMessenger(metasim.MessengerConfig{Token: pageToken})
			c := newClient(t, sim, tt.net, 1)
			_, err := c.Send(context.Background(), "PSID1", tt.m)
			le, ok := errors.AsType[*messenger.LimitError](err)
			if !ok || le.Field != tt.field {
				t.Fatalf("err = %v, want a LimitError on %s", err, tt.field)
			}
			if len(sim.Sent()) != 0 {
				t.Fatal("a message past a limit was sent")
			}
		})
	}
}

// The simulator's own checks refuse what the client would not send: a
// body sent by hand past the limits gets Meta's code 100.
func TestSimulatorChecksLimits(t *testing.T) {
	sim := metasim.NewMessenger(metasim.MessengerConfig{Token: pageToken})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	q := make([]any, 14)
	for i := range q {
		q[i] = map[string]any{"content_type": "text", "title": "x", "payload": "p"}
	}
	bodies := map[string]any{
		"14 quick replies":        map[string]any{"recipient": map[string]any{"id": "P"}, "messaging_type": "RESPONSE", "message": map[string]any{"text": "t", "quick_replies": q}},
		"no messaging_type":       map[string]any{"recipient": map[string]any{"id": "P"}, "message": map[string]any{"text": "t"}},
		"tag outside MESSAGE_TAG": map[string]any{"recipient": map[string]any{"id": "P"}, "messaging_type": "RESPONSE", "tag": "HUMAN_AGENT", "message": map[string]any{"text": "t"}},
	}
	for name, b := range bodies {
		t.Run(name, func(t *testing.T) {
			raw, _ := json.Marshal(b)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v23.0/me/messages", strings.NewReader(string(raw)))
			req.Header.Set("Authorization", "Bearer "+pageToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Error struct{ Code int } `json:"error"`
			}
			json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != 400 || e.Error.Code != 100 {
				t.Fatalf("got %d code %d, want 400 code 100", resp.StatusCode, e.Error.Code)
			}
		})
	}
}

// Meta's refusals are classified by code and subcode; throttling and
// passing failures are retried with backoff and then succeed, the rest
// are final at the first answer.
func TestSendErrorClassification(t *testing.T) {
	tests := []struct {
		name     string
		faults   []metasim.Fault
		attempts int
		class    messenger.Class
		code     int
		sent     int // messages accepted in the end
	}{
		{"613 retried then sent", []metasim.Fault{{Code: 613}, {Code: 613}}, 4, "", 0, 1},
		{"4 and 32 retried then sent", []metasim.Fault{{Code: 4}, {Code: 32}}, 4, "", 0, 1},
		{"2 retried then sent", []metasim.Fault{{Code: 2}}, 4, "", 0, 1},
		{"throttled past the attempts", []metasim.Fault{{Code: 613}, {Code: 613}}, 2, messenger.ClassThrottled, 613, 0},
		{"outside the window", []metasim.Fault{{Code: 10, Subcode: 2018278}}, 4, messenger.ClassWindowClosed, 10, 0},
		{"person unavailable", []metasim.Fault{{Code: 551, Subcode: 1545041}}, 4, messenger.ClassUndeliverable, 551, 0},
		{"no matching user", []metasim.Fault{{Code: 100, Subcode: 2018001}}, 4, messenger.ClassUndeliverable, 100, 0},
		{"token", []metasim.Fault{{Code: 190}}, 4, messenger.ClassAuth, 190, 0},
		{"policy block", []metasim.Fault{{Code: 368, Subcode: 1390008}}, 4, messenger.ClassPolicy, 368, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := metasim.NewMessenger(metasim.MessengerConfig{Token: pageToken})
			sim.FailNext(tt.faults...)
			c := newClient(t, sim, messenger.Messenger, tt.attempts)
			_, err := c.Send(context.Background(), "PSID1", messenger.Message{Text: "hello"})
			if tt.class == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				e, ok := errors.AsType[*messenger.Error](err)
				if !ok || e.Class != tt.class || e.Code != tt.code {
					t.Fatalf("err = %v, want class %s code %d", err, tt.class, tt.code)
				}
				if e.Retry() != (tt.class == messenger.ClassThrottled) {
					t.Fatalf("Retry() = %v for %s", e.Retry(), tt.class)
				}
			}
			if n := len(sim.Sent()); n != tt.sent {
				t.Fatalf("%d messages accepted, want %d", n, tt.sent)
			}
		})
	}
}

// With windows on, the simulator answers 10/2018278 outside 24 hours and
// accepts the HUMAN_AGENT tag up to 7 days.
func TestWindows(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	sim := metasim.NewMessenger(metasim.MessengerConfig{Token: pageToken, Windows: true, Now: func() time.Time { return now }})
	c := newClient(t, sim, messenger.Messenger, 1)
	ctx := context.Background()
	human := messenger.Message{Type: messenger.MessageTag, Tag: messenger.HumanAgent, Text: "Ana here"}
	tests := []struct {
		name  string
		wrote time.Duration // how long ago the person wrote; 0: never
		m     messenger.Message
		class messenger.Class
	}{
		{"never wrote", 0, messenger.Message{Text: "hi"}, messenger.ClassWindowClosed},
		{"within 24 hours", 23 * time.Hour, messenger.Message{Text: "hi"}, ""},
		{"after 24 hours", 25 * time.Hour, messenger.Message{Text: "hi"}, messenger.ClassWindowClosed},
		{"human agent after 3 days", 72 * time.Hour, human, ""},
		{"human agent after 8 days", 8 * 24 * time.Hour, human, messenger.ClassWindowClosed},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			to := "PSID" + string(rune('A'+i))
			if tt.wrote != 0 {
				sim.Inbound(to, now.Add(-tt.wrote))
			}
			_, err := c.Send(ctx, to, tt.m)
			if tt.class == "" && err != nil {
				t.Fatal(err)
			}
			if tt.class != "" {
				if e, ok := errors.AsType[*messenger.Error](err); !ok || e.Class != tt.class || e.Subcode != 2018278 {
					t.Fatalf("err = %v, want %s with subcode 2018278", err, tt.class)
				}
			}
		})
	}
}

func TestSendWithoutAnswerIsUnknownAndNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close()
	}))
	defer srv.Close()
	c, err := messenger.NewClient(messenger.ClientConfig{Network: messenger.Messenger, BaseURL: srv.URL, Token: pageToken, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), "PSID1", messenger.Message{Text: "hello"})
	if e, ok := errors.AsType[*messenger.Error](err); !ok || e.Class != messenger.ClassUnknown || e.Retry() {
		t.Fatalf("err = %v, want ClassUnknown, not retried", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d requests, want 1", calls.Load())
	}
}

func TestNewClientRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]messenger.ClientConfig{
		"no network": {Token: pageToken},
		"no token":   {Network: messenger.Instagram},
	} {
		if _, err := messenger.NewClient(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// A message by a notification messages token goes to the token's person
// outside the 24-hour window, without a messaging_type; Meta's refusals
// of a stopped topic and an expired token come back classified.
func TestSendByToken(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	sim := metasim.NewMessenger(metasim.MessengerConfig{Token: pageToken, Windows: true, Now: clock})
	c := newClient(t, sim, messenger.Messenger, 1)
	o := sim.OptIn("PSID1", "Deals", "DEALS", "DAILY")
	if _, err := c.Send(context.Background(), "PSID1", messenger.Message{Token: o.Token, Text: "Two for one"}); err != nil {
		t.Fatal(err)
	}
	sent := sim.Sent()
	if len(sent) != 1 || sent[0].To != "PSID1" || strings.Contains(string(sent[0].Body), "messaging_type") ||
		!strings.Contains(string(sent[0].Body), `"recipient":{"notification_messages_token":"`+o.Token+`"}`) {
		t.Fatalf("sent %+v", sent)
	}
	if _, err := sim.Notifications(o.Token, true); err != nil {
		t.Fatal(err)
	}
	_, err := c.Send(context.Background(), "PSID1", messenger.Message{Token: o.Token, Text: "Again"})
	if e, ok := errors.AsType[*messenger.Error](err); !ok || e.Class != messenger.ClassConsent || e.Subcode != 1893015 {
		t.Fatalf("after STOP NOTIFICATIONS: %v", err)
	}
	_, err = c.Send(context.Background(), "PSID1", messenger.Message{Token: "nmt_other", Text: "x"})
	if e, ok := errors.AsType[*messenger.Error](err); !ok || e.Class != messenger.ClassInvalid || !strings.Contains(e.Message, "notification_messages_token is invalid") {
		t.Fatalf("unknown token: %v", err)
	}
}
