package consent_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host/consent"
)

// BenchmarkCheck measures the check every business message passes, on a
// durable bbolt file (an fsync per commit) holding 10,000 people's consent
// for the business:
//
//   - window: a reply inside the service window, the common case (one read
//     transaction, nothing written);
//   - opted_out: a refusal after STOP (one read transaction);
//   - opt_in: a business-initiated message under a standing opt-in (a write
//     transaction with the send's record, the rate counters and an fsync);
//   - again: a message checked again by its id (a retry, a broadcast
//     resumed after a restart): the first decision read back, nothing
//     written;
//   - opt_in-parallel: the same from 16 goroutines, whose commits are grouped.
func BenchmarkCheck(b *testing.B) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "bench.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	svc, err := consent.Open(db, consent.Config{Limits: consent.Limits{PerPersonDay: -1, PerBusinessSecond: -1}, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	const people = 10000
	db.NoSync = true // filling the store need not wait for the disk
	for i := range people {
		p := fmt.Sprintf("p_%05d", i)
		if err := svc.Touch(ctx, p, "shop", now); err != nil {
			b.Fatal(err)
		}
		if _, err := svc.OptIn(ctx, consent.Grant{Person: p, Business: "shop", Purpose: "updates", Prompt: consent.OptInPrompt("Shop", "updates")}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := svc.Inbound(ctx, consent.Inbound{Person: "p_00000", Business: "shop", Text: "STOP"}); err != nil {
		b.Fatal(err)
	}
	db.NoSync = false
	msg := consent.Message{Person: "p_04321", Business: "shop", App: "store", Surface: "web", Conversation: "cv_1"}

	b.Run("window", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.Check(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("opted_out", func(b *testing.B) {
		m := msg
		m.Person = "p_00000"
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.Check(ctx, m); err == nil {
				b.Fatal("allowed after STOP")
			}
		}
	})
	// Outside the window from here on.
	now = now.Add(48 * time.Hour)
	m := msg
	m.Purpose = "updates"
	b.Run("opt_in", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.Check(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("again", func(b *testing.B) {
		m := m
		m.ID = "msg_again"
		if _, err := svc.Check(ctx, m); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if d, err := svc.Check(ctx, m); err != nil || !d.Again {
				b.Fatal(d, err)
			}
		}
	})
	b.Run("opt_in-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for i := 1; pb.Next(); i++ {
				m := m
				m.Person = fmt.Sprintf("p_%05d", 1+i%(people-1))
				if _, err := svc.Check(ctx, m); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkParseKeyword(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if consent.ParseKeyword(" see you tomorrow ") != consent.KeywordNone || consent.ParseKeyword("stop") != consent.KeywordStop {
			b.Fatal("wrong keyword")
		}
	}
}
