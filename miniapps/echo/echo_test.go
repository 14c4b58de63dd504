//go:build !wasip1

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"passerelle/host"
	"passerelle/runtime/sandbox"
	"passerelle/runtime/wasmfile"
)

// echoWasm is the echo app built once per test binary by TestMain with the
// real Go toolchain, manifest embedded. cacheDir is the compilation cache the
// tests share, so echo is compiled once.
var (
	echoWasm []byte
	cacheDir string
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "echo-wasm-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		cacheDir = filepath.Join(dir, "cache")
		if echoWasm, err = buildEcho(dir); err != nil {
			fmt.Fprintln(os.Stderr, "build echo:", err)
			return 1
		}
		return m.Run()
	}())
}

// buildEcho compiles this directory for wasip1 as a reactor, the way
// `passerelle app build` does, and embeds manifest.json.
func buildEcho(dir string) ([]byte, error) {
	out := filepath.Join(dir, "echo.wasm")
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

// outbox records what the app sent.
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

// appLog records the app's log.
type appLog struct {
	mu   sync.Mutex
	recs []sandbox.LogRecord
}

func (l *appLog) AppLog(_ host.AppRef, rec sandbox.LogRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, rec)
}

func (l *appLog) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s []string
	for _, r := range l.recs {
		s = append(s, r.Source+" "+r.Level.String()+" "+r.Message)
	}
	return s
}

// chatSend is a test chat.send: it checks the request is a message and
// emits it, like the platform's.
func chatSend(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	var m host.Message
	if err := json.Unmarshal(req, &m); err != nil || (m.Text == "" && m.Card == nil) {
		return nil, host.Errorf(host.StatusBadRequest, "not a message: %s", req)
	}
	if err := c.Out.Emit(ctx, host.Outgoing{Kind: "message", App: c.Caller.App, Conversation: c.Caller.Conversation, Body: req}); err != nil {
		return nil, err
	}
	return []byte(`{"id":"m1"}`), nil
}

type fixture struct {
	app *sandbox.App
	out *outbox
	log *appLog
	seq int
}

