package convlog_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/convlog"
)

var errAbort = errors.New("the caller aborts")

// appendTx runs AppendTx for each message in one transaction of its own
// that commits, or rolls back when abort is set.
func appendTx(t *testing.T, e *dedupeEnv, conv string, abort bool, ms ...*convlog.Message) []convlog.Appended {
	t.Helper()
	var out []convlog.Appended
	err := e.db.Update(func(tx *bbolt.Tx) error {
		out = out[:0]
		for _, m := range ms {
			res, err := e.log.AppendTx(tx, conv, m)
			if err != nil {
				return err
			}
			out = append(out, res)
		}
		if abort {
			return errAbort
		}
		return nil
	})
	if abort && !errors.Is(err, errAbort) || !abort && err != nil {
		t.Fatalf("transaction: %v", err)
	}
	return out
}

// Messages appended in a transaction that rolls back leave nothing behind:
// not the messages, not the conversation's head, not their client ids;
// the next append takes the seq the first of them had, and the same client
// id is a new message.
func TestAppendTxRolledBackLeavesNoTrace(t *testing.T) {
	e := newDedupeEnv(t, 0)
	for i := range 2 {
		if _, err := e.log.Append(e.ctx, "c1", text("alice", fmt.Sprint("before-", i), "before")); err != nil {
			t.Fatal(err)
		}
	}
	res := appendTx(t, e, "c1", true, text("alice", "x", "one"), text("bob", "", "two"), text("alice", "y", "three"))
	if res[0].Seq != 3 || res[1].Seq != 4 || res[2].Seq != 5 {
		t.Fatalf("inside the transaction: %+v, want seqs 3, 4, 5", res)
	}
	if _, last, _ := e.log.Conv(e.ctx, "c1"); last != 2 {
		t.Fatalf("newest seq %d after the rollback, want 2", last)
	}
	msgs, err := e.log.Range(e.ctx, "c1", 0, 100)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("%d messages stored (%v), want the 2 from before", len(msgs), err)
	}
	after := text("alice", "x", "one again")
	if r, err := e.log.Append(e.ctx, "c1", after); err != nil || r.Dup || r.Seq != 3 || after.Seq != 3 {
		t.Fatalf("append after the rollback: %+v (m.Seq %d) %v; want a new message at seq 3", r, after.Seq, err)
	}
	// The same with the messages appended by AppendTx again, committed.
	res = appendTx(t, e, "c1", false, text("alice", "y", "three"), text("bob", "", "four"))
	if res[0].Seq != 4 || res[1].Seq != 5 || res[0].Dup {
		t.Fatalf("committed: %+v, want seqs 4, 5", res)
	}
	msgs, _ = e.log.Range(e.ctx, "c1", 0, 100)
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprint(m.Seq, ":", m.Msg.Text))
	}
	if want := "[1:before 2:before 3:one again 4:three 5:four]"; fmt.Sprint(got) != want {
		t.Fatalf("stored %v, want %s", got, want)
	}
}

// AppendTx recognises a resend like Append does, both ways round and
// within its own transaction.
func TestAppendTxResend(t *testing.T) {
	e := newDedupeEnv(t, 0)
	if _, err := e.log.Append(e.ctx, "c1", text("alice", "a", "by Append")); err != nil {
		t.Fatal(err)
	}
	res := appendTx(t, e, "c1", false, text("alice", "a", "resent"), text("alice", "b", "new"), text("alice", "b", "resent in the same transaction"))
	if want := "[{1 true} {2 false} {2 true}]"; fmt.Sprint(res) != want {
		t.Fatalf("AppendTx results %v, want %s", res, want)
	}
	if r, err := e.log.Append(e.ctx, "c1", text("alice", "b", "resent by Append")); err != nil || !r.Dup || r.Seq != 2 {
		t.Fatalf("Append of an id AppendTx stored: %+v %v", r, err)
	}
	if e.reopen(t); !appendTx(t, e, "c1", false, text("alice", "b", "after a restart"))[0].Dup {
		t.Fatal("the id AppendTx stored was forgotten by a restart")
	}
}

