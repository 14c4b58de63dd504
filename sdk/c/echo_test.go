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

// The C echo (examples/echo) is the twin of miniapps/echo: these are that
// app's tests, run against the C module in the real sandbox with the
// platform's host services.

const echoDir = "examples/echo"

func load(t *testing.T, opts apptest.Options) (*apptest.Platform, *apptest.Person) {
	t.Helper()
	p := apptest.New(t, echoDir, opts)
	return p, p.NewPerson("Ada")
}

func send(a *apptest.Person, ev host.Event) ([]host.Message, error) {
	msgs, _, err := a.TrySend(ev)
	return msgs, err
}

func TestEcho(t *testing.T) {
	p, ada := load(t, apptest.Options{})
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
		{"escapes survive", host.Event{Type: host.EventMessage, Text: "a\"b\\c\td\u2028e\U0001F600"}, []host.Message{{Text: "echo: a\"b\\c\td\u2028e\U0001F600"}}},
		{"menu shows the card", host.Event{Type: host.EventMessage, Text: "Menu"}, []host.Message{{Card: menu}}},
		{"blank text", host.Event{Type: host.EventMessage, Text: " "}, []host.Message{{Text: "echo: (nothing)"}}},
		{"hello button", host.Event{Type: host.EventAction, Action: &host.Action{ID: "hello"}}, []host.Message{{Text: "Hello, " + ada.OpenID() + "!"}}},
		{"help button", host.Event{Type: host.EventAction, Action: &host.Action{ID: "help"}}, []host.Message{{Text: `Type anything and I repeat it. Type "menu" to see the buttons again.`}}},
		{"unknown button", host.Event{Type: host.EventAction, Action: &host.Action{ID: "nope"}}, []host.Message{{Text: `I do not know that button. Type "menu" to see the buttons again.`}}},
		{"payment is ignored", host.Event{Type: host.EventPayment, Payment: &host.PaymentEvent{Order: "o", Status: "paid", Amount: 1, Currency: "EUR"}}, nil},
		{"unknown event type is ignored", host.Event{Type: "future"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := send(ada, tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if !equalJSON(got, tt.want) {
				t.Fatalf("sent %s, want %s", js(got), js(tt.want))
			}
		})
	}
	if logs := p.Log(); !slices.Contains(logs, `log WARN unknown button "nope"`) {
		t.Errorf("app log %q lacks the warning about the unknown button", logs)
	}
	if st := p.App.Stats(); st.Created != 1 || st.Discarded != 0 {
		t.Errorf("pool %+v: every event should reuse the one warm instance", st)
	}
}

// TestPressButtonFromCard opens the app, takes the card it drew and presses
// its second button with the id and value the card carries.
func TestPressButtonFromCard(t *testing.T) {
	_, ada := load(t, apptest.Options{})
	got, err := send(ada, host.Event{Type: host.EventOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Card == nil || len(got[0].Card.Buttons) < 2 {
		t.Fatalf("open sent %s, want one card with buttons", js(got))
	}
	b := got[0].Card.Buttons[1]
	got, err = send(ada, host.Event{Type: host.EventAction, Action: &host.Action{ID: b.ID, Value: b.Value}})
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
			p, ada := load(t, apptest.Options{Funcs: []host.Func{{Op: "chat.send", Permission: host.PermChat,
				Handle: func(context.Context, *host.Call, []byte) ([]byte, error) {
					return nil, host.Errorf(tt.status, "try again later")
				}}}})
			_, err := send(ada, host.Event{Type: host.EventMessage, Text: "hi"})
			var ge *sandbox.GuestError
			if !errors.As(err, &ge) || ge.Status != uint32(tt.status) {
				t.Fatalf("err = %v, want GuestError with status %d", err, tt.status)
			}
			want := "log ERROR chat.send: " + tt.code + ": try again later"
			if logs := p.Log(); !slices.Contains(logs, want) {
				t.Fatalf("app log %q lacks %q", logs, want)
			}
			if _, err := send(ada, host.Event{Type: host.EventOpen}); !errors.As(err, &ge) {
				t.Fatalf("instance did not live on after a failed call: %v", err)
			}
			if st := p.App.Stats(); st.Discarded != 0 {
				t.Fatalf("pool %+v: a failed call must not discard the instance", st)
			}
		})
	}
}

// TestImports checks the linker kept only the operations echo uses, so the
// platform accepts it with the "chat" permission alone, and that the module
// is a small reactor.
func TestImports(t *testing.T) {
	p, _ := load(t, apptest.Options{})
	rep, err := p.Engine.Check(context.Background(), p.Wasm)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		t.Fatalf("violations: %+v", rep.Violations)
	}
	var ours []string
	for _, imp := range rep.Imports {
		if !strings.HasPrefix(imp, "passerelle_v1.") {
			t.Errorf("import %s: the C SDK imports nothing but passerelle_v1", imp)
		}
		ours = append(ours, imp)
	}
	slices.Sort(ours)
	want := []string{"passerelle_v1.chat_send", "passerelle_v1.event_read", "passerelle_v1.log", "passerelle_v1.result_read"}
	if !slices.Equal(ours, want) {
		t.Fatalf("imports %v, want %v", ours, want)
	}
	exports := slices.Clone(rep.Exports)
	slices.Sort(exports)
	if want := []string{"memory", "passerelle_v1_on_event"}; !slices.Equal(exports, want) {
		t.Fatalf("exports %v, want %v", exports, want)
	}
	if len(p.Wasm) > 64<<10 {
		t.Errorf("echo is %d bytes: the C SDK's modules should stay in tens of KB", len(p.Wasm))
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
