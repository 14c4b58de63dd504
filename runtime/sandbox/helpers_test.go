package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// fixture returns testdata/<name>.wasm with a manifest embedded.
func fixture(t testing.TB, name string, perms []host.Permission, limits host.Limits) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	m := &host.Manifest{ABI: host.ABIVersion, ID: "fx-" + sanitize(name), Name: name, Version: "1.0.0",
		Permissions: perms, Limits: limits}
	out, err := wasmfile.EmbedManifest(raw, m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func rawFixture(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	return string(b)
}

var chat = []host.Permission{host.PermChat}

// chatSend is the test's chat.send: it emits the request as a message.
func chatSend() host.Func {
	return host.Func{Op: "chat.send", Permission: host.PermChat,
		Handle: func(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
			if len(req) > 0 && req[0] == '"' {
				return nil, host.Errorf(host.StatusQuota, "too many messages; wait a minute")
			}
			// The request travels as the message's text, for the tests to compare.
			err := c.Emit(ctx, host.Outgoing{App: c.Caller.App,
				Conversation: c.Caller.Conversation, Message: &host.Message{Text: string(req)}})
			if err != nil {
				return nil, err
			}
			return []byte(`{"id":"m1"}`), nil
		}}
}

// payFunc is offered but not granted to the fixtures.
func payFunc() host.Func {
	return host.Func{Op: "pay.request", Permission: host.PermPay,
		Handle: func(context.Context, *host.Call, []byte) ([]byte, error) { return []byte(`{}`), nil }}
}

type outbox struct {
	mu  sync.Mutex
	out []host.Outgoing
}

func (o *outbox) Emit(_ context.Context, m host.Outgoing) error {
	o.mu.Lock()
	o.out = append(o.out, m)
	o.mu.Unlock()
	return nil
}

func (o *outbox) all() []host.Outgoing {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]host.Outgoing(nil), o.out...)
}

type appLog struct {
	mu   sync.Mutex
	recs []sandbox.LogRecord
}

func (l *appLog) AppLog(_ host.AppRef, rec sandbox.LogRecord) {
	l.mu.Lock()
	l.recs = append(l.recs, rec)
	l.mu.Unlock()
}

func (l *appLog) find(source string) []sandbox.LogRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []sandbox.LogRecord
	for _, r := range l.recs {
		if r.Source == source {
			out = append(out, r)
		}
	}
	return out
}

func newEngine(t testing.TB, edit func(*sandbox.Config)) (*sandbox.Engine, *appLog) {
	t.Helper()
	logs := &appLog{}
	// A long default deadline: on a loaded machine a scheduling stall must
	// not fail a good event. Tests of deadlines set their own, up to the
	// ceiling of two minutes.
	cfg := sandbox.Config{Funcs: []host.Func{chatSend(), payFunc()}, AppLog: logs, PoolSize: 2,
		Defaults: host.Limits{EventTimeoutMS: 30000}, Max: host.Limits{EventTimeoutMS: 120000}}
	if edit != nil {
		edit(&cfg)
	}
	e, err := sandbox.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e, logs
}

func load(t testing.TB, e *sandbox.Engine, wasm []byte) *sandbox.App {
	t.Helper()
	a, err := e.Load(context.Background(), host.AppRef{Merchant: "m1"}, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

const payload = `{"v":1,"type":"message","id":"e1","app":"fx-echo","text":"hi"}`

func event(out host.Outbox) *sandbox.Event {
	return &sandbox.Event{Payload: []byte(payload), Caller: host.Caller{EventID: "e1", Conversation: "c1"}, Out: out}
}
