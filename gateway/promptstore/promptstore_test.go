package promptstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/promptstore"
	"github.com/passerelle/passerelle/host"
)

// A prompt is pending for its person until answered, pending prompts come
// oldest first, and all of it survives closing and opening the database.
func TestPendingUntilAnswered(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	open := func() (*bbolt.DB, *promptstore.Store) {
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s, err := promptstore.Open(db)
		if err != nil {
			t.Fatal(err)
		}
		return db, s
	}
	db, s := open()
	for _, p := range []promptstore.Prompt{
		{ID: "pay_2", Type: "payment", Person: "alice", Created: 2},
		{ID: "pay_1", Type: "payment", Person: "alice", Created: 1},
		{ID: "cons_1", Type: "consent", Person: "bob", Created: 3},
		{ID: "share_1", Type: "share", Person: "alice", Created: 4},
	} {
		if err := s.Put(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	p, err := s.Get(ctx, "share_1")
	if err != nil {
		t.Fatal(err)
	}
	p.Answer = "share"
	if err := s.Put(ctx, p); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Put(ctx, promptstore.Prompt{ID: "late", Person: "alice"}); !errors.Is(err, promptstore.ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	db.Close()

	db, s = open()
	defer db.Close()
	defer s.Close()
	tests := []struct {
		person string
		want   []string
	}{
		{"alice", []string{"pay_1", "pay_2"}},
		{"bob", []string{"cons_1"}},
		{"carol", nil},
	}
	for _, tc := range tests {
		t.Run(tc.person, func(t *testing.T) {
			got, err := s.Pending(ctx, tc.person)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, p := range got {
				ids = append(ids, p.ID)
			}
			if len(ids) != len(tc.want) || (len(ids) > 0 && ids[0] != tc.want[0]) || (len(ids) > 1 && ids[1] != tc.want[1]) {
				t.Fatalf("pending %v, want %v", ids, tc.want)
			}
		})
	}
	if p, err := s.Get(ctx, "share_1"); err != nil || p.Answer != "share" {
		t.Fatalf("answered prompt: %+v %v", p, err)
	}
	_, err = s.Get(ctx, "nope")
	if !errors.Is(err, promptstore.ErrNotFound) || host.StatusOf(err) != host.StatusNotFound {
		t.Fatalf("Get of a missing prompt: %v", err)
	}
}
