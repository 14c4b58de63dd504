package passerelle_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	passerelle "github.com/passerelle/passerelle/sdk/go"
	"github.com/passerelle/passerelle/sdk/go/sdktest"
)

func TestErrors(t *testing.T) {
	tests := []struct {
		status   passerelle.Status
		sentinel error
	}{
		{passerelle.StatusBadRequest, passerelle.ErrBadRequest},
		{passerelle.StatusPermissionDenied, passerelle.ErrPermissionDenied},
		{passerelle.StatusNotFound, passerelle.ErrNotFound},
		{passerelle.StatusQuota, passerelle.ErrQuota},
		{passerelle.StatusConsentRequired, passerelle.ErrConsentRequired},
		{passerelle.StatusConflict, passerelle.ErrConflict},
		{passerelle.StatusUnavailable, passerelle.ErrUnavailable},
		{passerelle.StatusInternal, passerelle.ErrInternal},
		{passerelle.StatusUnknownOp, passerelle.ErrUnknownOp},
		{passerelle.StatusInsufficientFunds, passerelle.ErrInsufficientFunds},
		{passerelle.StatusWindowClosed, passerelle.ErrWindowClosed},
		{passerelle.StatusNotOptedIn, passerelle.ErrNotOptedIn},
		{passerelle.StatusOptedOut, passerelle.ErrOptedOut},
		{passerelle.StatusRateLimited, passerelle.ErrRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.status.String(), func(t *testing.T) {
			app := passerelle.NewApp().OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
				_, err := c.SendText(ev.Text)
				return fmt.Errorf("reply: %w", err)
			})
			h := sdktest.New(app)
			h.Handle("chat.send", func([]byte) (any, error) {
				return nil, &passerelle.Error{Status: tt.status, Message: "told why"}
			})
			err := h.Message("x")
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			var pe *passerelle.Error
			if !errors.As(err, &pe) || pe.Op != "chat.send" || pe.Code != tt.status.String() || pe.Message != "told why" {
				t.Fatalf("got %#v", pe)
			}
			if got := passerelle.StatusOf(err); got != tt.status {
				t.Fatalf("StatusOf = %v, want %v", got, tt.status)
			}
		})
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want passerelle.Status
	}{
		{"nil", nil, passerelle.StatusOK},
		{"plain", errors.New("boom"), passerelle.StatusInternal},
		{"bad event", fmt.Errorf("x: %w", passerelle.ErrBadEvent), passerelle.StatusBadRequest},
		{"host error", &passerelle.Error{Op: "kv.get", Status: passerelle.StatusNotFound}, passerelle.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := passerelle.StatusOf(tt.err); got != tt.want {
				t.Fatalf("StatusOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestDispatch(t *testing.T) {
	var got []string
	record := func(c *passerelle.Context, ev *passerelle.Event) error {
		got = append(got, ev.Type+":"+ev.ID)
		return nil
	}
	app := passerelle.NewApp().OnOpen(record).OnMessage(record).OnAction(record).OnPayment(record).OnTimer(record)
	h := sdktest.New(app)
	tests := []struct {
		name    string
		event   string
		want    string
		wantErr error
	}{
		{"open", `{"v":1,"type":"open","id":"1","app":"a"}`, "open:1", nil},
		{"message", `{"v":1,"type":"message","id":"2","app":"a","text":"hi"}`, "message:2", nil},
		{"action", `{"v":1,"type":"action","id":"3","app":"a","action":{"id":"b"}}`, "action:3", nil},
		{"payment", `{"v":1,"type":"payment","id":"4","app":"a","payment":{"order":"o","status":"paid","amount":1,"currency":"EUR"}}`, "payment:4", nil},
		{"timer", `{"v":1,"type":"timer","id":"5","app":"a","timer":{"id":"t"}}`, "timer:5", nil},
		{"unknown fields are ignored", `{"v":1,"type":"open","id":"6","app":"a","new_field":[1,2]}`, "open:6", nil},
		{"unknown type without OnOther", `{"v":1,"type":"call","id":"7","app":"a"}`, "", nil},
		{"empty", ``, "", passerelle.ErrBadEvent},
		{"not JSON", `{"type":`, "", passerelle.ErrBadEvent},
		{"no type", `{"v":1,"id":"8"}`, "", passerelle.ErrBadEvent},
		{"wrong field type", `{"v":1,"type":"message","text":5}`, "", passerelle.ErrBadEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			err := app.Dispatch(h, []byte(tt.event))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if strings.Join(got, ",") != tt.want {
				t.Fatalf("handled %v, want %q", got, tt.want)
			}
		})
	}
	t.Run("no host", func(t *testing.T) {
		if err := app.Dispatch(nil, []byte(`{"type":"open"}`)); err == nil {
			t.Fatal("Dispatch without a Host succeeded")
		}
	})
	t.Run("other", func(t *testing.T) {
		got = nil
		app.OnOther(record)
		if err := app.Dispatch(h, []byte(`{"v":1,"type":"call","id":"9"}`)); err != nil || strings.Join(got, ",") != "call:9" {
			t.Fatalf("err %v, handled %v", err, got)
		}
	})
}

// TestConsentEvent: OnConsent receives the decoded answer; an app without
// OnConsent (built before the event existed) acknowledges and ignores it,
// or hands it to OnOther.
func TestConsentEvent(t *testing.T) {
	const ev = `{"v":1,"type":"consent","id":"e1","app":"lunch","conversation":"cv_1","user":"o_1",` +
		`"consent":{"prompt":"cp_1","scopes":["identity.profile"],"granted":true}}`
	var got []string
	record := func(c *passerelle.Context, ev *passerelle.Event) error {
		s := ev.Type
		if k := ev.Consent; k != nil {
			s += fmt.Sprintf(":%s:%v:%v:%v", k.Prompt, k.Scopes, k.Granted, k.Has("identity.profile"))
		}
		got = append(got, s)
		return nil
	}
	tests := []struct {
		name string
		app  *passerelle.App
		want string
	}{
		{"OnConsent", passerelle.NewApp().OnConsent(record).OnOther(func(*passerelle.Context, *passerelle.Event) error {
			return errors.New("consent reached OnOther")
		}), "consent:cp_1:[identity.profile]:true:true"},
		{"no handler", passerelle.NewApp().OnOpen(record), ""},
		{"OnOther", passerelle.NewApp().OnOther(record), "consent:cp_1:[identity.profile]:true:true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			if err := tt.app.Dispatch(sdktest.New(tt.app), []byte(ev)); err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != tt.want {
				t.Fatalf("handled %v, want %q", got, tt.want)
			}
		})
	}
}

