//go:build !wasip1

package conformance_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/services"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

type vector struct {
	File        string            `json:"file"`
	Permissions []host.Permission `json:"permissions"`
	NoManifest  bool              `json:"no_manifest"`
	Rules       []string          `json:"rules"`
	Sends       string            `json:"sends"`
}

// platformOps returns the operations the platform serves: the real host
// services, on a store in a temporary directory.
func platformOps(t *testing.T) []host.Func {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "passerelle.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := services.Open(db, services.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return svc.Funcs()
}

type outbox struct{ msgs []host.Message }

func (o *outbox) Emit(_ context.Context, out host.Outgoing) error {
	if out.Message != nil {
		o.msgs = append(o.msgs, *out.Message)
	}
	return nil
}

func TestVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []vector
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	eng, err := sandbox.New(ctx, sandbox.Config{Funcs: platformOps(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	for _, v := range vectors {
		perms := make([]string, len(v.Permissions))
		for i, p := range v.Permissions {
			perms[i] = string(p)
		}
		name := strings.TrimSuffix(v.File, ".wasm") + "/" + strings.Join(perms, "+")
		t.Run(name, func(t *testing.T) {
			wasm, err := os.ReadFile(filepath.Join("testdata", v.File))
			if err != nil {
				t.Fatal(err)
			}
			if !v.NoManifest {
				m := &host.Manifest{ABI: host.ABIVersion, ID: "vector", Name: "Vector", Version: "1", Permissions: v.Permissions}
				if wasm, err = wasmfile.EmbedManifest(wasm, m); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := eng.Check(ctx, wasm)
			if err != nil {
				t.Fatal(err)
			}
			var rules []string
			for _, vi := range rep.Violations {
				rules = append(rules, vi.Rule)
				if vi.Where == "" || vi.Problem == "" || vi.Fix == "" {
					t.Errorf("violation %+v lacks where, problem or fix", vi)
				}
			}
			if !slices.Equal(rules, v.Rules) && !(len(rules) == 0 && len(v.Rules) == 0) {
				t.Fatalf("rules %v, want %v (%+v)", rules, v.Rules, rep.Violations)
			}
			if v.Sends == "" {
				return
			}
			app, err := eng.Load(ctx, host.AppRef{Merchant: "m"}, wasm)
			if err != nil {
				t.Fatal(err)
			}
			defer app.Close(ctx)
			out := &outbox{}
			ev := []byte(`{"v":1,"type":"message","id":"e1","app":"vector","text":"hi"}`)
			if _, err := app.Dispatch(ctx, &sandbox.Event{Payload: ev, Caller: host.Caller{Conversation: "c1"}, Out: out}); err != nil {
				t.Fatal(err)
			}
			if len(out.msgs) != 1 || out.msgs[0].Text != v.Sends {
				t.Fatalf("sent %+v, want one message %q", out.msgs, v.Sends)
			}
		})
	}
}
