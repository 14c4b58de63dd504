package replay_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/replay"
)

func openStore(t *testing.T, retention time.Duration, now *time.Time) *replay.Store {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "r.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := replay.Open(db, replay.Config{Retention: retention, Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rec(app, id, person string, at time.Time, calls ...replay.Call) *replay.Record {
	return &replay.Record{Merchant: "m1", App: app, Version: "1", Event: id, Type: "message", Person: person,
		Conversation: "c-" + person, Clock: at, Seed: 7, Payload: json.RawMessage(`{}`), Calls: calls}
}

// Events older than the retention are removed, with their person index.
func TestExpire(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	s := openStore(t, time.Hour, &now)
	for i, at := range []time.Time{t0.Add(-3 * time.Hour), t0.Add(-90 * time.Minute), t0.Add(-time.Minute), t0} {
		if err := s.Put(rec("a", string(rune('a'+i)), "p1", at)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Expire()
	if err != nil || n != 2 {
		t.Fatalf("Expire: %d, %v", n, err)
	}
	recs, _ := s.Events("m1", "a", replay.Query{})
	if len(recs) != 2 || recs[0].Event != "c" || recs[1].Event != "d" {
		t.Fatalf("kept %+v", recs)
	}
	if n, err := s.Forget("p1"); err != nil || n != 2 {
		t.Fatalf("Forget after Expire: %d, %v", n, err)
	}
	now = t0.Add(2 * time.Hour)
	if n, _ := s.Expire(); n != 0 {
		t.Fatalf("expired %d of nothing", n)
	}
}

// Queries by time range, session and last N.
func TestEventsQuery(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	s := openStore(t, 24*time.Hour, &now)
	for i := range 6 {
		person := []string{"p1", "p2"}[i%2]
		if err := s.Put(rec("a", string(rune('a'+i)), person, t0.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(q replay.Query) string {
		recs, err := s.Events("m1", "a", q)
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, r := range recs {
			out += r.Event
		}
		return out
	}
	for _, c := range []struct {
		q    replay.Query
		want string
	}{
		{replay.Query{}, "abcdef"},
		{replay.Query{Last: 2}, "ef"},
		{replay.Query{Session: "c-p1"}, "ace"},
		{replay.Query{Session: "c-p2", Last: 2}, "df"},
		{replay.Query{From: t0.Add(time.Minute), To: t0.Add(4 * time.Minute)}, "bcd"},
		{replay.Query{From: t0.Add(time.Minute), To: t0.Add(4 * time.Minute), Last: 2}, "cd"},
	} {
		if got := ids(c.q); got != c.want {
			t.Errorf("%+v: %q, want %q", c.q, got, c.want)
		}
	}
	if recs, err := s.Events("m2", "a", replay.Query{}); err != nil || len(recs) != 0 {
		t.Fatalf("another merchant sees %d records, %v", len(recs), err)
	}
}

// A withdrawn profile grant blanks the profile answers of that person's
// events of that app, and nothing else.
func TestRedactProfile(t *testing.T) {
	now := time.Now()
	s := openStore(t, 24*time.Hour, &now)
	profile := replay.Call{Op: replay.ProfileOp, Request: json.RawMessage(`{}`), Response: json.RawMessage(`{"name":"Ann"}`)}
	send := replay.Call{Op: "chat.send", Request: json.RawMessage(`{"text":"hi Ann"}`), Response: json.RawMessage(`{"id":"m1"}`)}
	for _, r := range []*replay.Record{rec("a", "1", "p1", now, profile, send), rec("b", "2", "p1", now, profile), rec("a", "3", "p2", now, profile)} {
		if err := s.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.RedactProfile("p1", "m1", "a")
	if err != nil || n != 1 {
		t.Fatalf("RedactProfile: %d, %v", n, err)
	}
	a, _ := s.Events("m1", "a", replay.Query{})
	b, _ := s.Events("m1", "b", replay.Query{})
	if string(a[0].Calls[0].Response) != `{"redacted":true}` || !a[0].Redacted || a[0].Calls[0].Status != host.StatusOK {
		t.Fatalf("p1's event of a: %+v", a[0])
	}
	if string(a[1].Calls[0].Response) != `{"name":"Ann"}` || string(b[0].Calls[0].Response) != `{"name":"Ann"}` {
		t.Fatalf("other events changed: %s %s", a[1].Calls[0].Response, b[0].Calls[0].Response)
	}
}
