package convlog_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
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

// BenchmarkStagedAppend compares the append an event's transaction makes
// (AppendTx, inside a transaction of the caller) with the log's own
// group-committed Append, for 64 callers at once, each in a conversation
// of its own (fdatasync on, as in production): "Append" is the log's group
// commit; "AppendTx-grouped" is AppendTx inside transactions that a
// bolt.Committer shares among callers, as the runtime commits events;
// "AppendTx-alone" is AppendTx in a db.Update of its own per message.
func BenchmarkStagedAppend(b *testing.B) {
	for _, mode := range []string{"Append", "AppendTx-grouped", "AppendTx-alone"} {
		b.Run(mode, func(b *testing.B) {
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
			commit := bolt.NewCommitter(db, bolt.Config{})
			defer commit.Close()
			const callers = 64
			for i := range callers {
				if _, _, err := l.Ensure(b.Context(), convlog.Conv{ID: fmt.Sprint("a_", i), Kind: "app", Members: []string{"p"}}); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			b.SetParallelism(callers / runtime.GOMAXPROCS(0))
			writes := func() int64 { st := db.Stats(); return st.TxStats.GetWrite() }
			before := writes()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				conv := fmt.Sprint("a_", next.Add(1)%callers)
				for pb.Next() {
					m := &convlog.Message{Time: 1764070000000, From: convlog.Sender{Kind: "app", ID: "echo", Name: "echo"}, ID: "msg_0123456789abcdef"}
					m.Msg.Text = "echo: 1764070000000000000 0123456789012345678901234567890"
					var err error
					switch mode {
					case "Append":
						_, err = l.Append(b.Context(), conv, m)
					case "AppendTx-grouped":
						err = commit.Do(func(tx *bbolt.Tx) error { _, err := l.AppendTx(tx, conv, m); return err })
					default:
						err = db.Update(func(tx *bbolt.Tx) error { _, err := l.AppendTx(tx, conv, m); return err })
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(writes()-before)/float64(b.N), "pages/op")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
