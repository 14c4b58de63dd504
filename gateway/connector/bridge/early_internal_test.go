package bridge

import (
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"
)

// TestEarlyStatusKeptUntilTheSend: a status that overtakes the answer to
// its send is kept, the most advanced one wins, and it is taken once.
func TestEarlyStatusKeptUntilTheSend(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "b.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketEarly); err != nil {
			return err
		}
		for _, st := range []string{StateDelivered, StateRead, StateSent} {
			if err := park(tx, "whatsapp", "155", "wamid.1", st, nil, 1); err != nil {
				return err
			}
		}
		es, err := unpark(tx, "whatsapp", "wamid.1")
		if err != nil {
			return err
		}
		if es == nil || es.State != StateRead || es.To != "155" {
			t.Fatalf("unpark = %+v, want the read status", es)
		}
		if again, err := unpark(tx, "whatsapp", "wamid.1"); err != nil || again != nil {
			t.Fatalf("unpark again = %+v, %v; want nothing", again, err)
		}
		if other, err := unpark(tx, "whatsapp", "wamid.2"); err != nil || other != nil {
			t.Fatalf("unpark of another id = %+v, %v", other, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
