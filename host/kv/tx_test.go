package kv_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/kv"
)

// txClient is a client whose calls run inside one event's transaction.
func txClient(t testing.TB, s *kv.Store, ref host.AppRef, person string) *client {
	cl := newClient(t, s, ref, person)
	cl.c.Tx = &host.Tx{}
	return cl
}

// commit applies the client's staged effects in one store transaction, as
// the runtime does, and starts a new transaction for its next calls.
func (cl *client) commit(db *bbolt.DB) error {
	tx := cl.c.Tx
	cl.c.Tx = &host.Tx{}
	return db.Update(tx.Apply)
}

func openWithDB(t testing.TB, lim kv.Limits) (*kv.Store, *bbolt.DB) {
	db := openDB(t)
	s, err := kv.Open(db, kv.Config{Pseudonyms: ids{}, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

func value(t testing.TB, s *kv.Store, ns kv.Namespace, key string) (string, bool) {
	t.Helper()
	v, err := s.Get(context.Background(), ns, key)
	if errors.Is(err, kv.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(v.Data), true
}

// Inside an event the app reads its own writes and deletes; the store sees
// none of them until the commit, and all of them after.
func TestTxReadYourWrites(t *testing.T) {
	s, db := openWithDB(t, kv.Limits{})
	ns := kv.AppNamespace(shop)
	ctx := context.Background()
	if err := s.Set(ctx, ns, "old", kv.Value{Data: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	cl := txClient(t, s, shop, "alice")
	steps := []struct {
		op   string
		req  map[string]any
		want host.Status
		resp map[string]any
	}{
		{"kv.set", map[string]any{"key": "cart", "value": "shirt"}, host.StatusOK, map[string]any{}},
		{"kv.get", map[string]any{"key": "cart"}, host.StatusOK, map[string]any{"value": "shirt"}},
		{"kv.set", map[string]any{"key": "cart", "value": "shirt,hat"}, host.StatusOK, map[string]any{}},
		{"kv.get", map[string]any{"key": "cart"}, host.StatusOK, map[string]any{"value": "shirt,hat"}},
		{"kv.delete", map[string]any{"key": "old"}, host.StatusOK, map[string]any{"deleted": true}},
		{"kv.get", map[string]any{"key": "old"}, host.StatusNotFound, nil},
		{"kv.delete", map[string]any{"key": "old"}, host.StatusOK, map[string]any{"deleted": false}},
		{"kv.list", map[string]any{}, host.StatusOK, map[string]any{"keys": []any{"cart"}}},
		{"kv.set", map[string]any{"key": "mine", "scope": "person", "value": "x"}, host.StatusOK, map[string]any{}},
		{"kv.get", map[string]any{"key": "mine", "scope": "person"}, host.StatusOK, map[string]any{"value": "x"}},
	}
	for i, st := range steps {
		resp, status := cl.do(st.op, st.req)
		if status != st.want || st.resp != nil && !reflect.DeepEqual(resp, st.resp) {
			t.Fatalf("step %d %s %v: %v %v, want %v %v", i, st.op, st.req, status, resp, st.want, st.resp)
		}
	}
	if _, ok := value(t, s, ns, "cart"); ok {
		t.Fatal("a staged write reached the store before the commit")
	}
	if v, ok := value(t, s, ns, "old"); !ok || v != "1" {
		t.Fatal("a staged delete reached the store before the commit")
	}
	if err := cl.commit(db); err != nil {
		t.Fatal(err)
	}
	if v, _ := value(t, s, ns, "cart"); v != "shirt,hat" {
		t.Fatalf("cart after commit = %q", v)
	}
	if _, ok := value(t, s, ns, "old"); ok {
		t.Fatal("old survived its committed delete")
	}
	if n, _ := s.Usage(ctx, ns); n != int64(len("cart")+len("shirt,hat")+len("mine")+len("x")) {
		t.Fatalf("usage after commit = %d", n)
	}
}

// A transaction never applied leaves the store as it was.
func TestTxDropped(t *testing.T) {
	s, _ := openWithDB(t, kv.Limits{})
	cl := txClient(t, s, shop, "")
	cl.do("kv.set", map[string]any{"key": "k", "value": "v"})
	cl.c.Tx = nil // dropped
	if _, ok := value(t, s, kv.AppNamespace(shop), "k"); ok {
		t.Fatal("a dropped write reached the store")
	}
}

// What the event read, present or absent, and every range it listed, is
// checked in the commit: a change by another event meanwhile is a conflict
// and nothing of the event is written.
func TestTxConflicts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup map[string]string // stored before both events
		read  func(cl *client)  // what the first event reads
		other map[string]string // what the second event writes and commits first ("" deletes)
		want  bool              // conflict
	}{
		{"same key changed", map[string]string{"n": "1"}, get("n"), map[string]string{"n": "2"}, true},
		{"absent key created", nil, get("n"), map[string]string{"n": "1"}, true},
		{"key deleted", map[string]string{"n": "1"}, get("n"), map[string]string{"n": ""}, true},
		{"same value written", map[string]string{"n": "1"}, get("n"), map[string]string{"n": "1"}, false},
		{"other key changed", map[string]string{"n": "1"}, get("n"), map[string]string{"m": "1"}, false},
		{"list range grew", map[string]string{"a/1": "x"}, list("a/"), map[string]string{"a/2": "y"}, true},
		{"list range shrank", map[string]string{"a/1": "x"}, list("a/"), map[string]string{"a/1": ""}, true},
		{"list range value changed", map[string]string{"a/1": "x"}, list("a/"), map[string]string{"a/1": "z"}, false},
		{"outside list range", map[string]string{"a/1": "x"}, list("a/"), map[string]string{"b/1": "y"}, false},
		{"blind write", nil, func(*client) {}, map[string]string{"out": "1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, db := openWithDB(t, kv.Limits{})
			ns := kv.AppNamespace(shop)
			for k, v := range tc.setup {
				if err := s.Set(context.Background(), ns, k, kv.Value{Data: []byte(v)}); err != nil {
					t.Fatal(err)
				}
			}
			first := txClient(t, s, shop, "")
			tc.read(first)
			first.do("kv.set", map[string]any{"key": "out", "value": "first"})
			second := txClient(t, s, shop, "")
			for k, v := range tc.other {
				if v == "" {
					second.do("kv.delete", map[string]any{"key": k})
				} else {
					second.do("kv.set", map[string]any{"key": k, "value": v})
				}
			}
			if err := second.commit(db); err != nil {
				t.Fatal(err)
			}
			err := first.commit(db)
			if got := errors.Is(err, host.ErrTxConflict); got != tc.want {
				t.Fatalf("conflict = %v (%v), want %v", got, err, tc.want)
			}
			out, _ := value(t, s, ns, "out")
			if tc.want && out == "first" {
				t.Fatal("a conflicting event's write was kept")
			}
			if !tc.want && out != "first" {
				t.Fatalf("out = %q, want the first event's write", out)
			}
		})
	}
}

func get(key string) func(*client) {
	return func(cl *client) { cl.do("kv.get", map[string]any{"key": key}) }
}

func list(prefix string) func(*client) {
	return func(cl *client) { cl.do("kv.list", map[string]any{"prefix": prefix}) }
}

// kv.list inside an event merges the event's own writes and deletes with
// the store, in byte order, and pages the merged keys.
func TestTxList(t *testing.T) {
	s, _ := openWithDB(t, kv.Limits{})
	ns := kv.AppNamespace(shop)
	for _, k := range []string{"k1", "k3", "k5", "k7"} {
		if err := s.Set(context.Background(), ns, k, kv.Value{Data: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	cl := txClient(t, s, shop, "")
	cl.do("kv.set", map[string]any{"key": "k2", "value": "v"})
	cl.do("kv.set", map[string]any{"key": "k8", "value": "v"})
	cl.do("kv.delete", map[string]any{"key": "k5"})
	cl.do("kv.set", map[string]any{"key": "other", "value": "v"})
	var all []string
	cursor := ""
	for page := 0; page < 10; page++ {
		resp, st := cl.do("kv.list", map[string]any{"prefix": "k", "cursor": cursor, "limit": 2})
		if st != host.StatusOK {
			t.Fatal(st)
		}
		for _, k := range resp["keys"].([]any) {
			all = append(all, k.(string))
		}
		next, _ := resp["cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if want := []string{"k1", "k2", "k3", "k7", "k8"}; fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("listed %v, want %v", all, want)
	}
}

// The storage quota counts the event's own staged writes.
func TestTxQuota(t *testing.T) {
	s, db := openWithDB(t, kv.Limits{AppBytes: 20})
	cl := txClient(t, s, shop, "")
	if _, st := cl.do("kv.set", map[string]any{"key": "a", "value": "123456789"}); st != host.StatusOK {
		t.Fatal(st)
	}
	if _, st := cl.do("kv.set", map[string]any{"key": "b", "value": "123456789"}); st != host.StatusOK {
		t.Fatal(st)
	}
	if _, st := cl.do("kv.set", map[string]any{"key": "c", "value": "1"}); st != host.StatusQuota {
		t.Fatalf("third write: %v, want quota_exceeded", st)
	}
	// Another event filled the store meanwhile: the commit checks again.
	other := txClient(t, s, shop, "")
	other.do("kv.set", map[string]any{"key": "z", "value": "1234"})
	if err := other.commit(db); err != nil {
		t.Fatal(err)
	}
	if err := cl.commit(db); !errors.Is(err, kv.ErrQuota) {
		t.Fatalf("commit over quota: %v", err)
	}
}
