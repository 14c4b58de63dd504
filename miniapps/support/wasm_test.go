//go:build !wasip1

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"passerelle/host"
	"passerelle/host/chat"
	"passerelle/host/identity"
	"passerelle/host/kv"
	"passerelle/runtime/sandbox"
	"passerelle/runtime/wasmfile"
)

// supportWasm is this app built once per test binary by TestMain with the
// real Go toolchain, its manifest embedded.
var supportWasm []byte

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "support-wasm-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if supportWasm, err = buildWasm(dir); err != nil {
			fmt.Fprintln(os.Stderr, "build support:", err)
			return 1
		}
		return m.Run()
	}())
}

// buildWasm compiles this directory for wasip1 as a reactor, the way
// `passerelle app build` does, and embeds manifest.json.
func buildWasm(dir string) ([]byte, error) {
	out := filepath.Join(dir, "app.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%v: %s", err, b)
	}
	raw, err := os.ReadFile("manifest.json")
	if err != nil {
		return nil, err
	}
	m, err := host.ParseManifest(raw)
	if err != nil {
		return nil, err
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	return wasmfile.EmbedManifest(wasm, m)
}

type outbox struct {
	mu   sync.Mutex
	msgs []host.Message
}

func (o *outbox) Emit(_ context.Context, out host.Outgoing) error {
	var m host.Message
	if err := json.Unmarshal(out.Body, &m); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	return nil
}

func (o *outbox) take() []host.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := o.msgs
	o.msgs = nil
	return m
}

type appLog struct {
	mu   sync.Mutex
	recs []string
}

func (l *appLog) AppLog(_ host.AppRef, rec sandbox.LogRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, rec.Source+" "+rec.Level.String()+" "+rec.Message)
}

func (l *appLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}

// TestWasmSupport runs the bot in the real sandbox with the real chat,
// storage and identity services on a real bbolt file: topics, a free-text
// answer and a handoff that survives across events and instances.
func TestWasmSupport(t *testing.T) {
	ctx := context.Background()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "passerelle.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids, err := identity.Open(db, identity.Config{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := kv.Open(db, kv.Config{Pseudonyms: ids})
	if err != nil {
		t.Fatal(err)
	}
	log := &appLog{}
	eng, err := sandbox.New(ctx, sandbox.Config{
		Funcs:  append(chat.New(chat.Config{}).Funcs(), store.Funcs()...),
		Logger: slog.New(slog.DiscardHandler), AppLog: log, PoolSize: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	ref := host.AppRef{Merchant: "m_shop", App: "support", Version: "1.0.0"}
	app, err := eng.Load(ctx, ref, supportWasm)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := ids.CreatePerson(ctx, "Bob", "")
	if err != nil {
		t.Fatal(err)
	}
	out := &outbox{}
	seq := 0
	deliver := func(ev host.Event) []host.Message {
		t.Helper()
		seq++
		ev.V, ev.ID, ev.App = 1, fmt.Sprintf("ev%d", seq), "support"
		ev.Conversation, ev.User, ev.Surface = "cv_1", ids.OpenID(ref, bob.ID), "whatsapp"
		payload, _ := json.Marshal(ev)
		if _, err := app.Dispatch(ctx, &sandbox.Event{Payload: payload, Out: out,
			Caller: host.Caller{Person: bob.ID, Conversation: "cv_1", Surface: "whatsapp", EventID: ev.ID}}); err != nil {
			t.Fatalf("%s event: %v\n%s", ev.Type, err, strings.Join(log.lines(), "\n"))
		}
		return out.take()
	}

	msgs := deliver(host.Event{Type: host.EventOpen})
	if len(msgs) != 1 || msgs[0].Card == nil || msgs[0].Card.List == nil || len(msgs[0].Card.List.Items) != 4 {
		t.Fatalf("open: %+v", msgs)
	}
	msgs = deliver(host.Event{Type: host.EventMessage, Text: "I want my money back"})
	if len(msgs) != 1 || msgs[0].Card == nil || msgs[0].Card.Title != "How do refunds work?" {
		t.Fatalf("free text: %+v", msgs)
	}
	ans := msgs[0].Card
	var human host.Button
	for _, b := range ans.Buttons {
		if b.ID == "human" {
			human = b
		}
	}
	msgs = deliver(host.Event{Type: host.EventAction, Action: &host.Action{ID: human.ID, Value: human.Value}})
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "passed this conversation to our support team (reference S-") {
		t.Fatalf("handoff: %+v", msgs)
	}
	ticket := msgs[0].Text[strings.Index(msgs[0].Text, "S-"):]
	ticket = ticket[:strings.IndexByte(ticket, ')')]

	// The ticket is in Bob's storage, under his id for this app.
	ns, err := store.PersonNamespace(ref, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	v, err := store.Get(ctx, ns, "ticket")
	if err != nil || !strings.Contains(string(v.Data), ticket) {
		t.Fatalf("stored ticket %q, %v; want %s", v.Data, err, ticket)
	}
	msgs = deliver(host.Event{Type: host.EventMessage, Text: "agent please"})
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "already in our queue (reference "+ticket+")") {
		t.Fatalf("second handoff: %+v", msgs)
	}
	found := false
	for _, l := range log.lines() {
		found = found || strings.HasPrefix(l, "log INFO handoff "+ticket)
	}
	if !found {
		t.Fatalf("no handoff line in the app log: %q", log.lines())
	}

	rep, err := eng.Check(ctx, supportWasm)
	if err != nil || len(rep.Violations) > 0 {
		t.Fatalf("check: %v %+v", err, rep)
	}
}
