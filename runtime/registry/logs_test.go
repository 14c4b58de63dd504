package registry_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/registry"
)

func TestLogRing(t *testing.T) {
	db := openDB(t)
	r := open(t, db, registry.Options{LogRing: 5})
	ref := host.AppRef{Merchant: "m", App: "app", Version: "1"}
	_, changed := r.Logs("app", 0, 0)
	for i := 1; i <= 8; i++ {
		r.AppendLog(ref, registry.LogRecord{Source: "log", Message: fmt.Sprint("line ", i)})
	}
	select {
	case <-changed:
	default:
		t.Fatal("follower not woken")
	}
	tests := []struct {
		name         string
		after        uint64
		limit        int
		first, count int
	}{
		{"all kept", 0, 0, 4, 5},
		{"after 6", 6, 0, 7, 2},
		{"limit keeps newest", 0, 2, 7, 2},
		{"nothing newer", 8, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, _ := r.Logs("app", tt.after, tt.limit)
			if len(recs) != tt.count {
				t.Fatalf("got %d records, want %d", len(recs), tt.count)
			}
			if tt.count > 0 && (recs[0].Seq != uint64(tt.first) || recs[0].Message != fmt.Sprint("line ", tt.first) || recs[0].Version != "1") {
				t.Fatalf("first = %+v", recs[0])
			}
		})
	}
	// Long messages are cut.
	r.AppendLog(ref, registry.LogRecord{Message: string(make([]byte, 10000))})
	recs, _ := r.Logs("app", 8, 0)
	if len(recs) != 1 || len(recs[0].Message) > 4200 {
		t.Fatalf("long message kept %d bytes", len(recs[0].Message))
	}
	// Persisted and reloaded.
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	r2 := open(t, db, registry.Options{LogRing: 5})
	recs, _ = r2.Logs("app", 0, 0)
	if len(recs) != 5 || recs[4].Seq != 9 {
		t.Fatalf("after reopen: %d records, last %+v", len(recs), recs[len(recs)-1])
	}
	r2.AppendLog(ref, registry.LogRecord{Message: "after"})
	recs, _ = r2.Logs("app", 9, 0)
	if len(recs) != 1 || recs[0].Seq != 10 {
		t.Fatalf("seq after reopen: %+v", recs)
	}
}

func TestStats(t *testing.T) {
	db := openDB(t)
	r := open(t, db, registry.Options{})
	ref := host.AppRef{Merchant: "m", App: "app", Version: "1"}
	for i := range 100 {
		d := time.Millisecond
		if i == 99 {
			d = time.Second
		}
		fail := ""
		if i%10 == 0 {
			fail = "deadline"
		}
		r.Record(ref, d, fail)
	}
	r.Record(host.AppRef{App: "app", Version: "2"}, 5*time.Millisecond, "")
	r.Record(host.AppRef{App: "other", Version: "1"}, 5*time.Millisecond, "")
	check := func(t *testing.T, r *registry.Registry) {
		st := r.Stats("app")
		if len(st) != 2 || st[0].Version != "1" || st[1].Version != "2" {
			t.Fatalf("stats = %+v", st)
		}
		s := st[0]
		if s.Events != 100 || s.Errors != 10 || s.Failures["deadline"] != 10 {
			t.Fatalf("counts = %+v", s)
		}
		// Percentiles are bucket upper bounds: at most 20% above.
		if s.P50 < time.Millisecond || s.P50 > 1200*time.Microsecond {
			t.Fatalf("p50 = %v", s.P50)
		}
		if s.P99 < time.Millisecond || s.P99 > 1200*time.Microsecond {
			t.Fatalf("p99 = %v (99 of 100 events took 1ms)", s.P99)
		}
	}
	check(t, r)
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	check(t, open(t, db, registry.Options{}))
}

// TestFlushEveryAndClose checks the registry's own flusher: records reach
// the database while it runs, and Close stops it and writes the rest.
func TestFlushEveryAndClose(t *testing.T) {
	db := openDB(t)
	r, err := registry.Open(db, registry.Options{FlushEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ref := host.AppRef{Merchant: "m", App: "app", Version: "1"}
	r.AppendLog(ref, registry.LogRecord{Message: "while running"})
	for i := 0; ; i++ {
		recs, _ := open(t, db, registry.Options{}).Logs("app", 0, 0)
		if len(recs) == 1 {
			break
		}
		if i > 5000 {
			t.Fatal("the flusher never wrote the record")
		}
		time.Sleep(time.Millisecond)
	}
	r.AppendLog(ref, registry.LogRecord{Message: "before close"})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if recs, _ := open(t, db, registry.Options{}).Logs("app", 0, 0); len(recs) != 2 || recs[1].Message != "before close" {
		t.Fatalf("after Close: %+v", recs)
	}
}
