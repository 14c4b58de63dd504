package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/chat"
	"github.com/passerelle/passerelle/host/consent"
)

type outbox struct {
	mu   sync.Mutex
	out  []host.Outgoing
	fail bool
}

func (o *outbox) Emit(ctx context.Context, g host.Outgoing) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail {
		return errors.New("gateway down")
	}
	o.out = append(o.out, g)
	return nil
}

type members map[string][]string

func (m members) IsMember(ctx context.Context, conv, person string) (bool, error) {
	for _, p := range m[conv] {
		if p == person {
			return true, nil
		}
	}
	return false, nil
}

func buttons(n int) []host.Button {
	var b []host.Button
	for i := range n {
		b = append(b, host.Button{ID: fmt.Sprint("b", i), Title: "ok"})
	}
	return b
}

func items(n int) []host.ListItem {
	var it []host.ListItem
	for i := range n {
		it = append(it, host.ListItem{ID: fmt.Sprint("i", i), Title: "item"})
	}
	return it
}

func TestValidate(t *testing.T) {
	form := func(fields ...host.FormField) *host.Form { return &host.Form{ID: "f", Fields: fields} }
	for _, tc := range []struct {
		name  string
		m     host.Message
		field string // "" when valid
	}{
		{"text", host.Message{Text: "hi"}, ""},
		{"text at the limit", host.Message{Text: strings.Repeat("é", chat.MaxText)}, ""},
		{"text too long", host.Message{Text: strings.Repeat("a", chat.MaxText+1)}, "text"},
		{"empty", host.Message{}, "message"},
		{"text and card", host.Message{Text: "a", Card: &host.Card{Title: "t"}}, "message"},
		{"card with title", host.Message{Card: &host.Card{Title: "Menu"}}, ""},
		{"card with nothing", host.Message{Card: &host.Card{Image: "https://x.example/a.png"}}, "card"},
		{"title too long", host.Message{Card: &host.Card{Title: strings.Repeat("t", 81)}}, "card.title"},
		{"http image", host.Message{Card: &host.Card{Title: "t", Image: "http://x.example/a.png"}}, "card.image"},
		{"javascript image", host.Message{Card: &host.Card{Title: "t", Image: "javascript:alert(1)"}}, "card.image"},
		{"https image", host.Message{Card: &host.Card{Title: "t", Image: "https://cdn.example/a.png"}}, ""},
		{"ten buttons", host.Message{Card: &host.Card{Title: "t", Buttons: buttons(10)}}, ""},
		{"eleven buttons", host.Message{Card: &host.Card{Title: "t", Buttons: buttons(11)}}, "card.buttons"},
		{"duplicate button ids", host.Message{Card: &host.Card{Title: "t", Buttons: []host.Button{{ID: "a", Title: "x"}, {ID: "a", Title: "y"}}}}, "card.buttons[1].id"},
		{"button title too long", host.Message{Card: &host.Card{Title: "t", Buttons: []host.Button{{ID: "a", Title: strings.Repeat("x", 41)}}}}, "card.buttons[0].title"},
		{"button without id", host.Message{Card: &host.Card{Title: "t", Buttons: []host.Button{{Title: "x"}}}}, "card.buttons[0].id"},
		{"fifty items", host.Message{Card: &host.Card{Title: "t", List: &host.List{Items: items(50)}}}, ""},
		{"fifty-one items", host.Message{Card: &host.Card{Title: "t", List: &host.List{Items: items(51)}}}, "card.list.items"},
		{"empty list", host.Message{Card: &host.Card{Title: "t", List: &host.List{}}}, "card.list.items"},
		{"buttons and list", host.Message{Card: &host.Card{Title: "t", Buttons: buttons(1), List: &host.List{Items: items(1)}}}, "card"},
		{"form", host.Message{Card: &host.Card{Title: "t", Form: form(host.FormField{Name: "n", Label: "Name"})}}, ""},
		{"form eleven fields", host.Message{Card: &host.Card{Title: "t", Form: form(func() []host.FormField {
			var f []host.FormField
			for i := range 11 {
				f = append(f, host.FormField{Name: fmt.Sprint("f", i), Label: "L"})
			}
			return f
		}()...)}}, "card.form.fields"},
		{"form field type", host.Message{Card: &host.Card{Title: "t", Form: form(host.FormField{Name: "n", Label: "L", Type: "date"})}}, "card.form.fields[0].type"},
		{"form duplicate names", host.Message{Card: &host.Card{Title: "t", Form: form(host.FormField{Name: "n", Label: "L"}, host.FormField{Name: "n", Label: "M"})}}, "card.form.fields[1].name"},
		{"share card", host.Message{Card: &host.Card{Title: "t", Share: &host.Share{App: "other"}}}, "card.share"},
		{"invalid UTF-8", host.Message{Text: "\xff"}, "text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := chat.Validate(&tc.m)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, chat.ErrInvalid) || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("Validate = %v, want an error about %s", err, tc.field)
			}
		})
	}
}

