package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
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
