package gateway_test

import (
	"encoding/json"
	"fmt"
	"testing"
)

// welcomeConv returns conversation id of the welcome frame among frames.
func welcomeConv(t *testing.T, frames []map[string]any, id string) map[string]any {
	t.Helper()
	for _, f := range frames {
		if f["type"] != "welcome" {
			continue
		}
		for _, c := range f["conversations"].([]any) {
			if c := c.(map[string]any); c["id"] == id {
				return c
			}
		}
	}
	t.Fatalf("no conversation %s in welcome: %v", id, frames)
	return nil
}

func marksOf(c map[string]any) string {
	b, _ := json.Marshal(c["marks"])
	return string(b)
}

func TestReadMarkersAreKeptAndShared(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.connect("alice", "web", nil)
	var conv string
	for i := 1; i <= 3; i++ {
		conv = alice.request(map[string]any{"type": "send", "id": fmt.Sprint("m", i), "to": "bob", "text": fmt.Sprint("hello ", i)})["conv"].(string)
	}
	bob, frames := e.connect("bob", "web", nil)
	if c := welcomeConv(t, frames, conv); c["read"] != 0.0 || c["last"] != 3.0 {
		t.Fatalf("bob's first view: %v", c)
	}
	bob2, _ := e.connect("bob", "whatsapp", nil) // bob's second device

	steps := []struct {
		name, state string
		seq         int
		want        string // the mark frame alice gets, "" for none
		ack         float64
	}{
		{"delivered", "delivered", 3, `{"delivered":3,"read":0}`, 0},
		{"read up to 2", "read", 2, `{"delivered":3,"read":2}`, 2},
		{"backwards changes nothing", "read", 1, "", 2},
		{"past the end is clamped", "read", 99, `{"delivered":3,"read":3}`, 3},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ack := bob.request(map[string]any{"type": "mark", "id": fmt.Sprint("k", i), "conv": conv, "seq": st.seq, "state": st.state})
			if ack["type"] != "ack" || ack["seq"] != st.ack && !(st.ack == 0 && ack["seq"] == nil) {
				t.Fatalf("ack %v, want read %v", ack, st.ack)
			}
			if st.want == "" {
				return
			}
			for _, c := range []*client{alice, bob2} {
				f := c.until("mark")
				got := fmt.Sprintf(`{"delivered":%v,"read":%v}`, f["delivered"], f["read"])
				if f["conv"] != conv || f["person"] != "bob" || got != st.want {
					t.Fatalf("mark frame %v, want %s from bob", f, st.want)
				}
			}
		})
	}

	// Kept across a restart: bob's unread count is 0 on every device, and
	// alice sees bob has read her messages.
	e.stop()
	e.start(nil)
	_, frames = e.connect("bob", "web", nil)
	if c := welcomeConv(t, frames, conv); c["read"] != 3.0 || c["marks"] != nil {
		t.Fatalf("bob's view after a restart: %v", c)
	}
	alice, frames = e.connect("alice", "web", nil)
	if c := welcomeConv(t, frames, conv); c["read"] != 0.0 || marksOf(c) != `[{"delivered":3,"person":"bob","read":3}]` {
		t.Fatalf("alice's view after a restart: read %v, marks %s", c["read"], marksOf(c))
	}
	list := alice.request(map[string]any{"type": "conversations", "id": "l1"})["conversations"].([]any)
	if c := list[0].(map[string]any); marksOf(c) != `[{"delivered":3,"person":"bob","read":3}]` {
		t.Fatalf("conversations frame: %v", c)
	}
}

func TestBadMarkFrames(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.connect("alice", "web", nil)
	conv := alice.request(map[string]any{"type": "send", "id": "m1", "to": "bob", "text": "hi"})["conv"].(string)
	carol, _ := e.connect("carol", "web", nil)
	cases := []struct {
		name  string
		c     *client
		frame map[string]any
		code  string
	}{
		{"no state", alice, map[string]any{"conv": conv, "seq": 1}, "bad_request"},
		{"unknown state", alice, map[string]any{"conv": conv, "seq": 1, "state": "seen"}, "bad_request"},
		{"no seq", alice, map[string]any{"conv": conv, "state": "read"}, "bad_request"},
		{"no conv", alice, map[string]any{"seq": 1, "state": "read"}, "bad_request"},
		{"not a member", carol, map[string]any{"conv": conv, "seq": 1, "state": "read"}, "forbidden"},
		{"no such conversation", alice, map[string]any{"conv": "d_nope", "seq": 1, "state": "read"}, "not_found"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.frame["type"], tc.frame["id"] = "mark", fmt.Sprint("b", i)
			if f := tc.c.request(tc.frame); f["type"] != "error" || f["code"] != tc.code {
				t.Fatalf("got %v, want error %s", f, tc.code)
			}
		})
	}
}

func TestTypingReachesTheOthersOnly(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.connect("alice", "web", nil)
	conv := alice.request(map[string]any{"type": "send", "id": "m1", "to": "bob", "text": "hi"})["conv"].(string)
	alice2, _ := e.connect("alice", "web", nil)
	bob, _ := e.connect("bob", "whatsapp", nil)
	carol, _ := e.connect("carol", "web", nil)
	if f := alice.request(map[string]any{"type": "typing", "id": "t1", "conv": conv}); f["type"] != "ack" {
		t.Fatalf("typing answered %v", f)
	}
	if f := bob.until("typing"); f["conv"] != conv || f["person"] != "alice" || f["name"] != "Alice" {
		t.Fatalf("bob got %v", f)
	}
	// Alice's other device hears nothing of her typing: the next frame it
	// gets is the one after.
	alice.request(map[string]any{"type": "send", "id": "m2", "conv": conv, "text": "there"})
	if f := alice2.next(); f["type"] != "msg" {
		t.Fatalf("alice's other device got %v before the message", f)
	}
	if f := carol.request(map[string]any{"type": "typing", "id": "t2", "conv": conv}); f["code"] != "forbidden" {
		t.Fatalf("a non-member's typing: %v", f)
	}
}
