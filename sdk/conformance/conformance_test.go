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

	"passerelle/host"
	"passerelle/runtime/sandbox"
	"passerelle/runtime/wasmfile"
)

type vector struct {
	File        string            `json:"file"`
	Permissions []host.Permission `json:"permissions"`
	NoManifest  bool              `json:"no_manifest"`
	Rules       []string          `json:"rules"`
	Sends       string            `json:"sends"`
}

// platformOps offers every operation of ABI v1 the way the platform does,
// with chat.send recording the message into the event's outbox.
func platformOps() []host.Func {
	ops := map[string]host.Permission{
		"chat.send": host.PermChat, "chat.share": host.PermChat,
		"kv.get": host.PermStorage, "kv.set": host.PermStorage, "kv.delete": host.PermStorage, "kv.list": host.PermStorage,
		"identity.profile": host.PermIdentityProfile,
		"pay.request":      host.PermPay, "pay.refund": host.PermPay, "pay.status": host.PermPay,
		"timer.after": host.PermTimer, "timer.cancel": host.PermTimer,
	}
	var fns []host.Func
	for op, perm := range ops {
		fns = append(fns, host.Func{Op: op, Permission: perm, Handle: func(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
			if op != "chat.send" {
				return nil, host.Errorf(host.StatusUnavailable, "not served in this test")
			}
			if err := c.Out.Emit(ctx, host.Outgoing{Kind: "message", Body: req}); err != nil {
				return nil, err
			}
			return []byte(`{"id":"m1"}`), nil
		}})
	}
	return fns
}

type outbox struct{ msgs []host.Message }

func (o *outbox) Emit(_ context.Context, out host.Outgoing) error {
	var m host.Message
	if err := json.Unmarshal(out.Body, &m); err != nil {
		return err
	}
	o.msgs = append(o.msgs, m)
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
	eng, err := sandbox.New(ctx, sandbox.Config{Funcs: platformOps(), Logger: slog.New(slog.DiscardHandler)})
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
			if _, err := app.Dispatch(ctx, &sandbox.Event{Payload: ev, Out: out}); err != nil {
				t.Fatal(err)
			}
			if len(out.msgs) != 1 || out.msgs[0].Text != v.Sends {
				t.Fatalf("sent %+v, want one message %q", out.msgs, v.Sends)
			}
		})
	}
}
