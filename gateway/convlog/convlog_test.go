package convlog_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/host"
)

func openDB(t *testing.T, path string) *bbolt.DB {
	t.Helper()
	// Without fsync: these tests count messages, not crashes.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func open(t *testing.T, db *bbolt.DB, cfg convlog.Config) *convlog.Log {
	t.Helper()
	l, err := convlog.Open(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func text(from, cid, s string) *convlog.Message {
	return &convlog.Message{From: convlog.Sender{Kind: "person", ID: from}, Client: cid, Msg: host.Message{Text: s}}
}

// Appends racing with Close either return a seq, and the message is stored
// at that seq when the database is opened again, or ErrClosed, and it is
// not stored at all. Seqs have no gaps.
func TestCloseKeepsExactlyTheAcknowledged(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db := openDB(t, path)
	l := open(t, db, convlog.Config{})
	const convs, writers, per = 4, 8, 200
	for i := range convs {
		if _, _, err := l.Ensure(ctx, convlog.Conv{ID: fmt.Sprint("c", i), Kind: "group", Members: []string{"a"}}); err != nil {
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
					go l.Close()
				}
				conv, s := fmt.Sprint("c", (w+n)%convs), fmt.Sprintf("w%d-%d", w, n)
				m := text("a", "", s)
				_, err := l.Append(ctx, conv, m)
				mu.Lock()
				switch {
				case err == nil:
					acked[key{conv, m.Seq}] = s
				case errors.Is(err, convlog.ErrClosed):
					closed++
				default:
					t.Errorf("append: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	l.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if closed == 0 || len(acked) == 0 {
		t.Logf("%d acknowledged, %d refused: the close did not fall in the middle", len(acked), closed)
	}

	db = openDB(t, path)
	defer db.Close()
	l = open(t, db, convlog.Config{})
	defer l.Close()
	stored := 0
	for i := range convs {
		conv := fmt.Sprint("c", i)
		msgs, err := l.Range(ctx, conv, 0, writers*per)
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

// clock is a settable time for the dedupe window.
type clock struct{ ms atomic.Int64 }

func (c *clock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *clock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// A resend (same sender, same client id, same conversation) within the
// dedupe window is recognised however many messages came between and
// across a restart; past the window, or from another sender or in another
// conversation, the same client id is a new message.
func TestResend(t *testing.T) {
	const window = time.Hour
	tests := []struct {
		name    string
		between func(t *testing.T, env *dedupeEnv) // after the first send
		from    string
		conv    string
		dup     bool
	}{
		{"right away", nil, "alice", "c1", true},
		{"after 200 other messages", func(t *testing.T, e *dedupeEnv) { e.others(t, 200) }, "alice", "c1", true},
		{"after a restart", func(t *testing.T, e *dedupeEnv) { e.reopen(t) }, "alice", "c1", true},
		{"after 200 other messages and a restart", func(t *testing.T, e *dedupeEnv) { e.others(t, 200); e.reopen(t) }, "alice", "c1", true},
		{"just inside the window", func(t *testing.T, e *dedupeEnv) { e.clock.advance(window - time.Millisecond) }, "alice", "c1", true},
		{"past the window", func(t *testing.T, e *dedupeEnv) { e.clock.advance(window) }, "alice", "c1", false},
		{"from another sender", nil, "bob", "c1", false},
		{"in another conversation", nil, "alice", "c2", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newDedupeEnv(t, window)
			first := text("alice", "cid-1", "hello")
			if res, err := e.log.Append(e.ctx, "c1", first); err != nil || res.Dup || res.Seq != 1 {
				t.Fatalf("first send: %+v %v", res, err)
			}
			if tc.between != nil {
				tc.between(t, e)
			}
			_, last, err := e.log.Conv(e.ctx, tc.conv)
			if err != nil {
				t.Fatal(err)
			}
			again := text(tc.from, "cid-1", "hello")
			res, err := e.log.Append(e.ctx, tc.conv, again)
			if err != nil {
				t.Fatal(err)
			}
			_, after, _ := e.log.Conv(e.ctx, tc.conv)
			switch {
			case tc.dup && (!res.Dup || res.Seq != 1 || after != last):
				t.Fatalf("resend: %+v, newest seq %d -> %d; want Dup of seq 1, nothing stored", res, last, after)
			case !tc.dup && (res.Dup || res.Seq != last+1 || after != last+1 || again.Seq != last+1):
				t.Fatalf("send: %+v (m.Seq %d), newest seq %d -> %d; want a new message at %d", res, again.Seq, last, after, last+1)
			}
		})
	}
}

type dedupeEnv struct {
	ctx   context.Context
	path  string
	db    *bbolt.DB
	log   *convlog.Log
	clock *clock
	cfg   convlog.Config
}

func newDedupeEnv(t *testing.T, window time.Duration) *dedupeEnv {
	e := &dedupeEnv{ctx: context.Background(), path: filepath.Join(t.TempDir(), "d.db"), clock: &clock{}}
	e.clock.ms.Store(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixMilli())
	e.cfg = convlog.Config{DedupeWindow: window, Now: e.clock.now}
	e.db = openDB(t, e.path)
	e.log = open(t, e.db, e.cfg)
	t.Cleanup(func() { e.log.Close(); e.db.Close() })
	for _, c := range []string{"c1", "c2"} {
		if _, _, err := e.log.Ensure(e.ctx, convlog.Conv{ID: c, Kind: "group", Members: []string{"alice", "bob"}}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *dedupeEnv) others(t *testing.T, n int) {
	for i := range n {
		if _, err := e.log.Append(e.ctx, "c1", text("bob", fmt.Sprint("b", i), "busy")); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *dedupeEnv) reopen(t *testing.T) {
	e.log.Close()
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	e.db = openDB(t, e.path)
	e.log = open(t, e.db, e.cfg)
}

// Client ids older than the window are forgotten as new ones come: however
// long the log runs, it keeps about a window's worth of them.
func TestDedupeDoesNotGrowForever(t *testing.T) {
	const window = time.Minute
	e := newDedupeEnv(t, window)
	const perMinute, minutes = 50, 20
	count := func() int {
		n := 0
		if err := e.db.View(func(tx *bbolt.Tx) error {
			n = tx.Bucket([]byte("gateway.dedupe")).Stats().KeyN
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	most := 0
	for i := range perMinute * minutes {
		if _, err := e.log.Append(e.ctx, "c1", text("alice", fmt.Sprint("id-", i), "x")); err != nil {
			t.Fatal(err)
		}
		e.clock.advance(time.Minute / perMinute)
		most = max(most, count())
	}
	t.Logf("at most %d ids kept", most)
	// A window holds perMinute ids; the sweep, going round, keeps at most
	// 8/7 of that.
	if limit := perMinute*8/7 + 2; most > limit {
		t.Fatalf("%d dedupe entries at most after %d minutes, want at most %d (a window's worth)", most, minutes, limit)
	}
	// Resends of the latest ids are still recognised.
	last := perMinute*minutes - 1
	if res, err := e.log.Append(e.ctx, "c1", text("alice", fmt.Sprint("id-", last), "x")); err != nil || !res.Dup {
		t.Fatalf("resend of the newest id: %+v %v", res, err)
	}
}

// A message for a conversation that does not exist fails alone; the
// others of its group are stored.
func TestAppendToAMissingConversation(t *testing.T) {
	e := newDedupeEnv(t, time.Hour)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	wg.Add(3)
	for i, conv := range []string{"c1", "nope", "c2"} {
		if err := e.log.AppendAsync(conv, text("alice", "", "x"), func(err error) { errs[i] = err; wg.Done() }); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if errs[0] != nil || !errors.Is(errs[1], convlog.ErrNotFound) || errs[2] != nil {
		t.Fatalf("errors %v, want nil, ErrNotFound, nil", errs)
	}
	if host.StatusOf(errs[1]) != host.StatusNotFound {
		t.Fatalf("status of %v: %v", errs[1], host.StatusOf(errs[1]))
	}
	if _, _, err := e.log.Conv(e.ctx, "nope"); !errors.Is(err, convlog.ErrNotFound) {
		t.Fatalf("Conv of a missing conversation: %v", err)
	}
}

// Range returns exactly the messages after a seq, up to a limit, from
// anywhere in a conversation (across the marks every 64 messages).
func TestRange(t *testing.T) {
	e := newDedupeEnv(t, time.Hour)
	const n = 300
	for i := 1; i <= n; i++ {
		conv := "c1"
		if i%3 == 0 {
			conv = "c2" // interleaved in the one log
		}
		if _, err := e.log.Append(e.ctx, conv, text("alice", "", fmt.Sprint(conv, "-", i))); err != nil {
			t.Fatal(err)
		}
	}
	_, last, _ := e.log.Conv(e.ctx, "c1")
	for _, tc := range []struct {
		after uint64
		limit int
	}{{0, 10}, {0, 1000}, {63, 2}, {64, 64}, {last - 1, 5}, {last, 5}, {last + 10, 5}, {5, 0}} {
		t.Run(fmt.Sprint(tc.after, "+", tc.limit), func(t *testing.T) {
			msgs, err := e.log.Range(e.ctx, "c1", tc.after, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if tc.after < last {
				want = min(tc.limit, int(last-tc.after))
			}
			if len(msgs) != want {
				t.Fatalf("%d messages, want %d", len(msgs), want)
			}
			for i, m := range msgs {
				if m.Seq != tc.after+uint64(i)+1 || m.From.ID != "alice" {
					t.Fatalf("message %d: seq %d from %q", i, m.Seq, m.From.ID)
				}
			}
		})
	}
}

// Many resends of one message racing each other (a client retrying on
// several connections) store it once: exactly one append is new, every
// other one is a Dup of its seq.
func TestRacingResendsStoreOnce(t *testing.T) {
	e := newDedupeEnv(t, time.Hour)
	const senders = 16
	res := make([]convlog.Appended, senders)
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			r, err := e.log.Append(e.ctx, "c1", text("alice", "same", "hello"))
			if err != nil {
				t.Error(err)
			}
			res[i] = r
		})
	}
	wg.Wait()
	fresh := 0
	for _, r := range res {
		if !r.Dup {
			fresh++
		}
		if r.Seq != 1 {
			t.Fatalf("results %+v: every one should name seq 1", res)
		}
	}
	if _, last, _ := e.log.Conv(e.ctx, "c1"); fresh != 1 || last != 1 {
		t.Fatalf("%d stored as new, newest seq %d; want exactly one", fresh, last)
	}
}
