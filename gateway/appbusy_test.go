package gateway_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sched"
)

// An app with a full queue refuses the person's message with app_busy,
// plainly; the connection stays, and the app answers again once it caught
// up.
func TestBusyAppRefusesWithAppBusy(t *testing.T) {
	e := newEnv(t, nil)
	// One event of the app at a time, one more waiting.
	e.apps.sched.Close(context.Background())
	e.apps.sched = sched.New(sched.Config{Workers: 4, Queue: 1, PerApp: 1})
	stuck := make(chan struct{})
	var unstick sync.Once
	defer unstick.Do(func() { close(stuck) }) // even when the test fails
	e.apps.set(func(ev host.AppEvent) *host.Message {
		if ev.Event.Type == host.EventMessage && ev.Event.Text == "stuck" {
			<-stuck
		}
		return nil
	}, nil)
	bob, _ := e.connect("bob", "web", nil)
	conv := bob.request(map[string]any{"type": "open", "id": "o", "app": "lunch"})["conv"]
	// The first runs and blocks, the second waits; at least three of five
	// are refused, after their message was stored and acknowledged.
	for i := range 5 {
		bob.send(map[string]any{"type": "send", "id": fmt.Sprint("s", i), "conv": conv, "text": "stuck"})
	}
	codes := map[string]int{}
	for codes["app_busy"] < 3 {
		f := bob.next()
		if f["type"] != "error" {
			continue
		}
		codes[f["code"].(string)]++
		if f["code"] == "app_busy" && f["message"] != "this app is busy and did not get your message; try again in a moment" {
			t.Errorf("app_busy message %q", f["message"])
		}
		if len(codes) != 1 {
			t.Fatalf("error codes %v, want only app_busy", codes)
		}
	}
	unstick.Do(func() { close(stuck) })
	e.apps.set(func(ev host.AppEvent) *host.Message { return &host.Message{Text: "back: " + ev.Event.Text} }, nil)
	// The connection is still open: the app's next answer reaches bob.
	bob.send(map[string]any{"type": "send", "id": "after", "conv": conv, "text": "hello"})
	for {
		f := bob.until("msg")
		if m, _ := f["message"].(map[string]any); m["text"] == "back: hello" {
			break
		}
	}
	// The refused events are not kept to be run later: the person was
	// told. Every other one ran and was consumed.
	e.keptDrained()
}
