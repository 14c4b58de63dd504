package whatsapp_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
)

// clock is a settable time for retention tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openStore opens the store in path; the returned func closes it and its
// database, as a server stopping does.
func openStore(t *testing.T, path string, cfg whatsapp.StoreConfig) (*whatsapp.Store, func()) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s, err := whatsapp.OpenStore(db, cfg)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { s.Close(); db.Close() }) }
	t.Cleanup(stop)
	return s, stop
}

func inbox(t *testing.T, s *whatsapp.Store) []whatsapp.Entry {
	t.Helper()
	es, err := s.Inbox(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// A webhook Meta delivers three times, with a restart between deliveries,
// makes one event.
func TestDeliveredThreeTimesAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passerelle.db")
	body := readFile(t, "batch.json")
	sig := metasim.Sign([]byte(secret), body)
	for delivery := 1; delivery <= 3; delivery++ {
		s, stop := openStore(t, path, whatsapp.StoreConfig{})
		if w := post(newWebhook(t, s, 0), body, sig); w.Code != 200 {
			t.Fatalf("delivery %d: %d %s", delivery, w.Code, w.Body)
		}
		es := inbox(t, s)
		if len(es) != 3 {
			t.Fatalf("delivery %d: inbox holds %d events, want the batch's 3 once", delivery, len(es))
		}
		stop()
	}
	s, _ := openStore(t, path, whatsapp.StoreConfig{})
	es := inbox(t, s)
	want := []string{"msg:wamid.A", "msg:wamid.B", "status:wamid.C:read"}
	for i, e := range es {
		if e.Event.Key != want[i] || e.Seq != uint64(i+1) {
			t.Errorf("entry %d = seq %d key %q, want seq %d key %q", i, e.Seq, e.Event.Key, i+1, want[i])
		}
	}
	if es[0].Event.Text != "one" || es[1].Event.Raw != "sticker" || es[2].Event.Status != whatsapp.StatusRead {
		t.Errorf("events not kept whole: %+v", es)
	}
}

func TestStoreRetention(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "passerelle.db")
	s, stop := openStore(t, path, whatsapp.StoreConfig{Retention: 48 * time.Hour, Now: clk.Now})
	ev := whatsapp.Event{Key: "msg:wamid.R", Kind: whatsapp.KindText, Text: "hi"}
	steps := []struct {
		advance time.Duration
		dup     bool
	}{
		{0, false},
		{47 * time.Hour, true}, // Meta's redelivery within the retention
		{0, true},
		{2 * time.Hour, false}, // 49h after the first record: forgotten
		{1 * time.Hour, true},  // and remembered again from its new record
	}
	for i, st := range steps {
		clk.Add(st.advance)
		dup, err := s.Record(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if dup != st.dup {
			t.Fatalf("step %d: duplicate = %v, want %v", i, dup, st.dup)
		}
	}
	// Expire forgets everything older than the retention, durably.
	clk.Add(72 * time.Hour)
	if err := s.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	s, _ = openStore(t, path, whatsapp.StoreConfig{Retention: 10000 * time.Hour, Now: clk.Now})
	if seen, err := s.Seen(ctx, ev.Key); err != nil || seen {
		t.Fatalf("Seen after Expire and a longer retention = %v, %v; want the key gone from the disk", seen, err)
	}
}

func TestStoreForgetsAsItRecords(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "p.db")
	s, stop := openStore(t, path, whatsapp.StoreConfig{Retention: time.Hour, Now: clk.Now})
	const n = 20
	for i := range n {
		if _, err := s.Record(ctx, whatsapp.Event{Key: fmt.Sprintf("msg:old%d", i), Kind: whatsapp.KindText}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(2 * time.Hour)
	// Each record forgets a few expired keys: n/8+1 records forget them
	// all, without Expire. Seen must not find them even under a long
	// retention, after a restart.
	for i := range n/8 + 1 {
		if _, err := s.Record(ctx, whatsapp.Event{Key: fmt.Sprintf("msg:new%d", i), Kind: whatsapp.KindText}); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	s, _ = openStore(t, path, whatsapp.StoreConfig{Retention: 10000 * time.Hour, Now: clk.Now})
	for i := range n {
		if seen, _ := s.Seen(ctx, fmt.Sprintf("msg:old%d", i)); seen {
			t.Fatalf("msg:old%d still remembered", i)
		}
	}
}

func TestInboxDone(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t, filepath.Join(t.TempDir(), "p.db"), whatsapp.StoreConfig{})
	for i := range 5 {
		if _, err := s.Record(ctx, whatsapp.Event{Key: fmt.Sprintf("msg:%d", i), Kind: whatsapp.KindText}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.Inbox(ctx, 0, 2)
	if err != nil || len(page) != 2 || page[1].Seq != 2 {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	if err := s.Done(ctx, page[1].Seq); err != nil {
		t.Fatal(err)
	}
	rest := inbox(t, s)
	if len(rest) != 3 || rest[0].Seq != 3 || rest[0].Event.Key != "msg:2" {
		t.Fatalf("after Done(2): %+v", rest)
	}
	// Handled events stay deduplicated.
	if dup, _ := s.Record(ctx, whatsapp.Event{Key: "msg:0", Kind: whatsapp.KindText}); !dup {
		t.Fatal("an event removed from the inbox was recorded again")
	}
	if _, err := s.Record(ctx, whatsapp.Event{Kind: whatsapp.KindText}); err == nil {
		t.Fatal("an event without a key was recorded")
	}
}

// Meta may redeliver while the first delivery is still being handled:
// concurrent deliveries of one notification record its events once.
func TestConcurrentRedeliveries(t *testing.T) {
	s, _ := openStore(t, filepath.Join(t.TempDir(), "p.db"), whatsapp.StoreConfig{})
	h := newWebhook(t, s, 0)
	body := readFile(t, "batch.json")
	sig := metasim.Sign([]byte(secret), body)
	var wg sync.WaitGroup
	codes := make([]int, 16)
	for i := range codes {
		wg.Go(func() { codes[i] = post(h, body, sig).Code })
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("delivery %d: %d", i, c)
		}
	}
	if n := len(inbox(t, s)); n != 3 {
		t.Fatalf("inbox holds %d events, want 3", n)
	}
}

// A clock that reads less than the retention since the epoch forgets
// nothing (the cut-off would be negative).
func TestStoreEarlyClock(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.UnixMilli(1000)}
	s, _ := openStore(t, filepath.Join(t.TempDir(), "p.db"), whatsapp.StoreConfig{Now: clk.Now})
	ev := whatsapp.Event{Key: "msg:early", Kind: whatsapp.KindText}
	for i, want := range []bool{false, true} {
		if dup, err := s.Record(ctx, ev); err != nil || dup != want {
			t.Fatalf("record %d: duplicate %v, %v; want %v", i, dup, err, want)
		}
	}
	if err := s.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	if seen, _ := s.Seen(ctx, ev.Key); !seen {
		t.Fatal("Expire forgot a key recorded now")
	}
}
