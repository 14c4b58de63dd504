package gateway_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/host"
)

// Staged messages, a quarter of them rolled back, commit while people post
// into the same conversation and other conversations push its delivery
// state out of memory (one state kept): a member sees every seq in order,
// exactly once, and no message of a rolled-back transaction.
func TestStagedAndPostedHammer(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.RatePerSecond, c.RateBurst, c.MaxConversations = 1e6, 1e6, 1 })
	alice, _ := e.connect("alice", "web", nil)
	conv := alice.request(map[string]any{"type": "group", "id": "g", "members": []string{"bob"}})["conv"].(string)
	churn, _ := e.connect("alice", "web", nil)
	bob, _ := e.connect("bob", "web", nil)
	const posts, stagers, per = 150, 4, 60

	// Every connection is read all along, so none is a slow consumer.
	var drains sync.WaitGroup
	stop := make(chan struct{})
	for _, c := range []*client{alice, churn} {
		drains.Go(func() {
			for {
				_ = c.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
				var f map[string]any
				if err := c.ws.ReadJSON(&f); err != nil {
					select {
					case <-stop:
					default:
						t.Error(err)
					}
					return
				}
			}
		})
	}

	var committed atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { // alice posts
		for i := range posts {
			if err := alice.ws.WriteJSON(map[string]any{"type": "send", "id": fmt.Sprint("p", i), "conv": conv, "text": fmt.Sprint("post ", i)}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() { // other conversations take the one state
		for i := range posts {
			to := []string{"bob", "carol"}[i%2]
			if err := churn.ws.WriteJSON(map[string]any{"type": "send", "id": fmt.Sprint("c", i), "to": to, "text": "churn"}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for s := range stagers {
		wg.Go(func() {
			for i := range per {
				text := fmt.Sprintf("staged %d-%d", s, i)
				abort := i%4 == 3
				if abort {
					text = "rolled back"
				}
				eff, err := e.srv.Stage(context.Background(), host.Outgoing{App: host.AppRef{App: "lunch"}, Conversation: conv,
					Message: &host.Message{Text: text}})
				if err != nil {
					t.Error(err)
					return
				}
				err = e.db.Update(func(tx *bbolt.Tx) error {
					if err := eff.Apply(tx); err != nil {
						return err
					}
					if abort {
						return errAbort
					}
					return nil
				})
				if abort {
					if i%8 == 7 {
						runtime.GC() // lets go of the dropped effects' holds
					}
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				committed.Add(1)
				eff.Committed()
			}
		})
	}
	wg.Wait()
	total := uint64(posts) + uint64(committed.Load())

	// bob: strictly increasing seqs; what an app's flood skipped comes as
	// a gap, fetched with history.
	var next uint64 = 1
	for next <= total {
		f := bob.next()
		switch {
		case f["conv"] != conv:
		case f["type"] == "msg":
			seq := uint64(f["seq"].(float64))
			if seq != next {
				t.Fatalf("bob got seq %d, want %d", seq, next)
			}
			if text := f["message"].(map[string]any)["text"]; text == "rolled back" {
				t.Fatalf("bob got seq %d of a rolled-back transaction", seq)
			}
			next++
		case f["type"] == "gap":
			if after := uint64(f["after"].(float64)); after != next-1 {
				t.Fatalf("gap after %d, want after %d", after, next-1)
			}
			next = uint64(f["last"].(float64)) + 1
		}
	}
	got := e.texts(conv)
	if uint64(len(got)) != total {
		t.Fatalf("%d messages stored, %d posted or committed", len(got), total)
	}
	for _, s := range got {
		if strings.HasSuffix(s, "rolled back") {
			t.Fatalf("stored %s of a rolled-back transaction", s)
		}
	}
	close(stop)
	alice.ws.Close()
	churn.ws.Close()
	drains.Wait()
}
