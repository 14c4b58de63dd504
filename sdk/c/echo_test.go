//go:build !wasip1

package csdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apptest"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// The C echo (examples/echo) is the twin of miniapps/echo, whose tests are
// its spec: these tests run both modules side by side, each in the real
// sandbox with the platform's host services, and compare what they send
// and log.

const (
	echoDir   = "examples/echo"
	goEchoDir = "../../miniapps/echo"
)

type twins struct {
	goP, cP *apptest.Platform
	goA, cA *apptest.Person
}

func loadTwins(t *testing.T, opts apptest.Options) *twins {
	t.Helper()
	tw := &twins{goP: apptest.New(t, goEchoDir, opts), cP: apptest.New(t, echoDir, opts)}
	tw.goA, tw.cA = tw.goP.NewPerson("Ada"), tw.cP.NewPerson("Ada")
	return tw
}

// send gives both echoes ev and fails t unless they sent the same
// messages (the person's id in each platform aside) and returned the same
// status; it returns the C echo's messages and error.
func (tw *twins) send(t *testing.T, ev host.Event) ([]host.Message, error) {
	t.Helper()
	goMsgs, _, goErr := tw.goA.TrySend(ev)
	cMsgs, _, cErr := tw.cA.TrySend(ev)
	if g, c := strings.ReplaceAll(js(goMsgs), tw.goA.OpenID(), "ID"), strings.ReplaceAll(js(cMsgs), tw.cA.OpenID(), "ID"); g != c {
		t.Fatalf("%s:\nGo echo sent %s\nC echo sent  %s", apptest.JSON(ev), g, c)
	}
	if status(goErr) != status(cErr) {
		t.Fatalf("%s: Go echo %v, C echo %v", apptest.JSON(ev), goErr, cErr)
	}
	return cMsgs, cErr
}

// logs fails t unless both echoes wrote the same log lines.
func (tw *twins) logs(t *testing.T) {
	t.Helper()
	if g, c := tw.goP.Log(), tw.cP.Log(); !slices.Equal(g, c) {
		t.Fatalf("Go echo logged %q\nC echo logged  %q", g, c)
	}
}

func status(err error) uint32 {
	var ge *sandbox.GuestError
	if errors.As(err, &ge) {
		return ge.Status
	}
	if err != nil {
		return 1 << 31
	}
	return 0
}

func TestEchoSameAsGo(t *testing.T) {
	tw := loadTwins(t, apptest.Options{})
	for _, ev := range []host.Event{
		{Type: host.EventOpen},
		{Type: host.EventMessage, Text: "hello"},
		{Type: host.EventMessage, Text: "  café ☕ <b>&  "},
		{Type: host.EventMessage, Text: "a\"b\\c\td\u2028e\U0001F600\x7f"},
		{Type: host.EventMessage, Text: "Menu"},
		{Type: host.EventMessage, Text: " "},
		{Type: host.EventMessage, Text: strings.Repeat("long ", 800)},
		{Type: host.EventAction, Action: &host.Action{ID: "hello"}},
		{Type: host.EventAction, Action: &host.Action{ID: "shout", Value: "hello there"}},
		{Type: host.EventAction, Action: &host.Action{ID: "help"}},
		{Type: host.EventAction, Action: &host.Action{ID: "nope\n\"x\""}},
		{Type: host.EventPayment, Payment: &host.PaymentEvent{Order: "o", Status: "paid", Amount: 1, Currency: "EUR"}},
		{Type: "future"},
	} {
		if _, err := tw.send(t, ev); err != nil {
			t.Fatalf("%s: %v", apptest.JSON(ev), err)
		}
	}
	tw.logs(t)
	if !slices.Contains(tw.cP.Log(), `log WARN unknown button "nope\n\"x\""`) {
		t.Errorf("app log %q lacks the warning about the unknown button", tw.cP.Log())
	}
	if st := tw.cP.App.Stats(); st.Created != 1 || st.Discarded != 0 {
		t.Errorf("pool %+v: every event should reuse the one warm instance", st)
	}
}

// TestHostErrorReachesHost checks the SDK's error path against the Go
// SDK's: a failed chat.send makes on_event return the call's status and
// write the error to the log, and the instance lives on.
func TestHostErrorReachesHost(t *testing.T) {
	for _, st := range []host.Status{host.StatusQuota, host.StatusUnavailable} {
		t.Run(st.String(), func(t *testing.T) {
			tw := loadTwins(t, apptest.Options{Funcs: []host.Func{{Op: "chat.send", Permission: host.PermChat,
				Handle: func(context.Context, *host.Call, []byte) ([]byte, error) {
					return nil, host.Errorf(st, "try again later")
				}}}})
			if _, err := tw.send(t, host.Event{Type: host.EventMessage, Text: "hi"}); status(err) != uint32(st) {
				t.Fatalf("err = %v, want GuestError with status %d", err, st)
			}
			if _, err := tw.send(t, host.Event{Type: host.EventOpen}); status(err) != uint32(st) {
				t.Fatalf("instance did not live on after a failed call: %v", err)
			}
			tw.logs(t)
			if want := "log ERROR chat.send: " + st.String() + ": try again later"; !slices.Contains(tw.cP.Log(), want) {
				t.Fatalf("app log %q lacks %q", tw.cP.Log(), want)
			}
			if s := tw.cP.App.Stats(); s.Discarded != 0 {
				t.Fatalf("pool %+v: a failed call must not discard the instance", s)
			}
		})
	}
}

// TestImports checks the linker kept only the operations echo uses, so the
// platform accepts it with the "chat" permission alone, and that the module
// is a small reactor with no WASI.
func TestImports(t *testing.T) {
	p := apptest.New(t, echoDir, apptest.Options{})
	rep, err := p.Engine.Check(context.Background(), p.Wasm)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		t.Fatalf("violations: %+v", rep.Violations)
	}
	imports := slices.Sorted(slices.Values(rep.Imports))
	want := []string{"passerelle_v1.chat_send", "passerelle_v1.event_read", "passerelle_v1.log", "passerelle_v1.result_read"}
	if !slices.Equal(imports, want) {
		t.Fatalf("imports %v, want %v", imports, want)
	}
	if exports := slices.Sorted(slices.Values(rep.Exports)); !slices.Equal(exports, []string{"memory", "passerelle_v1_on_event"}) {
		t.Fatalf("exports %v, want memory and passerelle_v1_on_event", exports)
	}
	if len(p.Wasm) > 64<<10 {
		t.Errorf("echo is %d bytes: the C SDK's modules should stay in tens of KB", len(p.Wasm))
	}
}

func js(v []host.Message) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
