package registry_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/registry"
)

func openDB(t testing.TB) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "p.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func open(t testing.TB, db *bbolt.DB, opts registry.Options) *registry.Registry {
	t.Helper()
	r, err := registry.Open(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func manifest(id, version string) host.Manifest {
	return host.Manifest{ABI: "passerelle_v1", ID: id, Name: "Shop " + id, Version: version,
		Permissions: []host.Permission{host.PermChat}}
}

func add(t *testing.T, r *registry.Registry, merchant, id, version string) *registry.App {
	t.Helper()
	_, a, err := r.Add(merchant, merchant+"-user", manifest(id, version), []byte("wasm "+id+version))
	if err != nil {
		t.Fatalf("Add %s@%s: %v", id, version, err)
	}
	return a
}

func TestAddOwnership(t *testing.T) {
	r := open(t, openDB(t), registry.Options{})
	add(t, r, "m1", "shop", "1.0.0")
	tests := []struct {
		name     string
		merchant string
		id, ver  string
		want     error
	}{
		{"owner adds a version", "m1", "shop", "1.1.0", nil},
		{"other merchant same id", "m2", "shop", "2.0.0", registry.ErrNotOwner},
		{"same version twice", "m1", "shop", "1.0.0", registry.ErrVersionExists},
		{"other merchant new id", "m2", "ride", "1.0.0", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := r.Add(tt.merchant, "u", manifest(tt.id, tt.ver), []byte("x"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Add = %v, want %v", err, tt.want)
			}
			if err := r.CheckOwner(tt.id, tt.merchant); !errors.Is(err, tt.want) && !errors.Is(tt.want, registry.ErrVersionExists) {
				t.Fatalf("CheckOwner = %v, want %v", err, tt.want)
			}
		})
	}
	a, err := r.App("shop")
	if err != nil {
		t.Fatal(err)
	}
	if a.Merchant != "m1" || a.Live != "1.0.0" || !slices.Equal(a.Versions, []string{"1.0.0", "1.1.0"}) {
		t.Fatalf("app = %+v", a)
	}
	mine, _ := r.Apps("m2")
	if len(mine) != 1 || mine[0].ID != "ride" {
		t.Fatalf("Apps(m2) = %+v", mine)
	}
	v, err := r.Version("shop", "1.0.0")
	if err != nil || v.Size != int64(len("x")) && v.Size != int64(len("wasm shop1.0.0")) || len(v.SHA256) != 64 || v.UploadedBy != "m1-user" {
		t.Fatalf("Version = %+v, %v", v, err)
	}
}

func TestRollout(t *testing.T) {
	type step struct {
		op       string // promote, rollback
		version  string
		percent  int
		wantErr  error
		live     string
		cand     string
		wantPerc int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"promote fully then roll back", []step{
			{op: "promote", version: "2", percent: 100, live: "2"},
			{op: "rollback", live: "1"},
		}},
		{"gray release then drop the candidate", []step{
			{op: "promote", version: "2", percent: 10, live: "1", cand: "2", wantPerc: 10},
			{op: "promote", version: "2", percent: 50, live: "1", cand: "2", wantPerc: 50},
			{op: "rollback", live: "1"},
		}},
		{"gray release then full", []step{
			{op: "promote", version: "3", percent: 20, live: "1", cand: "3", wantPerc: 20},
			{op: "promote", version: "3", percent: 100, live: "3"},
			{op: "rollback", live: "1"},
		}},
		{"rollback to a named version", []step{
			{op: "promote", version: "3", percent: 100, live: "3"},
			{op: "promote", version: "2", percent: 30, live: "3", cand: "2", wantPerc: 30},
			{op: "rollback", version: "1", live: "1"},
			{op: "rollback", live: "3"},
		}},
		{"refusals", []step{
			{op: "promote", version: "1", percent: 50, wantErr: registry.ErrInvalid, live: "1"},
			{op: "promote", version: "2", percent: 0, wantErr: registry.ErrInvalid, live: "1"},
			{op: "promote", version: "2", percent: 101, wantErr: registry.ErrInvalid, live: "1"},
			{op: "promote", version: "9", percent: 100, wantErr: registry.ErrNotFound, live: "1"},
			{op: "rollback", wantErr: registry.ErrInvalid, live: "1"},
			{op: "rollback", version: "9", wantErr: registry.ErrNotFound, live: "1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := open(t, openDB(t), registry.Options{})
			for _, v := range []string{"1", "2", "3"} {
				add(t, r, "m", "app", v)
			}
			for i, s := range tt.steps {
				var err error
				if s.op == "promote" {
					_, err = r.Promote("app", s.version, s.percent)
				} else {
					_, err = r.Rollback("app", s.version)
				}
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d %s %s: err %v, want %v", i, s.op, s.version, err, s.wantErr)
				}
				a, _ := r.App("app")
				if a.Live != s.live || a.Candidate != s.cand || a.Percent != s.wantPerc {
					t.Fatalf("step %d %s %s: live %q cand %q %d%%, want %q %q %d%%", i, s.op, s.version,
						a.Live, a.Candidate, a.Percent, s.live, s.cand, s.wantPerc)
				}
			}
		})
	}
}

func TestPrune(t *testing.T) {
	r := open(t, openDB(t), registry.Options{KeepVersions: 3})
	for i := 1; i <= 6; i++ {
		add(t, r, "m", "app", fmt.Sprint(i))
	}
	// 1 is live (first upload) and kept; 2 and 3 fall out of the window.
	for _, tt := range []struct {
		version string
		pruned  bool
	}{{"1", false}, {"2", true}, {"3", true}, {"4", false}, {"5", false}, {"6", false}} {
		t.Run(tt.version, func(t *testing.T) {
			_, err := r.Module("app", tt.version)
			if got := errors.Is(err, registry.ErrPruned); got != tt.pruned {
				t.Fatalf("Module err = %v, want pruned %v", err, tt.pruned)
			}
			v, _ := r.Version("app", tt.version)
			if v.Pruned != tt.pruned {
				t.Fatalf("Pruned = %v", v.Pruned)
			}
		})
	}
	if _, err := r.Promote("app", "2", 100); !errors.Is(err, registry.ErrPruned) {
		t.Fatalf("promote pruned = %v", err)
	}
	// Promoting 6 then uploading more keeps 1 only while it is live or in window.
	if _, err := r.Promote("app", "6", 100); err != nil {
		t.Fatal(err)
	}
	add(t, r, "m", "app", "7")
	if _, err := r.Module("app", "1"); !errors.Is(err, registry.ErrPruned) {
		t.Fatalf("version 1 after it left live and window: %v", err)
	}
	if _, err := r.Rollback("app", ""); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("rollback to a pruned version must be refused, got %v", err)
	}
}
