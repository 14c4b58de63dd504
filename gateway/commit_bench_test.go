package gateway

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// BenchmarkCommitManyConversations measures one commit of a message in each
// of 1000 conversations that already have 100 messages: the shape of a
// group commit under person-to-person load. It reports the pages written
// per commit (with fdatasync, as in production).
func BenchmarkCommitManyConversations(b *testing.B) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "b.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	st, err := newStore(db)
	if err != nil {
		b.Fatal(err)
	}
	defer st.stop()
	const convs = 1000
	batch := make([]*appendReq, convs)
	for i := range batch {
		conv := fmt.Sprintf("d_%030d", i)
		err := db.Update(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketConvs).Put([]byte(conv), []byte(`{"id":"`+conv+`","kind":"direct","members":["a","b"]}`))
		})
		if err != nil {
			b.Fatal(err)
		}
		m := &msgRecord{Time: time.Now().UnixMilli(), From: sender{Kind: "person", ID: "lg-1234", Name: "lg-1234"},
			Client: "12345", Surface: "web"}
		m.Msg.Text = "1764070000000000000 0123456789012345678901234567890"
		rec, _ := encodeRecord(m)
		batch[i] = &appendReq{conv: conv, rec: rec}
	}
	commit := func() {
		st.commits.commit(batch)
		for _, r := range batch {
			if r.err != nil {
				b.Fatal(r.err)
			}
		}
	}
	for range 100 {
		commit()
	}
	writes := func() int64 { st := db.Stats(); return st.TxStats.GetWrite() }
	before := writes()
	b.ResetTimer()
	for range b.N {
		commit()
	}
	b.StopTimer()
	b.ReportMetric(float64(writes()-before)/float64(b.N), "pages/commit")
	b.ReportMetric(float64(convs)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
