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
