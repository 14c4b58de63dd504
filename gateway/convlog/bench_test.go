package convlog_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/convlog"
)

// BenchmarkCommitManyConversations measures appending a message to each of
// 1000 conversations that already have 100 messages, all queued at once:
// the shape of a group commit under person-to-person load, client ids (and
// so the resend dedupe) included. It reports the pages written per op (with
// fdatasync, as in production).
func BenchmarkCommitManyConversations(b *testing.B) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "b.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	l, err := convlog.Open(db, convlog.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const convs = 1000
	ids := make([]string, convs)
	for i := range ids {
		ids[i] = fmt.Sprintf("d_%030d", i)
		if _, _, err := l.Ensure(b.Context(), convlog.Conv{ID: ids[i], Kind: "direct", Members: []string{"a", "b"}}); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	round := func() {
		var wg sync.WaitGroup
		wg.Add(convs)
		for _, id := range ids {
			n++
			m := &convlog.Message{Time: time.Now().UnixMilli(), From: convlog.Sender{Kind: "person", ID: "lg-1234", Name: "lg-1234"},
				Client: strconv.Itoa(n), Surface: "web"}
			m.Msg.Text = "1764070000000000000 0123456789012345678901234567890"
			if err := l.AppendAsync(id, m, func(err error) {
				if err != nil {
					b.Error(err)
				}
				wg.Done()
			}); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
	}
	for range 100 {
		round()
	}
	writes := func() int64 { st := db.Stats(); return st.TxStats.GetWrite() }
	before := writes()
	b.ResetTimer()
	for range b.N {
		round()
	}
	b.StopTimer()
	b.ReportMetric(float64(writes()-before)/float64(b.N), "pages/op")
	b.ReportMetric(float64(convs)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
