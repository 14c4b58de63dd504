package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/bridge"
	"github.com/passerelle/passerelle/gateway/connector/connstore"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
)

// tmpls is the merchant's registered templates by connection, as
// connstore keeps them.
type tmpls struct {
	mu sync.Mutex
	m  map[string][]connstore.Template
}

func (t *tmpls) Template(_ context.Context, conn, name string) (connstore.Template, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, x := range t.m[conn] {
		if x.Name == connstore.TemplateName(name) {
			return x, nil
		}
	}
	return connstore.Template{}, fmt.Errorf("%s: %w", name, connstore.ErrNoTemplate)
}

var tableReady = connstore.Template{Name: "table_ready", Language: "en_US", Category: "UTILITY",
	Body: "Your table for {{1}} is ready, come in.", Examples: []string{"4"}}

// templateStack is a stack whose WhatsApp simulator enforces the 24-hour
// window and templates, with table_ready registered at Meta and for the
// connection; Meta's clock is meta, the bridge's is br.
func templateStack(t *testing.T, meta, br *clock) *stack {
	t.Helper()
	reg := &tmpls{m: map[string][]connstore.Template{"c_wa": {tableReady}}}
	if err := connstore.ValidateTemplate(tableReady); err != nil {
		t.Fatal(err)
	}
	failed := make(chan metasim.Sent, 64)
	s := newStack(t, stackOpts{wa: metasim.Config{Windows: true, Templates: true, Now: meta.Now,
		OnAccept: func(m metasim.Sent) {
			if m.Fail != 0 {
				failed <- m
			}
		}},
		ms:        metasim.MessengerConfig{Windows: true, Now: meta.Now},
		configure: func(c *bridge.Config) { c.Templates, c.Now = reg, br.Now }})
	s.failed = failed
	if err := s.wa.RegisterTemplate(metasim.Template{Name: tableReady.Name, Language: tableReady.Language, Category: tableReady.Category,
		Body: tableReady.Body, Examples: tableReady.Examples}); err != nil {
		t.Fatal(err)
	}
	return s
}

// notify stores in conv the message chat.notify emits under basis.
func (s *stack) notify(conv, id, text string, basis *host.Basis) {
	s.t.Helper()
	if err := s.gw.Emit(context.Background(), host.Outgoing{App: host.AppRef{Merchant: merchant, App: "lunch"}, Conversation: conv,
		Message: &host.Message{Text: text}, ID: id, Basis: basis}); err != nil {
		s.t.Fatal(err)
	}
}

type sentTemplate struct {
	Template struct {
		Name     string `json:"name"`
		Language struct {
			Code string `json:"code"`
		} `json:"language"`
		Components []struct {
			Parameters []struct {
				Text string `json:"text"`
			} `json:"parameters"`
		} `json:"components"`
	} `json:"template"`
}

func decodeTemplate(t *testing.T, m metasim.Sent) (name string, params []string) {
	t.Helper()
	if m.Type != "template" {
		t.Fatalf("sent a %s, want a template: %s", m.Type, m.Body)
	}
	var st sentTemplate
	if err := json.Unmarshal(m.Body, &st); err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Template.Components {
		for _, p := range c.Parameters {
			params = append(params, p.Text)
		}
	}
	return st.Template.Name, params
}

// TestNotifyOutsideWindowGoesAsTemplate: a business-initiated message to
// a person who last wrote 25 hours ago goes as the registered template of
// its name, filled with its params; Meta accepts it.
func TestNotifyOutsideWindowGoesAsTemplate(t *testing.T) {
	clk := newClock()
	s := templateStack(t, clk, clk)
	const who = "15550031"
	s.wa.Inbound(who, clk.Now())
	s.deliver(s.waHook, waText(who, "Ada", s.wamid(), "hi"))
	_, n := s.nextWA(0)
	_, conv := s.personConv(who)

	clk.Add(25 * time.Hour)
	s.notify(conv, "msg_ready1", "Your table for 4 is ready", &host.Basis{Template: "table-ready", Params: []string{"4"}})
	waitFor(t, "the template", func() bool { return len(s.wa.Sent()) > n })
	name, params := decodeTemplate(t, s.wa.Sent()[n])
	if name != "table_ready" || !slices.Equal(params, []string{"4"}) {
		t.Fatalf("sent template %s %v", name, params)
	}
	if got := s.metric("passerelle_connector_retries_total", map[string]string{"class": "window_closed"}); got != 0 {
		t.Fatalf("a known closed window was tried as text first (%v retries)", got)
	}
}

// reportFailed posts the failed status Meta reports for the next message
// the WhatsApp simulator accepted and failed (131047 outside the window),
// and returns that message.
func (s *stack) reportFailed() metasim.Sent {
	s.t.Helper()
	select {
	case m := <-s.failed:
		s.deliver(s.waHook, waStatus(m.ID, "failed", m.To, m.Fail))
		return m
	case <-time.After(20 * time.Second):
		s.t.Fatal("no message failed at Meta")
	}
	return metasim.Sent{}
}

