package connstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/passerelle/passerelle/gateway/connector/connstore"
)

// BenchmarkGet measures what the webhook route pays per request to read
// a connection: Get (the record read and its three secrets opened with
// AES-256-GCM) against the baseline Info (the same record read, nothing
// opened).
func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	db := openDB(b, filepath.Join(b.TempDir(), "p.db"))
	defer db.Close()
	s := open(b, db, connstore.Config{Keys: keyring(b, connstore.GenerateKey())})
	info, _, err := s.Connect(ctx, waConn("m1", "106540352242922", "EAAGtoken"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline=Info", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Info(ctx, info.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Get(ctx, info.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}
