package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/broadcast"
	consentsvc "github.com/passerelle/passerelle/host/consent"
)

// TestBroadcastSeam: AppConversation makes the person's conversation with
// an app (shown at once to their connection) and finds it again; Stored
// finds a message by the app and id among many, not another app's with
// the same id, and not one older than since.
func TestBroadcastSeam(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	alice, _ := e.connect("alice", "web", nil)
	app := host.AppRef{Merchant: "m", App: "lunch"}
	conv, err := e.srv.AppConversation(ctx, app, "alice")
	if err != nil {
		t.Fatal(err)
	}
	f := alice.until("conv")
	if c, _ := f["conv"].(map[string]any); c["id"] != conv || c["app"] != "lunch" || c["title"] != "Lunch" {
		t.Fatalf("conv frame %v for %s", f, conv)
	}
	again, err := e.srv.AppConversation(ctx, app, "alice")
	if err != nil || again != conv {
		t.Fatalf("again: %q %v, want %q", again, err, conv)
	}
	start := time.Now()
	out := host.Outgoing{App: app, Conversation: conv, Message: &host.Message{Text: "Soup of the day: leek"}, ID: "msg_bcast1"}
	if ok, err := e.srv.Stored(ctx, out, start); err != nil || ok {
		t.Fatalf("before the send: %v %v", ok, err)
	}
	if err := e.srv.Emit(ctx, out); err != nil {
		t.Fatal(err)
	}
	if m := alice.until("msg"); m["id"] != "msg_bcast1" {
		t.Fatalf("alice got %v", m)
	}
	for i := range 150 { // the message sinks under more than two pages
		if err := e.srv.Emit(ctx, host.Outgoing{App: app, Conversation: conv, Message: &host.Message{Text: "more"}, ID: fmt.Sprint("msg_", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		out   host.Outgoing
		since time.Time
		want  bool
	}{
		{"stored", out, start, true},
		{"another app's id", host.Outgoing{App: host.AppRef{Merchant: "m", App: "shop"}, Conversation: conv, ID: "msg_bcast1"}, start, false},
		{"another id", host.Outgoing{App: app, Conversation: conv, ID: "msg_bcast2"}, start, false},
		{"older than since", out, time.Now().Add(time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := e.srv.Stored(ctx, tc.out, tc.since)
			if err != nil || ok != tc.want {
				t.Fatalf("Stored: %v %v, want %v", ok, err, tc.want)
			}
		})
	}
	if ok, err := e.srv.Stored(ctx, host.Outgoing{App: app, Conversation: "nope", ID: "x"}, start); ok || err != nil {
		t.Fatalf("Stored in a conversation that does not exist: %v %v, want false", ok, err)
	}
	if err := e.srv.Emit(ctx, host.Outgoing{App: app, Conversation: "nope", Message: &host.Message{Text: "x"}, ID: "x"}); host.StatusOf(err) != host.StatusNotFound {
		t.Fatalf("Emit into a conversation that does not exist: %v; a broadcast counts on not_found", err)
	}
	if _, err := e.srv.AppConversation(ctx, app, ""); host.StatusOf(err) != host.StatusBadRequest {
		t.Fatalf("no person: %v", err)
	}
}

// gatewaySender is how a platform hands a broadcast to the gateway;
// crash makes its next Send stop the "process" once the message is stored.
type gatewaySender struct {
	srv   *gateway.Server
	crash bool
}

var errStopped = errors.New("the process stopped after storing the message")

func (s *gatewaySender) Conversation(ctx context.Context, app host.AppRef, person string) (string, error) {
	return s.srv.AppConversation(ctx, app, person)
}

func (s *gatewaySender) Send(ctx context.Context, out host.Outgoing) error {
	if err := s.srv.Emit(ctx, out); err != nil {
		return err
	}
	if s.crash {
		s.crash = false
		return errStopped
	}
	return nil
}

func (s *gatewaySender) Sent(ctx context.Context, out host.Outgoing, since time.Time) (bool, error) {
	return s.srv.Stored(ctx, out, since)
}

type openIDs struct{}

func (openIDs) OpenID(ref host.AppRef, person string) string { return "o-" + person }

// TestBroadcastResumedOverTheGateway: a broadcast whose process stopped
// after the gateway stored a person's message, before the outcome was
// recorded, is resumed by a new engine on the same store: that person's
// message is found in their conversation and not stored again, the next
// person gets theirs, and each conversation holds the message once.
func TestBroadcastResumedOverTheGateway(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	svc, err := consentsvc.Open(e.db, consentsvc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"alice", "bob"} {
		if _, err := svc.OptIn(ctx, consentsvc.Grant{Person: p, Business: "m", App: "lunch", Purpose: "menu", Prompt: consentsvc.OptInPrompt("Bistro", "menu")}); err != nil {
			t.Fatal(err)
		}
	}
	sender := &gatewaySender{srv: e.srv, crash: true}
	first, err := broadcast.Open(e.db, broadcast.Config{Consent: svc, Sender: sender, Pseudonyms: openIDs{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := first.Create(ctx, "m", broadcast.Request{ID: "soup", App: "lunch", Purpose: "menu", Message: host.Message{Text: "Leek soup today"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := first.Step(ctx, "m", "soup"); !errors.Is(err, errStopped) {
		t.Fatalf("the first step: %v", err)
	}
	second, err := broadcast.Open(e.db, broadcast.Config{Consent: svc, Sender: &gatewaySender{srv: e.srv}, Pseudonyms: openIDs{}})
	if err != nil {
		t.Fatal(err)
	}
	var b broadcast.Broadcast
	for b.State != broadcast.StateDone {
		if b, _, err = second.Step(ctx, "m", "soup"); err != nil {
			t.Fatal(err)
		}
	}
	if b.Sent != 2 || b.Skipped != 0 {
		t.Fatalf("progress %+v", b)
	}
	for _, p := range []string{"alice", "bob"} {
		conv, err := e.srv.AppConversation(ctx, host.AppRef{Merchant: "m", App: "lunch"}, p)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := e.log.Range(ctx, conv, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 || msgs[0].ID != broadcast.MessageID("m", "soup", p) || msgs[0].Msg.Text != "Leek soup today" {
			t.Fatalf("%s's conversation holds %+v, want the broadcast's message once", p, msgs)
		}
	}
}