func load(t testing.TB, send host.Func) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{out: &outbox{}, log: &appLog{}}
	eng, err := sandbox.New(ctx, sandbox.Config{
		CacheDir: cacheDir,
		Funcs:    []host.Func{send},
		PoolSize: 1,
		Logger:   slog.New(slog.DiscardHandler),
		AppLog:   f.log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	f.app, err = eng.Load(ctx, host.AppRef{Merchant: "m1"}, echoWasm)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) send(t testing.TB, ev host.Event) ([]host.Message, error) {
	t.Helper()
	f.seq++
	ev.V, ev.ID, ev.App = 1, fmt.Sprintf("ev%d", f.seq), "echo"
	ev.Conversation, ev.User, ev.Surface = "c1", "u_42", "web"
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.app.Dispatch(context.Background(), &sandbox.Event{
		Payload: payload,
		Caller:  host.Caller{Person: "p1", Conversation: "c1", Surface: "web", EventID: ev.ID},
		Out:     f.out,
	})
	return f.out.take(), err
}

var chatFunc = host.Func{Op: "chat.send", Permission: host.PermChat, Handle: chatSend}

func TestEcho(t *testing.T) {
	f := load(t, chatFunc)
	menu := &host.Card{
		Title: "Echo",
		Text:  "Send me anything and I will say it back.",
		Buttons: []host.Button{
			{ID: "hello", Title: "Say hello"},
			{ID: "shout", Title: "Shout", Value: "hello there"},
			{ID: "help", Title: "Help"},
		},
	}
	tests := []struct {
		name string
		ev   host.Event
		want []host.Message
	}{
		{"open shows the menu", host.Event{Type: host.EventOpen}, []host.Message{{Card: menu}}},
		{"text is echoed", host.Event{Type: host.EventMessage, Text: "hello"}, []host.Message{{Text: "echo: hello"}}},
		{"unicode survives", host.Event{Type: host.EventMessage, Text: "  café ☕ <b>&  "}, []host.Message{{Text: "echo: café ☕ <b>&"}}},
		{"menu shows the card", host.Event{Type: host.EventMessage, Text: "Menu"}, []host.Message{{Card: menu}}},
		{"blank text", host.Event{Type: host.EventMessage, Text: " "}, []host.Message{{Text: "echo: (nothing)"}}},
		{"hello button", host.Event{Type: host.EventAction, Action: &host.Action{ID: "hello"}}, []host.Message{{Text: "Hello, u_42!"}}},
		{"help button", host.Event{Type: host.EventAction, Action: &host.Action{ID: "help"}}, []host.Message{{Text: `Type anything and I repeat it. Type "menu" to see the buttons again.`}}},
		{"unknown button", host.Event{Type: host.EventAction, Action: &host.Action{ID: "nope"}}, []host.Message{{Text: `I do not know that button. Type "menu" to see the buttons again.`}}},
		{"payment is ignored", host.Event{Type: host.EventPayment, Payment: &host.PaymentEvent{Order: "o", Status: "paid", Amount: 1, Currency: "EUR"}}, nil},
		{"unknown event type is ignored", host.Event{Type: "future"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.send(t, tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if !equalJSON(got, tt.want) {
				t.Fatalf("sent %s, want %s", js(got), js(tt.want))
			}
		})
	}
	if logs := f.log.messages(); !slices.Contains(logs, `log WARN unknown button "nope"`) {
		t.Errorf("app log %q lacks the warning about the unknown button", logs)
	}
	if st := f.app.Stats(); st.Created != 1 || st.Discarded != 0 {
		t.Errorf("pool %+v: every event should reuse the one warm instance", st)
	}
}

// TestPressButtonFromCard opens the app, takes the card it drew and presses
// its second button with the id and value the card carries.
func TestPressButtonFromCard(t *testing.T) {
	f := load(t, chatFunc)
	got, err := f.send(t, host.Event{Type: host.EventOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Card == nil || len(got[0].Card.Buttons) < 2 {
		t.Fatalf("open sent %s, want one card with buttons", js(got))
	}
	b := got[0].Card.Buttons[1]
	got, err = f.send(t, host.Event{Type: host.EventAction, Action: &host.Action{ID: b.ID, Value: b.Value}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []host.Message{{Text: "HELLO THERE!"}}; !equalJSON(got, want) {
		t.Fatalf("pressing %q sent %s, want %s", b.Title, js(got), js(want))
	}
}

// TestHostErrorReachesHost checks the SDK's error path: a failed chat.send
// makes on_event return the call's status and write the error to the log.
func TestHostErrorReachesHost(t *testing.T) {
	tests := []struct {
		status host.Status
		code   string
	}{
		{host.StatusQuota, "quota_exceeded"},
		{host.StatusUnavailable, "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			f := load(t, host.Func{Op: "chat.send", Permission: host.PermChat,
				Handle: func(context.Context, *host.Call, []byte) ([]byte, error) {
					return nil, host.Errorf(tt.status, "try again later")
				}})
			_, err := f.send(t, host.Event{Type: host.EventMessage, Text: "hi"})
			var ge *sandbox.GuestError
			if !errors.As(err, &ge) || ge.Status != uint32(tt.status) {
				t.Fatalf("err = %v, want GuestError with status %d", err, tt.status)
			}
			want := "log ERROR chat.send: " + tt.code + ": try again later"
			if logs := f.log.messages(); !slices.Contains(logs, want) {
				t.Fatalf("app log %q lacks %q", logs, want)
			}
			if _, err := f.send(t, host.Event{Type: host.EventOpen}); !errors.As(err, &ge) {
				t.Fatalf("instance did not live on after a failed call: %v", err)
			}
		})
	}
}

// TestImports checks the linker kept only the operations echo uses, so the
// platform accepts it with the "chat" permission alone.
func TestImports(t *testing.T) {
	ctx := context.Background()
	eng, err := sandbox.New(ctx, sandbox.Config{CacheDir: cacheDir, Funcs: []host.Func{chatFunc,
		{Op: "kv.get", Permission: host.PermStorage, Handle: chatSend}}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	rep, err := eng.Check(ctx, echoWasm)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		t.Fatalf("violations: %+v", rep.Violations)
	}
	var ours []string
	for _, imp := range rep.Imports {
		if strings.HasPrefix(imp, "passerelle_v1.") {
			ours = append(ours, imp)
		}
	}
	slices.Sort(ours)
	want := []string{"passerelle_v1.chat_send", "passerelle_v1.event_read", "passerelle_v1.log", "passerelle_v1.result_read"}
	if !slices.Equal(ours, want) {
		t.Fatalf("imports %v, want %v", ours, want)
	}
	if !slices.Contains(rep.Exports, "_initialize") || slices.Contains(rep.Exports, "_start") {
		t.Fatalf("exports %v: want a reactor", rep.Exports)
	}
}

func equalJSON(a, b []host.Message) bool { return js(a) == js(b) }

func js(v []host.Message) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
