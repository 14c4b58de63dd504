package gateway

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// Appends racing with stop either return a seq, and the message is stored
// at that seq when the database is opened again, or ErrClosed, and it is
// not stored at all. Seqs have no gaps.
func TestCommitsStopKeepsExactlyTheAcknowledged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	open := func() (*bbolt.DB, *store) {
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		st, err := newStore(db)
		if err != nil {
			t.Fatal(err)
		}
		return db, st
	}
	db, st := open()
	const convs, writers, per = 4, 8, 200
	for i := range convs {
		if _, _, err := st.ensureConv(convRecord{ID: fmt.Sprint("c", i), Kind: KindGroup, Members: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
	}
	type key struct {
		conv string
		seq  uint64
	}
	var mu sync.Mutex
	acked := map[key]string{}
	closed := 0
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for n := range per {
				if w == 0 && n == per/2 {
					go st.stop()
				}
				conv, text := fmt.Sprint("c", (w+n)%convs), fmt.Sprintf("w%d-%d", w, n)
				rec := &msgRecord{From: sender{Kind: "person", ID: "a"}}
				rec.Msg.Text = text
				err := st.append(conv, rec)
				mu.Lock()
				switch {
				case err == nil:
					acked[key{conv, rec.Seq}] = text
				case errors.Is(err, ErrClosed):
					closed++
				default:
					t.Errorf("append: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	st.stop()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if closed == 0 || len(acked) == 0 {
		t.Logf("%d acknowledged, %d refused: the stop did not fall in the middle", len(acked), closed)
	}

	db, st = open()
	defer db.Close()
	defer st.stop()
	stored := 0
	for i := range convs {
		conv := fmt.Sprint("c", i)
		msgs, err := st.messages(conv, 0, writers*per)
		if err != nil {
			t.Fatal(err)
		}
		for j, m := range msgs {
			if m.Seq != uint64(j+1) {
				t.Fatalf("%s: message %d has seq %d", conv, j, m.Seq)
			}
			if want, ok := acked[key{conv, m.Seq}]; !ok || m.Msg.Text != want {
				t.Fatalf("%s seq %d: stored %q, acknowledged %q (%v)", conv, m.Seq, m.Msg.Text, want, ok)
			}
		}
		stored += len(msgs)
	}
	if stored != len(acked) || stored+closed != writers*per {
		t.Fatalf("%d stored, %d acknowledged, %d refused, %d sent", stored, len(acked), closed, writers*per)
	}
}

// The dedupe memory of a conversation keeps the last dedupeWindow keys and
// those being stored, and stays bounded.
func TestRememberKeepsTheWindow(t *testing.T) {
	cs := &convState{recent: map[string]uint64{"storing": 0}}
	const n = 10 * dedupeWindow
	for i := 1; i <= n; i++ {
		cs.remember(fmt.Sprint("k", i), uint64(i))
		if len(cs.recent) > 4*dedupeWindow {
			t.Fatalf("after %d keys, %d remembered", i, len(cs.recent))
		}
	}
	for i := n - dedupeWindow + 1; i <= n; i++ {
		if seq := cs.recent[fmt.Sprint("k", i)]; seq != uint64(i) {
			t.Fatalf("k%d: seq %d", i, seq)
		}
	}
	if seq, ok := cs.recent["storing"]; !ok || seq != 0 {
		t.Fatalf("the key being stored was dropped (%d, %v)", seq, ok)
	}
}
