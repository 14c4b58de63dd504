package kv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/kv"
)

func openDB(t testing.TB) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "kv.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// ids is a stand-in for the identity service's OpenID.
type ids struct{}

func (ids) OpenID(ref host.AppRef, person string) string {
	return "o_" + ref.Merchant + "_" + ref.App + "_" + person
}

type nopOut struct{}

func (nopOut) Emit(context.Context, host.Outgoing) error { return nil }

var (
	shop = host.AppRef{Merchant: "acme", App: "shop", Version: "1.0.0"}
	ride = host.AppRef{Merchant: "acme", App: "ride", Version: "1.0.0"}
	evil = host.AppRef{Merchant: "evil", App: "shop", Version: "1.0.0"}
)

type client struct {
	t   testing.TB
	ops map[string]host.Func
	c   *host.Call
}

func newClient(t testing.TB, s *kv.Store, ref host.AppRef, person string) *client {
	ops := map[string]host.Func{}
	for _, f := range s.Funcs() {
		ops[f.Op] = f
	}
	return &client{t: t, ops: ops, c: &host.Call{Caller: host.Caller{App: ref, Person: person, Permissions: []host.Permission{host.PermStorage}}, Out: nopOut{}}}
}

func (cl *client) do(op string, req any) (map[string]any, host.Status) {
	data, _ := json.Marshal(req)
	resp, err := cl.ops[op].Handle(context.Background(), cl.c, data)
	if err != nil {
		return nil, host.StatusOf(err)
	}
	var m map[string]any
	if err := json.Unmarshal(resp, &m); err != nil {
		cl.t.Fatalf("%s response %s: %v", op, resp, err)
	}
	return m, host.StatusOK
}

