package sdktest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	passerelle "github.com/passerelle/passerelle/sdk/go"
	"github.com/passerelle/passerelle/sdk/go/sdktest"
)

// TestConsentRules: the app asks for a subscription and an opt-in; the
// requests reach the host as ABI_OPS.md specifies them; with the window
// closed, Notify needs an accepted purpose or an unused subscription (used
// up by one message); Stop refuses everything and tells the app, Start
// tells it again; the answers arrive through OnConsent.
func TestConsentRules(t *testing.T) {
	var told []string
	var notify passerelle.Notification
	app := passerelle.NewApp().
		OnOpen(func(c *passerelle.Context, ev *passerelle.Event) error {
			if _, err := c.RequestSubscription("table-ready", "your table is ready"); err != nil {
				return err
			}
			_, err := c.RequestOptIn("updates", "new dishes, once a month")
			return err
		}).
		OnConsent(func(c *passerelle.Context, ev *passerelle.Event) error {
			k := ev.Consent
			told = append(told, fmt.Sprintf("consent %s%s %v", k.Purpose, k.Template, k.Granted))
			return nil
		}).
		OnOptOut(func(c *passerelle.Context, ev *passerelle.Event) error { told = append(told, "optout"); return nil }).
		OnOptIn(func(c *passerelle.Context, ev *passerelle.Event) error { told = append(told, "optin"); return nil }).
		OnTimer(func(c *passerelle.Context, ev *passerelle.Event) error {
			_, err := c.Notify(notify)
			return err
		})
	h := sdktest.New(app)
	h.WindowClosed = true
	if err := h.Open(); err != nil {
		t.Fatal(err)
	}
	calls := h.Calls()
	if len(calls) != 2 || calls[0].Op != "consent.request_subscription" || calls[0].Request != `{"template":"table-ready","text":"your table is ready"}` ||
		calls[1].Op != "consent.request_optin" || calls[1].Request != `{"purpose":"updates","text":"new dishes, once a month"}` {
		t.Fatalf("calls %+v", calls)
	}
	prompts := h.Prompts()
	if len(prompts) != 2 {
		t.Fatalf("prompts %+v, want two", prompts)
	}
	fire := func(n passerelle.Notification) error {
		notify = n
		return h.Timer(passerelle.Timer{ID: "t"})
	}
	ready := passerelle.Notification{Message: passerelle.Message{Text: "Your table is ready"}, Template: "table-ready"}
	news := passerelle.Notification{Message: passerelle.Message{Text: "Autumn menu"}, Purpose: "updates"}
	steps := []struct {
		name string
		do   func() error
		want error
	}{
		{"no purpose outside the window", func() error { return fire(passerelle.Notification{Message: passerelle.Message{Text: "hi"}}) }, passerelle.ErrWindowClosed},
		{"before the answer", func() error { return fire(ready) }, passerelle.ErrNotOptedIn},
		{"accept the subscription", func() error { return h.AcceptPrompt(prompts[0].ID) }, nil},
		{"decline the opt-in", func() error { return h.DeclinePrompt(prompts[1].ID) }, nil},
		{"the subscription", func() error { return fire(ready) }, nil},
		{"the subscription again", func() error { return fire(ready) }, passerelle.ErrNotOptedIn},
		{"the declined purpose", func() error { return fire(news) }, passerelle.ErrNotOptedIn},
		{"stop", h.Stop, nil},
		{"after stop, in the window", func() error { h.WindowClosed = false; return fire(news) }, passerelle.ErrOptedOut},
		{"start", h.Start, nil},
		{"after start, in the window", func() error { return fire(news) }, nil},
	}
	for _, s := range steps {
		if err := s.do(); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
	}
	if got := strings.Join(told, ","); got != "consent table-ready true,consent updates false,optout,optin" {
		t.Fatalf("the app was told %q", got)
	}
	sent := h.Sent()
	if len(sent) != 2 || sent[0].Text != "Your table is ready" || sent[1].Text != "Autumn menu" {
		t.Fatalf("sent %+v", sent)
	}
	if last := h.Calls(); last[len(last)-1].Request != `{"text":"Autumn menu","purpose":"updates"}` {
		t.Fatalf("chat.notify request %s", last[len(last)-1].Request)
	}
	if err := h.AcceptPrompt(prompts[0].ID); err == nil {
		t.Fatal("a prompt answered twice was accepted again")
	}
}