// TestWindowClosedResendsAsTemplate: when the bridge does not know the
// window closed (Meta's record of the person's last message is older),
// WhatsApp accepts the text and reports it failed with 131047 in a status
// webhook, as Cloud API does; the same message goes once more, as the
// template. A redelivery of that status sends nothing more.
func TestWindowClosedResendsAsTemplate(t *testing.T) {
	meta, br := newClock(), newClock()
	s := templateStack(t, meta, br)
	const who = "15550032"
	s.wa.Inbound(who, meta.Now())
	s.deliver(s.waHook, waText(who, "Bea", s.wamid(), "hi"))
	_, n := s.nextWA(0)
	_, conv := s.personConv(who)

	meta.Add(30 * time.Hour) // only Meta sees the time pass
	s.notify(conv, "msg_ready2", "Your table for 2 is ready", &host.Basis{Template: "table-ready", Params: []string{"2"}})
	text := s.reportFailed()
	if text.Type != "text" {
		t.Fatalf("first went as %s", text.Type)
	}
	waitFor(t, "the template", func() bool { return len(s.wa.Sent()) > n+1 })
	name, params := decodeTemplate(t, s.wa.Sent()[n+1])
	if name != "table_ready" || !slices.Equal(params, []string{"2"}) {
		t.Fatalf("sent template %s %v", name, params)
	}
	if got := s.metric("passerelle_connector_retries_total", map[string]string{"class": "window_closed"}); got != 1 {
		t.Fatalf("%v resends after 131047, want 1", got)
	}
	s.deliver(s.waHook, waStatus(text.ID, "failed", who, 131047))
	s.deliver(s.waHook, waStatus(s.wa.Sent()[n+1].ID, "delivered", who, 0))
	waitFor(t, "the template delivered", func() bool {
		return s.metric("passerelle_connector_statuses_total", map[string]string{"state": "delivered"}) == 1
	})
	if got := len(s.wa.Sent()); got != n+2 {
		t.Fatalf("%d messages sent, want %d: the message went twice", got, n+2)
	}
	if l := s.appLog.all(); slices.ContainsFunc(l, func(l string) bool { return strings.Contains(l, "window_closed") }) {
		t.Fatalf("a refusal in the app's log: %q", l)
	}
}

// TestWindowClosedWithoutTemplate: outside the window, a message whose
// purpose has no registered template, and an app's plain answer, are
// coded refusals in the app's log; nothing is sent.
func TestWindowClosedWithoutTemplate(t *testing.T) {
	clk := newClock()
	s := templateStack(t, clk, clk)
	const who = "15550033"
	s.wa.Inbound(who, clk.Now())
	s.deliver(s.waHook, waText(who, "Cy", s.wamid(), "hi"))
	_, n := s.nextWA(0)
	_, conv := s.personConv(who)

	clk.Add(25 * time.Hour)
	s.notify(conv, "msg_upd", "Autumn menu is in", &host.Basis{Purpose: "updates"})
	s.notify(conv, "msg_few", "Your table is ready", &host.Basis{Template: "table-ready"}) // no params for {{1}}
	waitFor(t, "two refusals", func() bool {
		var k int
		for _, l := range s.appLog.all() {
			if strings.HasPrefix(l, "lunch window_closed:") {
				k++
			}
		}
		return k == 2
	})
	log := strings.Join(s.appLog.all(), "\n")
	for _, want := range []string{"msg_upd", "no template updates registered", "msg_few", "1 parameters and the message gave 0 params"} {
		if !strings.Contains(log, want) {
			t.Errorf("the app's log lacks %q:\n%s", want, log)
		}
	}
	if got := len(s.wa.Sent()); got != n {
		t.Fatalf("%d messages sent, want %d", got, n)
	}
}

// TestAgentAnswerOnMessenger: a member of staff's answer goes as usual
// within 24 hours, under HUMAN_AGENT within 7 days, and is refused with a
// reason after; Meta's simulator enforces both windows.
func TestAgentAnswerOnMessenger(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := templateStack(t, clk, clk)
	const psid = "7001"
	s.ms.Inbound(psid, clk.Now())
	s.deliver(s.msHook, msMessage(psid, map[string]any{"mid": "m.1", "text": "hi"}))
	waitFor(t, "the app's answer", func() bool { return len(s.ms.Sent()) > 0 })
	p, err := s.svc.Identity.PersonByAccount(ctx, identity.Account{Surface: connector.NetworkMessenger, External: psid})
	if err != nil {
		t.Fatal(err)
	}
	conv := gateway.NetworkConvID("lunch", "c_page", p.ID)
	agent := func(id, text string) {
		if err := s.gw.Emit(ctx, host.Outgoing{App: host.AppRef{Merchant: merchant, App: "lunch"}, Conversation: conv,
			Message: &host.Message{Text: text}, ID: id, Agent: "Ana"}); err != nil {
			t.Fatal(err)
		}
	}

	clk.Add(3 * 24 * time.Hour)
	n := len(s.ms.Sent())
	agent("msg_a1", "Sorry for the wait: your refund is on its way")
	waitFor(t, "the agent's answer", func() bool { return len(s.ms.Sent()) > n })
	if got := s.ms.Sent()[n]; got.MessagingType != "MESSAGE_TAG" || got.Tag != "HUMAN_AGENT" {
		t.Fatalf("sent as %s/%s, want MESSAGE_TAG/HUMAN_AGENT", got.MessagingType, got.Tag)
	}
	// The Page is the sender on Messenger: the agent's name leads the text.
	if got := string(s.ms.Sent()[n].Body); !strings.Contains(got, `"text":"Ana: Sorry for the wait`) {
		t.Fatalf("the agent's answer went as %s", got)
	}

	clk.Add(5 * 24 * time.Hour)
	agent("msg_a2", "Anything else?")
	waitFor(t, "the refusal", func() bool {
		return slices.ContainsFunc(s.appLog.all(), func(l string) bool {
			return strings.HasPrefix(l, "lunch window_closed:") && strings.Contains(l, "msg_a2") && strings.Contains(l, "7 days")
		})
	})
	if got := len(s.ms.Sent()); got != n+1 {
		t.Fatalf("%d Messenger sends, want %d", got, n+1)
	}
}