func TestEventIsReset(t *testing.T) {
	var texts []string
	app := passerelle.NewApp().OnOther(func(c *passerelle.Context, ev *passerelle.Event) error {
		texts = append(texts, fmt.Sprintf("%s|%v", ev.Text, ev.Action != nil))
		return nil
	})
	h := sdktest.New(app)
	for _, e := range []string{`{"type":"x","text":"a","action":{"id":"b"}}`, `{"type":"x"}`} {
		if err := app.Dispatch(h, []byte(e)); err != nil {
			t.Fatal(err)
		}
	}
	if want := "a|true,|false"; strings.Join(texts, ",") != want {
		t.Fatalf("got %v, want %s: a field of the previous event leaked", texts, want)
	}
}

func TestPermissions(t *testing.T) {
	tests := []struct {
		name  string
		perms []string
		want  error
	}{
		{"all granted", nil, nil},
		{"chat granted", []string{"chat"}, nil},
		{"chat missing", []string{"storage"}, passerelle.ErrPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := passerelle.NewApp().OnOpen(func(c *passerelle.Context, ev *passerelle.Event) error {
				_, err := c.SendText("hello")
				return err
			})
			h := sdktest.New(app)
			h.Permissions = tt.perms
			if err := h.Open(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSendRequests(t *testing.T) {
	tests := []struct {
		name string
		send func(c *passerelle.Context) (string, error)
		want string
	}{
		{"text", func(c *passerelle.Context) (string, error) { return c.SendText("a <b> & c") }, `{"text":"a <b> & c"}`},
		{"card", func(c *passerelle.Context) (string, error) {
			return c.SendCard(passerelle.Card{Title: "T", Buttons: []passerelle.Button{{ID: "1", Title: "One"}}})
		}, `{"card":{"title":"T","buttons":[{"id":"1","title":"One"}]}}`},
		{"empty is refused", func(c *passerelle.Context) (string, error) { return c.Send(passerelle.Message{}) }, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var id string
			var sendErr error
			app := passerelle.NewApp().OnOpen(func(c *passerelle.Context, ev *passerelle.Event) error {
				id, sendErr = tt.send(c)
				return nil
			})
			h := sdktest.New(app)
			if err := h.Open(); err != nil {
				t.Fatal(err)
			}
			calls := h.Calls()
			if len(calls) != 1 || calls[0].Request != tt.want {
				t.Fatalf("calls %+v, want one with %s", calls, tt.want)
			}
			if tt.want == `{}` {
				if !errors.Is(sendErr, passerelle.ErrBadRequest) || id != "" {
					t.Fatalf("empty message: id %q err %v", id, sendErr)
				}
				return
			}
			if sendErr != nil || id != "m1" {
				t.Fatalf("id %q err %v", id, sendErr)
			}
		})
	}
}

func TestConcurrentDispatch(t *testing.T) {
	app := passerelle.NewApp().OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendText("echo " + ev.Text)
		return err
	})
	h := sdktest.New(app)
	const n = 8
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := h.Message(fmt.Sprintf("%d-%d", g, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	sent := h.Sent()
	if len(sent) != n*50 {
		t.Fatalf("sent %d messages, want %d", len(sent), n*50)
	}
	seen := map[string]bool{}
	for _, m := range sent {
		seen[m.Text] = true
	}
	if len(seen) != n*50 {
		t.Fatalf("%d distinct replies, want %d: a Context was shared between events", len(seen), n*50)
	}
}

func FuzzDispatch(f *testing.F) {
	f.Add([]byte(`{"v":1,"type":"message","id":"1","app":"a","text":"hi"}`))
	f.Add([]byte(`{"v":1,"type":"action","action":{"id":"b","fields":{"a":"b"}}}`))
	f.Add([]byte(`{"type":"timer","timer":{"id":"t","payload":[1,{"x":null}]}}`))
	f.Add([]byte(`not json`))
	app := passerelle.NewApp().OnOther(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendText(ev.Type + ev.Text)
		return err
	})
	h := sdktest.New(app)
	f.Fuzz(func(t *testing.T, event []byte) {
		err := app.Dispatch(h, event)
		if err != nil && !errors.Is(err, passerelle.ErrBadEvent) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
