//go:build !wasip1

package csdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apptest"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

type collect struct{ msgs []host.Message }

func (c *collect) Emit(_ context.Context, out host.Outgoing) error {
	if out.Message == nil {
		return fmt.Errorf("outgoing %+v carries no message", out)
	}
	c.msgs = append(c.msgs, *out.Message)
	return nil
}

// FuzzDecodeEvent hands the C echo arbitrary event payloads, as a host of
// another version might send them, and holds the SDK's JSON reader to
// encoding/json: what Go rejects is a bad event (status 1, logged), a
// message event is echoed with the text Go decodes, and no payload traps or
// costs the instance.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"type":"message","id":"e","app":"echo","text":"hi"}`,
		`{"type":"message","text":"a\u00e9\ud83d\ude00\n\"\\\/"}`,
		`{"type":"message","text":"x","text":"last wins","extra":[1,2,{"a":null}],"n":-1.5e-3}`,
		`{"type":"message","text":"\ud800 lone"}`,
		`{"type":"message","text":17}`,
		`{"type":"open"}`, `{"type":"action","action":{"id":"nope","fields":{"a":"b"}}}`,
		`{"type":1}`, `[]`, `"str"`, `{"type":"message",}`, `{"type":"message","text":"\x"}`,
		"{\"type\":\"message\",\"text\":\"\xff\xfe\"}", ` {"type" : "message" , "text" : " spaced " } `,
		strings.Repeat("[", 300) + strings.Repeat("]", 300), `{"type":"message","text":"` + strings.Repeat("é", 3000) + `"}`,
	} {
		f.Add([]byte(s))
	}
	p := apptest.New(f, echoDir, apptest.Options{})
	ctx := context.Background()
	// The events go straight to the sandbox: tell the consent rules that
	// p1 wrote, so that the app's answers are in the service window.
	if err := p.Services.Consent.Touch(ctx, "p1", p.Ref.Merchant, time.Now()); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		out := &collect{}
		_, err := p.App.Dispatch(ctx, &sandbox.Event{Payload: payload, Out: out, Caller: host.Caller{Person: "p1", Conversation: "cv_1", Surface: "web", EventID: "e1"}})
		if st := p.App.Stats(); st.Discarded != 0 {
			t.Fatalf("%q: an instance was discarded (%v): %+v", payload, err, st)
		}
		var ge *sandbox.GuestError
		status := uint32(0)
		if errors.As(err, &ge) {
			status = ge.Status
		} else if err != nil {
			t.Fatalf("%q: %v", payload, err)
		}
		var ev map[string]any
		if json.Unmarshal(payload, &ev) != nil {
			if status != 1 {
				t.Fatalf("%q: not an event for encoding/json, yet on_event returned %d and sent %+v", payload, status, out.msgs)
			}
			return
		}
		typ, _ := ev["type"].(string)
		if typ == "" {
			if status != 1 {
				t.Fatalf("%q: no type, yet on_event returned %d", payload, status)
			}
			return
		}
		if status != 0 {
			t.Fatalf("%q: on_event returned %d for a valid %q event (log %q)", payload, status, typ, p.Log())
		}
		text, _ := ev["text"].(string)
		if typ != host.EventMessage || strings.ContainsRune(text, 0) {
			return // a NUL ends a C string: the echo is shorter
		}
		want := strings.Trim(text, " \t\n\v\f\r")
		if want == "" {
			want = "(nothing)"
		}
		if strings.EqualFold(want, "menu") {
			return
		}
		if len(out.msgs) != 1 || out.msgs[0].Text != "echo: "+want {
			t.Fatalf("%q: sent %+v, want the text %q", payload, out.msgs, "echo: "+want)
		}
	})
}
