//go:build !wasip1

package conformance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apptest"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// sdks are the guest SDKs whose probe (testdata/sdk/NAME) must pass the
// vectors of testdata/sdk/probe.json.
var sdks = []string{"go", "c"}

type scenario struct {
	Scenario string `json:"scenario"`
	Steps    []step `json:"steps"`
}

type step struct {
	Event   *host.Event       `json:"event"`
	Raw     *string           `json:"raw"`
	Do      string            `json:"do"`
	Sends   []json.RawMessage `json:"sends"`
	Status  uint32            `json:"status"`
	Prompts []string          `json:"prompts"`
	Log     string            `json:"log"`
}

func (s step) String() string {
	switch {
	case s.Event != nil:
		return "event " + apptest.JSON(s.Event)
	case s.Raw != nil:
		return fmt.Sprintf("raw %q", *s.Raw)
	}
	return "do " + s.Do
}

func scenarios(t *testing.T) []scenario {
	raw, err := os.ReadFile("testdata/sdk/probe.json")
	if err != nil {
		t.Fatal(err)
	}
	var sc []scenario
	if err := json.Unmarshal(raw, &sc); err != nil {
		t.Fatal(err)
	}
	return sc
}

// want decodes the expected messages: a JSON string is a text message.
func want(t *testing.T, sends []json.RawMessage) []host.Message {
	var out []host.Message
	for _, raw := range sends {
		var m host.Message
		var text string
		if json.Unmarshal(raw, &text) == nil {
			m.Text = text
		} else if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("sends %s: %v", raw, err)
		}
		out = append(out, m)
	}
	return out
}

// probe runs one SDK's probe on a fresh platform.
type probe struct {
	p               *apptest.Platform
	bob             *apptest.Person
	order, prompt   string // the last payment order and consent prompt drawn
	lastRawEventSeq int
}

func (pr *probe) prompts(t *testing.T, out []host.Outgoing) []string {
	var types []string
	for _, o := range out {
		var head struct {
			Type  string `json:"type"`
			Order string `json:"order"`
			ID    string `json:"id"`
		}
		if o.Prompt == nil {
			t.Fatalf("outgoing %+v is not a prompt", o)
		}
		if err := json.Unmarshal(o.Prompt.Body, &head); err != nil {
			t.Fatalf("prompt %s: %v", o.Prompt.Body, err)
		}
		types = append(types, head.Type)
		switch head.Type {
		case "payment":
			pr.order = head.Order
		case "consent":
			pr.prompt = head.ID
		}
	}
	return types
}

// staff plays the merchant's staff on the probe's open handoff: an agent
// takes it, or hands it back with a note; it returns what the probe sent
// in answer to the event that causes.
func (pr *probe) staff(t *testing.T, do string) []host.Message {
	ctx := context.Background()
	hs := pr.p.Services.Handoffs
	open, err := hs.List(ctx, pr.p.Ref.Merchant, true, 0)
	if err != nil || len(open) != 1 {
		t.Fatalf("%s: open handoffs %+v, %v; want one", do, open, err)
	}
	typ := host.EventHandoff
	if do == "take" {
		_, err = hs.Take(ctx, pr.p.Ref.Merchant, open[0].ID, "Sam")
	} else {
		typ = host.EventHandback
		_, err = hs.Return(ctx, pr.p.Ref.Merchant, open[0].ID, "Sam", "done \"ok\"")
	}
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := pr.p.Deliver(typ)
	return msgs
}

// run performs one step and returns what the app sent, the prompts drawn
// and the status on_event returned.
func (pr *probe) run(t *testing.T, s step) ([]host.Message, []string, uint32) {
	var (
		msgs []host.Message
		out  []host.Outgoing
		err  error
	)
	switch {
	case s.Event != nil:
		msgs, out, err = pr.bob.TrySend(*s.Event)
	case s.Raw != nil:
		pr.lastRawEventSeq++
		ob := &outbox{}
		_, err = pr.p.App.Dispatch(context.Background(), &sandbox.Event{Payload: []byte(*s.Raw), Out: ob,
			Caller: host.Caller{Person: pr.bob.ID, Conversation: "cv_1", Surface: "web", EventID: fmt.Sprintf("raw%d", pr.lastRawEventSeq)}})
		msgs = ob.msgs
	case s.Do == "confirm":
		err = pr.bob.Confirm(pr.order)
	case s.Do == "grant":
		err = pr.bob.Grant(pr.prompt)
	case s.Do == "deliver_payments":
		msgs = pr.p.DeliverPayments()
	case s.Do == "deliver_consents":
		msgs, out = pr.p.DeliverConsents()
	case s.Do == "fire_timers":
		msgs = pr.p.FireTimers(time.Minute)
	case s.Do == "take", s.Do == "handback":
		msgs = pr.staff(t, s.Do)
	default:
		t.Fatalf("step %s: unknown", s)
	}
	var ge *sandbox.GuestError
	status := uint32(0)
	if errors.As(err, &ge) {
		status = ge.Status
	} else if err != nil {
		t.Fatalf("step %s: %v", s, err)
	}
	return msgs, pr.prompts(t, out), status
}

