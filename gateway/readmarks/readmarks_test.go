package readmarks_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/readmarks"
)

func open(t *testing.T) (*bbolt.DB, *readmarks.Store) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "m.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st, err := readmarks.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(); db.Close() })
	return db, st
}

func TestMarkersOnlyMoveForward(t *testing.T) {
	_, st := open(t)
	ctx := context.Background()
	steps := []struct {
		state string
		seq   uint64
		want  string
		moved bool
	}{
		{readmarks.Delivered, 5, "5/0", true},
		{readmarks.Read, 3, "5/3", true},
		{readmarks.Delivered, 4, "5/3", false},
		{readmarks.Read, 2, "5/3", false},
		{readmarks.Read, 7, "7/7", true},
		{readmarks.Read, 7, "7/7", false},
	}
	for i, s := range steps {
		t.Run(fmt.Sprintf("%d %s %d", i, s.state, s.seq), func(t *testing.T) {
			m, moved, err := st.Set(ctx, "c1", "bob", s.state, s.seq)
			if got := fmt.Sprintf("%d/%d", m.Delivered, m.Read); err != nil || got != s.want || moved != s.moved || m.Person != "bob" {
				t.Fatalf("Set = %s moved %v, %v; want %s moved %v", got, moved, err, s.want, s.moved)
			}
		})
	}
	if _, _, err := st.Set(ctx, "c1", "bob", "seen", 1); err == nil {
		t.Fatal("an unknown state was accepted")
	}
}

func TestOfListsEachConversationsMarkers(t *testing.T) {
	_, st := open(t)
	ctx := context.Background()
	for _, s := range []struct{ conv, person string }{{"c1", "alice"}, {"c1", "bob"}, {"c10", "carol"}, {"c2", "bob"}} {
		if _, _, err := st.Set(ctx, s.conv, s.person, readmarks.Read, 1); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Of(ctx, []string{"c1", "c10", "c3"})
	if err != nil {
		t.Fatal(err)
	}
	// c1's prefix must not take c10's markers.
	if s := fmt.Sprint(got); s != "map[c1:[{alice 1 1} {bob 1 1}] c10:[{carol 1 1}]]" {
		t.Fatalf("Of = %s", s)
	}
}

func TestClosedStoreRefusesWrites(t *testing.T) {
	_, st := open(t)
	st.Close()
	if _, _, err := st.Set(context.Background(), "c1", "bob", readmarks.Read, 1); !errors.Is(err, readmarks.ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
}