// AppendTx refuses a conversation that does not exist (ErrNotFound) and a
// read-only transaction, and stores nothing.
func TestAppendTxRefusals(t *testing.T) {
	e := newDedupeEnv(t, 0)
	err := e.db.Update(func(tx *bbolt.Tx) error { _, err := e.log.AppendTx(tx, "nope", text("alice", "", "x")); return err })
	if !errors.Is(err, convlog.ErrNotFound) {
		t.Fatalf("missing conversation: %v, want ErrNotFound", err)
	}
	err = e.db.View(func(tx *bbolt.Tx) error { _, err := e.log.AppendTx(tx, "c1", text("alice", "", "x")); return err })
	if err == nil {
		t.Fatal("AppendTx in a read-only transaction succeeded")
	}
	if _, last, _ := e.log.Conv(e.ctx, "c1"); last != 0 {
		t.Fatalf("newest seq %d, want nothing stored", last)
	}
}

// AppendWith commits what its function writes with the message, or
// neither; a Dup does not run it.
func TestAppendWith(t *testing.T) {
	e := newDedupeEnv(t, 0)
	bucket := []byte("test.with")
	if err := e.db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		t.Fatal(err)
	}
	mark := func(fail bool) func(tx *bbolt.Tx, seq uint64) error {
		return func(tx *bbolt.Tx, seq uint64) error {
			if err := tx.Bucket(bucket).Put([]byte(fmt.Sprint(seq)), nil); err != nil {
				return err
			}
			if fail {
				return errAbort
			}
			return nil
		}
	}
	if _, err := e.log.AppendWith(e.ctx, "c1", text("alice", "a", "fails"), mark(true)); !errors.Is(err, errAbort) {
		t.Fatalf("append whose function failed: %v", err)
	}
	if r, err := e.log.AppendWith(e.ctx, "c1", text("alice", "a", "kept"), mark(false)); err != nil || r.Seq != 1 {
		t.Fatalf("append: %+v %v", r, err)
	}
	ran := false
	if r, err := e.log.AppendWith(e.ctx, "c1", text("alice", "a", "resent"), func(*bbolt.Tx, uint64) error { ran = true; return nil }); err != nil || !r.Dup || ran {
		t.Fatalf("resend: %+v %v, function ran: %v", r, err, ran)
	}
	var keys []string
	_ = e.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, _ []byte) error { keys = append(keys, string(k)); return nil })
	})
	if _, last, _ := e.log.Conv(e.ctx, "c1"); last != 1 || fmt.Sprint(keys) != "[1]" {
		t.Fatalf("newest seq %d, marks %v; want seq 1 and its mark only", last, keys)
	}
}

// AppendTx in transactions of their own, a third of them rolled back, runs
// alongside group-committed appends to the same conversations: every seq is
// taken once, without gaps, by exactly the messages whose append committed.
func TestAppendTxBesideGroupCommits(t *testing.T) {
	e := newDedupeEnv(t, 0)
	const writers, per = 6, 150
	var mu sync.Mutex
	committed := map[string]bool{} // text -> committed
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for n := range per {
				conv := []string{"c1", "c2"}[n%2]
				s := fmt.Sprintf("w%d-%d", w, n)
				m := text("alice", s, s)
				ok := true
				if w%2 == 0 {
					_, err := e.log.Append(e.ctx, conv, m)
					if err != nil {
						t.Error(err)
						return
					}
				} else {
					abort := n%3 == 0
					err := e.db.Update(func(tx *bbolt.Tx) error {
						if _, err := e.log.AppendTx(tx, conv, m); err != nil {
							return err
						}
						if abort {
							return errAbort
						}
						return nil
					})
					if abort != errors.Is(err, errAbort) || !abort && err != nil {
						t.Errorf("transaction: %v", err)
						return
					}
					ok = !abort
				}
				mu.Lock()
				committed[conv+"/"+s] = ok
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	stored := 0
	for _, conv := range []string{"c1", "c2"} {
		msgs, err := e.log.Range(e.ctx, conv, 0, writers*per)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range msgs {
			if m.Seq != uint64(i+1) {
				t.Fatalf("%s: message %d has seq %d", conv, i, m.Seq)
			}
			if !committed[conv+"/"+m.Msg.Text] {
				t.Fatalf("%s seq %d: %q is stored, but its transaction rolled back", conv, m.Seq, m.Msg.Text)
			}
		}
		stored += len(msgs)
	}
	want := 0
	for _, ok := range committed {
		if ok {
			want++
		}
	}
	if stored != want {
		t.Fatalf("%d messages stored, %d committed", stored, want)
	}
}