// TestSDKProbes runs the probe of every SDK through the scenarios of
// testdata/sdk/probe.json, in the real sandbox with the platform's host
// services: each SDK must encode and decode every operation and event the
// same way.
func TestSDKProbes(t *testing.T) {
	all := scenarios(t)
	for _, sdk := range sdks {
		t.Run(sdk, func(t *testing.T) {
			for _, sc := range all {
				t.Run(sc.Scenario, func(t *testing.T) {
					p := apptest.New(t, "testdata/sdk/"+sdk, apptest.Options{})
					pr := &probe{p: p, bob: p.NewPerson("Bob")}
					pr.bob.Fund("EUR", 5000)
					for i, s := range sc.Steps {
						logged := len(p.Log())
						msgs, prompts, status := pr.run(t, s)
						if got, want := apptest.JSON(msgs), apptest.JSON(want(t, s.Sends)); got != want {
							t.Fatalf("step %d (%s): sent %s\nwant %s", i, s, got, want)
						}
						if !slices.Equal(prompts, s.Prompts) {
							t.Fatalf("step %d (%s): prompts %q, want %q", i, s, prompts, s.Prompts)
						}
						if status != s.Status {
							t.Fatalf("step %d (%s): on_event returned %d, want %d (log %q)", i, s, status, s.Status, p.Log()[logged:])
						}
						if s.Log != "" && !slices.ContainsFunc(p.Log()[logged:], func(l string) bool { return strings.HasPrefix(l, s.Log) }) {
							t.Fatalf("step %d (%s): log %q has no line starting %q", i, s, p.Log()[logged:], s.Log)
						}
					}
					if st := p.App.Stats(); st.Discarded != 0 {
						t.Fatalf("pool %+v: a probe's instance was discarded", st)
					}
				})
			}
		})
	}
}

// TestSDKVerdicts checks that `passerelle app check` judges the probes of
// every SDK alike under a manifest granting fewer permissions than they use,
// or none at all: the same rules at the same imports. (With their own
// manifest both pass: TestSDKProbes loads them.) Each check compiles the
// module, so the manifests are few.
func TestSDKVerdicts(t *testing.T) {
	ctx := context.Background()
	eng, err := sandbox.New(ctx, sandbox.Config{Funcs: platformOps(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	manifests := []struct {
		name  string
		perms []host.Permission // nil: no manifest
	}{
		{"chat only", []host.Permission{host.PermChat}},
		{"no manifest", nil},
	}
	verdicts := map[string][]string{}
	for _, sdk := range sdks {
		wasm := apptest.Build(t, "testdata/sdk/"+sdk)
		for _, m := range manifests {
			var mod []byte
			if m.perms == nil {
				mod = stripManifest(t, wasm)
			} else if mod, err = wasmfile.EmbedManifest(wasm, &host.Manifest{ABI: host.ABIVersion, ID: "probe", Name: "Probe", Version: "1", Permissions: m.perms}); err != nil {
				t.Fatal(err)
			}
			rep, err := eng.Check(ctx, mod)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range rep.Violations {
				got = append(got, v.Rule+" "+v.Where)
			}
			slices.Sort(got)
			if prev, ok := verdicts[m.name]; ok && !slices.Equal(prev, got) {
				t.Errorf("manifest %q: the %s probe breaks %q, the %s probe %q", m.name, sdk, got, sdks[0], prev)
			}
			verdicts[m.name] = got
		}
	}
	if n := len(verdicts["chat only"]); n != 10 {
		t.Errorf("chat only: %d violations %q, want the 10 operations beyond chat", n, verdicts["chat only"])
	}
}

// stripManifest cuts the manifest section EmbedManifest appended to wasm.
func stripManifest(t *testing.T, wasm []byte) []byte {
	body, err := wasmfile.ManifestBytes(wasm)
	if err != nil {
		t.Fatal(err)
	}
	leb := func(v int) int {
		n := 1
		for ; v >= 0x80; v >>= 7 {
			n++
		}
		return n
	}
	content := leb(len(wasmfile.SectionName)) + len(wasmfile.SectionName) + len(body)
	cut := len(wasm) - (1 + leb(content) + content)
	if cut < 8 || wasm[cut] != 0 {
		t.Fatalf("the manifest is not the module's last section")
	}
	return wasm[:cut]
}
