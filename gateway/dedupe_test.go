package gateway_test

import (
	"fmt"
	"testing"

	"github.com/passerelle/passerelle/gateway"
)

// A send resent with the same id is recognised (ack with dup and the first
// seq, nothing stored or delivered twice) however busy the conversation
// was in between, and across a restart of the server.
func TestResendAfterABusySpell(t *testing.T) {
	fast := func(c *gateway.Config) { c.RatePerSecond, c.RateBurst = 1e6, 1e6 }
	// Before the window was a time kept in the store, the server remembered a
	// conversation's latest ids in memory only, at least 128 and at most 512.
	tests := []struct {
		name    string
		others  int
		restart bool
	}{
		{"after 200 other messages and a restart", 200, true},
		{"after 600 other messages", 600, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, fast)
			alice, _ := e.connect("alice", "web", nil)
			first := alice.request(map[string]any{"type": "send", "id": "lost-ack", "to": "bob", "text": "once"})
			conv := first["conv"].(string)
			bob, _ := e.connect("bob", "web", nil)
			for i := range tc.others {
				c, id := alice, fmt.Sprint("a", i)
				if i%2 == 1 {
					c, id = bob, fmt.Sprint("b", i)
				}
				if ack := c.request(map[string]any{"type": "send", "id": id, "conv": conv, "text": "busy"}); ack["type"] != "ack" || ack["dup"] == true {
					t.Fatalf("send %d: %v", i, ack)
				}
			}
			if tc.restart {
				e.stop()
				e.start(fast)
			}
			alice, _ = e.connect("alice", "web", map[string]uint64{conv: uint64(tc.others) + 1})
			again := alice.request(map[string]any{"type": "send", "id": "lost-ack", "conv": conv, "text": "once"})
			if again["type"] != "ack" || again["seq"] != first["seq"] || again["dup"] != true {
				t.Fatalf("resend: %v, first ack %v; want a dup ack of seq %v", again, first, first["seq"])
			}
			if next := alice.request(map[string]any{"type": "send", "id": "new", "conv": conv, "text": "next"}); next["seq"] != float64(tc.others+2) {
				t.Fatalf("next send: %v, want seq %d (the resend stored nothing)", next, tc.others+2)
			}
		})
	}
}
