package gateway_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway"
)

// TestReconnectingReaderSeesEverySeqOnceInOrder: two people write into a
// group as fast as they can while a third keeps disconnecting and resuming.
// Every connection of the third must see a contiguous run of seqs starting
// right after its resume point, and together they must cover everything.
func TestReconnectingReaderSeesEverySeqOnceInOrder(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.RatePerSecond, c.RateBurst = 1e6, 1e6 })
	alice, _ := e.connect("alice", "web", nil)
	bob, _ := e.connect("bob", "whatsapp", nil)
	conv := alice.request(map[string]any{"type": "group", "id": "g", "members": []string{"bob", "carol"}})["conv"].(string)
	const each = 150
	var wg sync.WaitGroup
	for _, w := range []*client{alice, bob} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := w.ws.WriteJSON(map[string]any{"type": "send", "id": fmt.Sprint(i), "conv": conv, "text": fmt.Sprint(i)}); err != nil {
					t.Error(err)
					return
				}
			}
			// Drain until the writer's own last ack, so the server is not
			// blocked on a full queue.
			for acks := 0; acks < each; {
				_ = w.ws.SetReadDeadline(time.Now().Add(20 * time.Second))
				var f map[string]any
				if err := w.ws.ReadJSON(&f); err != nil {
					t.Error(err)
					return
				}
				if f["type"] == "ack" {
					acks++
				}
			}
		}()
	}
	var last uint64
	for round := 0; last < 2*each && round < 1000; round++ {
		carol, frames := e.connect("carol", "instagram", map[string]uint64{conv: last})
		next := last + 1
		check := func(f map[string]any) {
			if f["type"] != "msg" || f["conv"] != conv {
				return
			}
			seq := uint64(f["seq"].(float64))
			if seq != next {
				t.Fatalf("round %d: got seq %d, want %d (resumed after %d)", round, seq, next, last)
			}
			next++
		}
		for _, f := range frames {
			check(f)
		}
		for i := 0; i < 7 && next <= 2*each; i++ { // read a few live frames, then drop the connection
			check(carol.next())
		}
		carol.ws.Close()
		last = next - 1
	}
	wg.Wait()
	if last != 2*each {
		t.Fatalf("carol reached seq %d of %d", last, 2*each)
	}
}
