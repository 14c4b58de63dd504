package msgstate_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/msgstate"
)

// BenchmarkRecordTx is the cost of recording one move of a message's
// state (its record and its figures) inside a transaction that commits
// 100 of them, as a busy connector's group commit does; the baseline
// writes the same message record alone. Every message moves sent, then
// delivered, then read.
func BenchmarkRecordTx(b *testing.B) {
	states := []string{"sent", "delivered", "read"}
	b.Run("record", func(b *testing.B) {
		s, db := openBench(b)
		b.ResetTimer()
		for i := 0; i < b.N; i += 100 {
			err := db.Update(func(tx *bbolt.Tx) error {
				for j := i; j < min(i+100, b.N); j++ {
					mv := msgstate.Move{Message: fmt.Sprintf("msg_%d", j/3), App: "lunch", Conversation: "cv_1",
						Surface: "whatsapp", State: states[j%3], At: time.Now()}
					if _, err := s.RecordTx(tx, mv); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-put", func(b *testing.B) {
		_, db := openBench(b)
		if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("plain")); return err }); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i += 100 {
			err := db.Update(func(tx *bbolt.Tx) error {
				bk := tx.Bucket([]byte("plain"))
				for j := i; j < min(i+100, b.N); j++ {
					m := msgstate.Message{ID: fmt.Sprintf("msg_%d", j/3), App: "lunch", Conversation: "cv_1", Surface: "whatsapp",
						State: states[j%3], History: []msgstate.Entry{{State: states[j%3], At: time.Now()}}}
					v, _ := json.Marshal(m)
					if err := bk.Put([]byte(m.ID), v); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

func openBench(b *testing.B) (*msgstate.Store, *bbolt.DB) {
	db, err := bbolt.Open(b.TempDir()+"/s.db", 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	s, err := msgstate.Open(db)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s, db
}