func open(t testing.TB, lim kv.Limits) *kv.Store {
	s, err := kv.Open(openDB(t), kv.Config{Pseudonyms: ids{}, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOps(t *testing.T) {
	s := open(t, kv.Limits{})
	a := newClient(t, s, shop, "alice")
	for _, tc := range []struct {
		name string
		op   string
		req  any
		want host.Status
		resp string // JSON the response must equal, if set
	}{
		{"get missing", "kv.get", map[string]any{"key": "cart"}, host.StatusNotFound, ""},
		{"set text", "kv.set", map[string]any{"key": "cart", "value": "shirt"}, host.StatusOK, `{}`},
		{"get text", "kv.get", map[string]any{"key": "cart"}, host.StatusOK, `{"value":"shirt"}`},
		{"set empty", "kv.set", map[string]any{"key": "empty", "value": ""}, host.StatusOK, ``},
		{"get empty", "kv.get", map[string]any{"key": "empty"}, host.StatusOK, `{"value":""}`},
		{"set binary", "kv.set", map[string]any{"key": "bin", "value_b64": "AAEC/w=="}, host.StatusOK, ``},
		{"get binary", "kv.get", map[string]any{"key": "bin"}, host.StatusOK, `{"value_b64":"AAEC/w=="}`},
		{"bad base64", "kv.set", map[string]any{"key": "bin", "value_b64": "!!"}, host.StatusBadRequest, ``},
		{"both values", "kv.set", map[string]any{"key": "x", "value": "a", "value_b64": "YQ=="}, host.StatusBadRequest, ``},
		{"no value", "kv.set", map[string]any{"key": "x"}, host.StatusBadRequest, ``},
		{"empty key", "kv.set", map[string]any{"key": "", "value": "a"}, host.StatusBadRequest, ``},
		{"long key", "kv.set", map[string]any{"key": strings.Repeat("k", kv.MaxKeyBytes+1), "value": "a"}, host.StatusQuota, ``},
		{"big value", "kv.set", map[string]any{"key": "big", "value": strings.Repeat("v", kv.MaxValueBytes+1)}, host.StatusQuota, ``},
		{"bad scope", "kv.get", map[string]any{"key": "cart", "scope": "global"}, host.StatusBadRequest, ``},
		{"not an object", "kv.get", []int{1}, host.StatusBadRequest, ``},
		{"person scope empty", "kv.get", map[string]any{"key": "cart", "scope": "person"}, host.StatusNotFound, ``},
		{"person set", "kv.set", map[string]any{"key": "cart", "scope": "person", "value": "mine"}, host.StatusOK, ``},
		{"person get", "kv.get", map[string]any{"key": "cart", "scope": "person"}, host.StatusOK, `{"value":"mine"}`},
		{"app value intact", "kv.get", map[string]any{"key": "cart"}, host.StatusOK, `{"value":"shirt"}`},
		{"delete", "kv.delete", map[string]any{"key": "cart"}, host.StatusOK, `{"deleted":true}`},
		{"delete again", "kv.delete", map[string]any{"key": "cart"}, host.StatusOK, `{"deleted":false}`},
		{"list", "kv.list", map[string]any{}, host.StatusOK, `{"keys":["bin","empty"]}`},
		{"list person", "kv.list", map[string]any{"scope": "person"}, host.StatusOK, `{"keys":["cart"]}`},
		{"list too many", "kv.list", map[string]any{"limit": kv.MaxList + 1}, host.StatusBadRequest, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, st := a.do(tc.op, tc.req)
			if st != tc.want {
				t.Fatalf("status = %s, want %s", st, tc.want)
			}
			if tc.resp != "" {
				got, _ := json.Marshal(resp)
				if string(got) != tc.resp {
					t.Fatalf("response = %s, want %s", got, tc.resp)
				}
			}
		})
	}
	// No person on the event: the person scope is refused.
	none := newClient(t, s, shop, "")
	if _, st := none.do("kv.get", map[string]any{"key": "cart", "scope": "person"}); st != host.StatusBadRequest {
		t.Fatalf("person scope without a person: %s", st)
	}
}

func TestIsolation(t *testing.T) {
	s := open(t, kv.Limits{})
	alice := newClient(t, s, shop, "alice")
	alice.do("kv.set", map[string]any{"key": "secret", "value": "shop data"})
	alice.do("kv.set", map[string]any{"key": "mine", "scope": "person", "value": "alice data"})

	for _, tc := range []struct {
		name string
		cl   *client
	}{
		{"other app of the same merchant", newClient(t, s, ride, "alice")},
		{"same app id of another merchant", newClient(t, s, evil, "alice")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, scope := range []string{"app", "person"} {
				if _, st := tc.cl.do("kv.get", map[string]any{"key": "secret", "scope": scope}); st != host.StatusNotFound {
					t.Errorf("get secret in %s scope: %s", scope, st)
				}
				if _, st := tc.cl.do("kv.get", map[string]any{"key": "mine", "scope": scope}); st != host.StatusNotFound {
					t.Errorf("get mine in %s scope: %s", scope, st)
				}
				resp, _ := tc.cl.do("kv.list", map[string]any{"scope": scope})
				if keys := resp["keys"].([]any); len(keys) != 0 {
					t.Errorf("list in %s scope shows %v", scope, keys)
				}
			}
		})
	}
	// Another person of the same app does not see Alice's scope, and a
	// new version of the app sees the same data.
	bob := newClient(t, s, shop, "bob")
	if _, st := bob.do("kv.get", map[string]any{"key": "mine", "scope": "person"}); st != host.StatusNotFound {
		t.Errorf("Bob reads Alice's scope: %s", st)
	}
	v2 := newClient(t, s, host.AppRef{Merchant: "acme", App: "shop", Version: "2.0.0"}, "alice")
	if resp, st := v2.do("kv.get", map[string]any{"key": "mine", "scope": "person"}); st != host.StatusOK || resp["value"] != "alice data" {
		t.Errorf("version 2 reads %v, %s", resp, st)
	}
	// The person scope is stored under the OpenID, never under the platform id.
	ns, _ := s.PersonNamespace(shop, "alice")
	if ns.Person != (ids{}).OpenID(shop, "alice") {
		t.Errorf("person namespace = %+v", ns)
	}
}

func TestQuotas(t *testing.T) {
	ctx := context.Background()
	s := open(t, kv.Limits{AppBytes: 100, PersonBytes: 40, ValueBytes: 50})
	a := newClient(t, s, shop, "alice")
	app := kv.AppNamespace(shop)
	pns, _ := s.PersonNamespace(shop, "alice")
	steps := []struct {
		name  string
		req   map[string]any
		want  host.Status
		app   int64 // usage after
		alice int64
	}{
		{"fits", map[string]any{"key": "k1", "value": strings.Repeat("a", 48)}, host.StatusOK, 50, 0},
		{"replace smaller", map[string]any{"key": "k1", "value": strings.Repeat("a", 8)}, host.StatusOK, 10, 0},
		{"person fits", map[string]any{"key": "p", "scope": "person", "value": strings.Repeat("b", 39)}, host.StatusOK, 50, 40},
		{"person over", map[string]any{"key": "q", "scope": "person", "value": "c"}, host.StatusQuota, 50, 40},
		{"app up to limit", map[string]any{"key": "k2", "value": strings.Repeat("c", 48)}, host.StatusOK, 100, 40},
		{"app over by one", map[string]any{"key": "k3", "value": ""}, host.StatusQuota, 100, 40},
		{"growing a key over", map[string]any{"key": "k1", "value": strings.Repeat("a", 9)}, host.StatusQuota, 100, 40},
		{"same size rewrite", map[string]any{"key": "k1", "value": strings.Repeat("z", 8)}, host.StatusOK, 100, 40},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if _, got := a.do("kv.set", st.req); got != st.want {
				t.Fatalf("status = %s, want %s", got, st.want)
			}
			if u, _ := s.Usage(ctx, app); u != st.app {
				t.Errorf("app usage = %d, want %d", u, st.app)
			}
			if u, _ := s.Usage(ctx, pns); u != st.alice {
				t.Errorf("person usage = %d, want %d", u, st.alice)
			}
		})
	}
	// Nothing partial was written by the refused writes.
	if _, err := s.Get(ctx, pns, "q"); err == nil {
		t.Error("refused person write is stored")
	}
	if v, _ := s.Get(ctx, app, "k1"); string(v.Data) != strings.Repeat("z", 8) {
		t.Errorf("k1 = %q", v.Data)
	}
	// Deleting frees the space.
	a.do("kv.delete", map[string]any{"key": "p", "scope": "person"})
	if u, _ := s.Usage(ctx, pns); u != 0 {
		t.Errorf("person usage after delete = %d", u)
	}
	if u, _ := s.Usage(ctx, app); u != 60 {
		t.Errorf("app usage after delete = %d", u)
	}
}

