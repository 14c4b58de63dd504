package bolt_test

import (
	"encoding/binary"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
)

// BenchmarkRoundTripTwoStores is the shape of a person's round trip with a
// mini-app, on one database synced at every commit: two stores, each with
// its own Committer (the gateway's log, the runtime's event commits), and
// 64 people at once, each writing through the first store and then, once
// that is committed, through the second (the message, then the event's
// effects). commits/op is write transactions per round trip.
//
//	go test -run '^$' -bench RoundTripTwoStores -benchtime 4000x -count 3 ./bolt/
func BenchmarkRoundTripTwoStores(b *testing.B) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "b.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	names := [][]byte{[]byte("log"), []byte("events")}
	if err := bolt.CreateBuckets(db, names...); err != nil {
		b.Fatal(err)
	}
	stores := []*bolt.Committer{bolt.NewCommitter(db, bolt.Config{}), bolt.NewCommitter(db, bolt.Config{})}
	var next atomic.Uint64
	var first, last atomic.Int64
	first.Store(-1)
	write := func(store int, k uint64) func(tx *bbolt.Tx) error {
		return func(tx *bbolt.Tx) error {
			first.CompareAndSwap(-1, int64(tx.ID()))
			last.Store(int64(tx.ID()))
			return tx.Bucket(names[store]).Put(binary.BigEndian.AppendUint64(nil, k), make([]byte, 100))
		}
	}
	b.SetParallelism(32) // 64 on 2 CPUs
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := next.Add(1)
			for store, c := range stores {
				if err := c.Do(write(store, k)); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
	b.ReportMetric(float64(last.Load()-first.Load()+1)/float64(b.N), "commits/op")
}
