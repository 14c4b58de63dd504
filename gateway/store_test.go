package gateway_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway"
)

// history returns the texts of conv by seq, read with history frames.
func history(t *testing.T, c *client, conv string) map[uint64]string {
	t.Helper()
	got := map[uint64]string{}
	var after uint64
	for page := 0; ; page++ {
		h := c.request(map[string]any{"type": "history", "id": fmt.Sprint("h", page), "conv": conv, "after": after})
		msgs, _ := h["messages"].([]any)
		if len(msgs) == 0 {
			return got
		}
		for _, m := range msgs {
			m := m.(map[string]any)
			seq := uint64(m["seq"].(float64))
			if seq != after+1 {
				t.Fatalf("history of %s after %d: seq %d", conv, after, seq)
			}
			got[seq] = m["message"].(map[string]any)["text"].(string)
			after = seq
		}
	}
}

// Every acknowledged message is in the store, at its seq, after the server
// and the database are closed and opened again; seqs have no gaps.
func TestAckedMessagesSurviveReopen(t *testing.T) {
	fast := func(c *gateway.Config) { c.RatePerSecond, c.RateBurst = 1e6, 1e6 }
	e := newEnv(t, fast)
	alice, _ := e.connect("alice", "web", nil)
	convs := []string{
		alice.request(map[string]any{"type": "send", "id": "open-b", "to": "bob", "text": "open-b"})["conv"].(string),
		alice.request(map[string]any{"type": "send", "id": "open-c", "to": "carol", "text": "open-c"})["conv"].(string),
		alice.request(map[string]any{"type": "group", "id": "g", "members": []string{"bob", "carol"}})["conv"].(string),
	}
	const senders, per = 4, 150
	type ack struct {
		conv string
		seq  uint64
	}
	acked := make([][]ack, senders)
	texts := make([][]string, senders)
	var wg sync.WaitGroup
	for i := range senders {
		c, _ := e.connect("alice", "web", nil)
		wg.Go(func() {
			// Everything is sent before the first ack is read, so that
			// commits take many messages at once.
			for n := range per {
				id := fmt.Sprintf("s%d-%d", i, n)
				if err := c.ws.WriteJSON(map[string]any{"type": "send", "id": id, "conv": convs[n%len(convs)], "text": id}); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
			for len(acked[i]) < per {
				var f struct {
					Type, ID, Conv string
					Seq            uint64
				}
				if err := c.ws.ReadJSON(&f); err != nil {
					t.Errorf("read: %v", err)
					return
				}
				if f.Type == "error" {
					t.Errorf("error frame %+v", f)
					return
				}
				if f.Type == "ack" {
					acked[i] = append(acked[i], ack{f.Conv, f.Seq})
					texts[i] = append(texts[i], f.ID)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	e.stop()
	path := e.db.Path()
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	e.start(fast)

	alice, _ = e.connect("alice", "web", nil)
	stored := map[string]map[uint64]string{}
	total := 0
	for _, conv := range convs {
		stored[conv] = history(t, alice, conv)
		total += len(stored[conv])
	}
	if want := senders*per + 2; total != want {
		t.Fatalf("%d messages stored, want %d", total, want)
	}
	for i := range senders {
		for n, a := range acked[i] {
			if got := stored[a.conv][a.seq]; got != texts[i][n] {
				t.Fatalf("ack %s at %s seq %d: stored %q", texts[i][n], a.conv, a.seq, got)
			}
		}
	}
}

// History reads any window of a long conversation, across the marks the
// store keeps every 64 messages.
func TestHistoryWindows(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.RatePerSecond, c.RateBurst = 1e6, 1e6 })
	alice, _ := e.connect("alice", "web", nil)
	conv := alice.request(map[string]any{"type": "send", "id": "1", "to": "bob", "text": "1"})["conv"].(string)
	const last = 200
	for i := 2; i <= last; i++ {
		alice.request(map[string]any{"type": "send", "id": fmt.Sprint(i), "conv": conv, "text": fmt.Sprint(i)})
	}
	tests := []struct {
		after, limit int
		first, n     int // first seq returned and how many
	}{
		{0, 1, 1, 1},
		{0, 200, 1, 200},
		{63, 1, 64, 1},
		{64, 1, 65, 1},
		{62, 3, 63, 3},
		{127, 65, 128, 65},
		{128, 64, 129, 64},
		{190, 50, 191, 10},
		{199, 0, 200, 1}, // 0 is the default limit
		{200, 10, 0, 0},
		{1000, 10, 0, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("after=%d,limit=%d", tt.after, tt.limit), func(t *testing.T) {
			h := alice.request(map[string]any{"type": "history", "id": "h", "conv": conv, "after": tt.after, "limit": tt.limit})
			msgs, _ := h["messages"].([]any)
			if len(msgs) != tt.n {
				t.Fatalf("%d messages, want %d", len(msgs), tt.n)
			}
			for i, m := range msgs {
				m := m.(map[string]any)
				want := tt.first + i
				if m["seq"] != float64(want) || m["message"].(map[string]any)["text"] != fmt.Sprint(want) {
					t.Fatalf("message %d: seq %v text %v, want %d", i, m["seq"], m["message"], want)
				}
			}
		})
	}
}