func TestListPages(t *testing.T) {
	ctx := context.Background()
	s := open(t, kv.Limits{})
	ns := kv.AppNamespace(shop)
	for i := range 25 {
		if err := s.Set(ctx, ns, fmt.Sprintf("order/%02d", i), kv.Value{Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Set(ctx, ns, "other", kv.Value{Data: []byte("x")})
	_ = s.Set(ctx, ns, "order", kv.Value{Data: []byte("x")})
	var all []string
	cursor := ""
	for page := 0; ; page++ {
		keys, next, err := s.List(ctx, ns, "order/", cursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, keys...)
		if next == "" {
			break
		}
		if page > 5 {
			t.Fatal("pagination does not end")
		}
		cursor = next
	}
	if len(all) != 25 || all[0] != "order/00" || all[24] != "order/24" {
		t.Fatalf("listed %d keys: %v", len(all), all)
	}
}

func TestConcurrentQuota(t *testing.T) {
	ctx := context.Background()
	s := open(t, kv.Limits{AppBytes: 1000})
	ns := kv.AppNamespace(shop)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				_ = s.Set(ctx, ns, fmt.Sprintf("w%d-%02d", w, i), kv.Value{Data: []byte(strings.Repeat("x", 15))})
			}
		}()
	}
	wg.Wait()
	keys, _, _ := s.List(ctx, ns, "", "", kv.MaxList)
	var sum int64
	for _, k := range keys {
		v, _ := s.Get(ctx, ns, k)
		sum += int64(len(k) + len(v.Data))
	}
	u, _ := s.Usage(ctx, ns)
	if u != sum || u > 1000 {
		t.Fatalf("usage = %d, stored = %d, limit 1000", u, sum)
	}
}

func FuzzOps(f *testing.F) {
	for _, seed := range []string{`{"key":"a","value":"b"}`, `{"key":"a","scope":"person","value_b64":"AA=="}`, `{"prefix":"a","limit":2,"cursor":"a"}`, `{}`, `[]`, `{"key":"\u0000"}`} {
		f.Add("kv.set", seed)
		f.Add("kv.list", seed)
	}
	s := open(f, kv.Limits{AppBytes: 4096, PersonBytes: 1024})
	cl := newClient(f, s, shop, "alice")
	f.Fuzz(func(t *testing.T, op, req string) {
		fn, ok := cl.ops[op]
		if !ok {
			return
		}
		resp, err := fn.Handle(context.Background(), cl.c, []byte(req))
		if err == nil && !json.Valid(resp) {
			t.Fatalf("invalid JSON response %q", resp)
		}
		if st := host.StatusOf(err); st == host.StatusInternal {
			t.Fatalf("internal error for %s %q: %v", op, req, err)
		}
		if u, _ := s.Usage(context.Background(), kv.AppNamespace(shop)); u > 4096 {
			t.Fatalf("usage %d above the limit", u)
		}
	})
}

func BenchmarkKVGetSet(b *testing.B) {
	ctx := context.Background()
	s := open(b, kv.Limits{})
	ns := kv.AppNamespace(shop)
	val := kv.Value{Data: []byte(strings.Repeat("v", 256))}
	b.Run("set", func(b *testing.B) {
		for i := range b.N {
			if err := s.Set(ctx, ns, fmt.Sprint("key", i%1000), val); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("set-parallel", func(b *testing.B) {
		var n atomic.Int64
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Set(ctx, ns, fmt.Sprint("key", n.Add(1)%1000), val); err != nil {
					b.Error(err)
				}
			}
		})
	})
	b.Run("get", func(b *testing.B) {
		for i := range b.N {
			if _, err := s.Get(ctx, ns, fmt.Sprint("key", i%1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