func op(s *chat.Service, name string) host.Func {
	for _, f := range s.Funcs() {
		if f.Op == name {
			return f
		}
	}
	panic(name)
}

func newCall(out host.Outbox) *host.Call {
	return &host.Call{Caller: host.Caller{App: host.AppRef{Merchant: "acme", App: "shop", Version: "1"}, Person: "alice",
		Conversation: "c-alice-shop", Permissions: []host.Permission{host.PermChat}}, Out: out}
}

func TestSend(t *testing.T) {
	out := &outbox{}
	s := chat.New(chat.Config{})
	send := op(s, "chat.send")
	c := newCall(out)
	resp, err := send.Handle(context.Background(), c, []byte(`{"card":{"title":"Menu","buttons":[{"id":"a","title":"Shirts"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var r chat.SendResponse
	_ = json.Unmarshal(resp, &r)
	if len(out.out) != 1 {
		t.Fatalf("%d outgoing", len(out.out))
	}
	g := out.out[0]
	if g.Message == nil || g.Prompt != nil || g.Conversation != "c-alice-shop" || g.App.App != "shop" || g.ID != r.ID || r.ID == "" ||
		g.Message.Card == nil || g.Message.Card.Buttons[0].Title != "Shirts" {
		t.Fatalf("outgoing = %+v resp %s", g, resp)
	}
	for _, tc := range []struct {
		name string
		req  string
		want host.Status
		fail bool
	}{
		{"not JSON object", `"hi"`, host.StatusBadRequest, false},
		{"invalid", `{"text":""}`, host.StatusBadRequest, false},
		{"gateway down", `{"text":"hi"}`, host.StatusUnavailable, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out.fail = tc.fail
			defer func() { out.fail = false }()
			if _, err := send.Handle(context.Background(), c, []byte(tc.req)); host.StatusOf(err) != tc.want {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
		})
	}
	noConv := newCall(out)
	noConv.Caller.Conversation = ""
	if _, err := send.Handle(context.Background(), noConv, []byte(`{"text":"hi"}`)); host.StatusOf(err) != host.StatusNotFound {
		t.Fatalf("no conversation: %v", err)
	}
}

func TestShare(t *testing.T) {
	s := chat.New(chat.Config{Members: members{"group-1": {"alice", "bob"}, "group-2": {"bob"}}})
	share := op(s, "chat.share")
	for _, tc := range []struct {
		name     string
		req      string
		want     host.Status
		conv     string
		prompted bool
	}{
		{"prompt", `{"card":{"title":"Shop"},"payload":"sku-1"}`, host.StatusOK, "c-alice-shop", true},
		{"member", `{"conversation":"group-1","card":{"title":"Shop"}}`, host.StatusOK, "group-1", false},
		{"own conversation", `{"conversation":"c-alice-shop","card":{"title":"Shop"}}`, host.StatusOK, "c-alice-shop", false},
		{"not a member", `{"conversation":"group-2","card":{"title":"Shop"}}`, host.StatusNotFound, "", false},
		{"no card", `{"payload":"x"}`, host.StatusBadRequest, "", false},
		{"buttons", `{"card":{"title":"Shop","buttons":[{"id":"a","title":"b"}]}}`, host.StatusBadRequest, "", false},
		{"payload too big", `{"card":{"title":"Shop"},"payload":"` + strings.Repeat("p", chat.MaxSharePayload+1) + `"}`, host.StatusBadRequest, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &outbox{}
			resp, err := share.Handle(context.Background(), newCall(out), []byte(tc.req))
			if host.StatusOf(err) != tc.want {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
			if tc.want != host.StatusOK {
				if len(out.out) != 0 {
					t.Fatalf("emitted %d on failure", len(out.out))
				}
				return
			}
			var r chat.SendResponse
			_ = json.Unmarshal(resp, &r)
			g := out.out[0]
			if (g.Prompt != nil) != tc.prompted || (g.Message != nil) == tc.prompted || g.Conversation != tc.conv || r.Prompted != tc.prompted || r.ID == "" {
				t.Fatalf("outgoing = %+v, resp %s", g, resp)
			}
			var card *host.Card
			if tc.prompted {
				var p chat.SharePrompt
				_ = json.Unmarshal(g.Prompt.Body, &p)
				if p.Type != "share" || g.Prompt.Kind != s.PromptKind() || g.Prompt.Person != "alice" || p.ID != r.ID || g.Prompt.ID != r.ID {
					t.Fatalf("prompt = %+v", p)
				}
				card = p.Card
			} else {
				if g.ID != r.ID {
					t.Fatalf("message id %q, chat.share answered %q", g.ID, r.ID)
				}
				card = g.Message.Card
			}
			if card == nil || card.Share == nil || card.Share.App != "shop" {
				t.Fatalf("card = %+v", card)
			}
		})
	}
}

func FuzzSend(f *testing.F) {
	for _, seed := range []string{`{"text":"hi"}`, `{"card":{"title":"t","buttons":[{"id":"a","title":"b"}]}}`,
		`{"card":{"title":"t","list":{"items":[{"id":"a","title":"b"}]}}}`, `{"card":{"text":"x","form":{"id":"f","fields":[{"name":"n","label":"l"}]}}}`} {
		f.Add(seed)
	}
	s := chat.New(chat.Config{})
	send := op(s, "chat.send")
	f.Fuzz(func(t *testing.T, req string) {
		out := &outbox{}
		_, err := send.Handle(context.Background(), newCall(out), []byte(req))
		if err != nil {
			if st := host.StatusOf(err); st != host.StatusBadRequest {
				t.Fatalf("status %s for %q", st, req)
			}
			if len(out.out) != 0 {
				t.Fatal("emitted an invalid message")
			}
			return
		}
		// What was emitted validates again after a JSON round trip.
		data, err := json.Marshal(out.out[0].Message)
		if err != nil {
			t.Fatal(err)
		}
		var m host.Message
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		if err := chat.Validate(&m); err != nil {
			t.Fatalf("emitted message does not validate: %v", err)
		}
	})
}

// One event sends at most MaxMessagesPerEvent messages, chat.send and
// chat.share into a conversation together; the next gets quota_exceeded
// and sends nothing. A new event starts again from zero.
func TestMessagesPerEventCap(t *testing.T) {
	s := chat.New(chat.Config{Members: members{"c-other": {"alice"}}})
	send, share := op(s, "chat.send"), op(s, "chat.share")
	for _, tc := range []struct {
		name string
		last func(*host.Call) error
	}{
		{"chat.send", func(c *host.Call) error {
			_, err := send.Handle(context.Background(), c, []byte(`{"text":"one more"}`))
			return err
		}},
		{"chat.share", func(c *host.Call) error {
			_, err := share.Handle(context.Background(), c, []byte(`{"conversation":"c-other","card":{"title":"Shop"}}`))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &outbox{}
			c := newCall(out)
			for i := range chat.MaxMessagesPerEvent {
				if _, err := send.Handle(context.Background(), c, []byte(`{"text":"hi"}`)); err != nil {
					t.Fatalf("message %d: %v", i+1, err)
				}
			}
			err := tc.last(c)
			if host.StatusOf(err) != host.StatusQuota || !strings.Contains(err.Error(), "later event") {
				t.Fatalf("message %d: %v, want quota_exceeded saying what to do", chat.MaxMessagesPerEvent+1, err)
			}
			if len(out.out) != chat.MaxMessagesPerEvent {
				t.Fatalf("%d messages went out, want %d", len(out.out), chat.MaxMessagesPerEvent)
			}
			if _, err := send.Handle(context.Background(), newCall(out), []byte(`{"text":"next event"}`)); err != nil {
				t.Fatalf("a new event's first message: %v", err)
			}
		})
	}
}

// TestSendConsent: with the consent rules on, chat.send to a person who
// has not written to the business, or who sent STOP, is refused with the
// rule's status and nothing reaches the outbox.
func TestSendConsent(t *testing.T) {
	ctx := context.Background()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "chat.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rules, err := consent.Open(db, consent.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out := &outbox{}
	send := op(chat.New(chat.Config{Consent: rules}), "chat.send")
	try := func() error {
		_, err := send.Handle(ctx, newCall(out), []byte(`{"text":"hi"}`))
		return err
	}
	steps := []struct {
		name string
		do   func()
		want host.Status
		sent int
	}{
		{"never wrote", func() {}, host.StatusWindowClosed, 0},
		{"wrote", func() { must(t, rules.Touch(ctx, "alice", "acme", time.Now())) }, host.StatusOK, 1},
		{"STOP on another surface", func() {
			_, err := rules.Inbound(ctx, consent.Inbound{Person: "alice", Business: "acme", Surface: "whatsapp", Text: "stop"})
			must(t, err)
		}, host.StatusOptedOut, 1},
		{"START", func() {
			_, err := rules.Inbound(ctx, consent.Inbound{Person: "alice", Business: "acme", Surface: "web", Text: "START"})
			must(t, err)
		}, host.StatusOK, 2},
	}
	for _, st := range steps {
		st.do()
		if err := try(); host.StatusOf(err) != st.want || len(out.out) != st.sent {
			t.Fatalf("%s: %v with %d sent; want %s with %d", st.name, err, len(out.out), st.want, st.sent)
		}
	}
	noPerson := newCall(out)
	noPerson.Caller.Person = ""
	if _, err := send.Handle(ctx, noPerson, []byte(`{"text":"hi"}`)); err != nil {
		t.Fatalf("an event without a person: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
