package broadcast_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host/broadcast"
	"github.com/passerelle/passerelle/host/consent"
)

// BenchmarkStep measures one person of a broadcast on a durable bbolt file
// (an fsync per commit) holding 10,000 people opted in: the consent check
// with its send record, the message stored by the test's inbox (a bbolt
// write standing in for the gateway's log) and the outcome. One op is one
// person; the rate limits are off.
func BenchmarkStep(b *testing.B) {
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
	box := &inbox{db: db}
	eng, err := broadcast.Open(db, broadcast.Config{Consent: svc, Sender: box, Pseudonyms: ids{}, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	const people = 10000
	db.NoSync = true
	for i := range people {
		if _, err := svc.OptIn(ctx, consent.Grant{Person: fmt.Sprintf("p%05d", i), Business: "shop", App: "shop", Purpose: "news",
			Conversation: fmt.Sprintf("a-shop-p%05d", i), Prompt: consent.OptInPrompt("Shop", "news")}); err != nil {
			b.Fatal(err)
		}
	}
	db.NoSync = false
	n, id := 0, ""
	b.ReportAllocs()
	for b.Loop() {
		if id == "" {
			n++
			id = fmt.Sprint("b", n)
			b.StopTimer()
			if _, _, err := eng.Create(ctx, "shop", broadcast.Request{ID: id, App: "shop", Purpose: "news", Message: text("New in")}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		st, _, err := eng.Step(ctx, "shop", id)
		if err != nil {
			b.Fatal(err)
		}
		if st.State == broadcast.StateDone {
			id = ""
		}
	}
}
