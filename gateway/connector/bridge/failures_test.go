package bridge_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/bridge"
	"github.com/passerelle/passerelle/host"
)

// windowLog waits for a window_closed line in the app's log naming key
// and returns it.
func (s *stack) windowLog(key string) string {
	s.t.Helper()
	var line string
	waitFor(s.t, "the refusal of "+key+" in the app's log", func() bool {
		for _, l := range s.appLog.all() {
			if strings.HasPrefix(l, "lunch window_closed:") && strings.Contains(l, key) {
				line = l
				return true
			}
		}
		return false
	})
	return line
}

// TestWindowClosedAtSendResendsAsTemplate: 131047 in the answer to the
// send (the other form Meta uses) sends the same message once as the
// template.
func TestWindowClosedAtSendResendsAsTemplate(t *testing.T) {
	clk := newClock()
	s := templateStack(t, clk, clk)
	const who = "15550051"
	s.wa.Inbound(who, clk.Now())
	s.deliver(s.waHook, waText(who, "Ana", s.wamid(), "hi"))
	_, n := s.nextWA(0)
	_, conv := s.personConv(who)

	s.wa.FailNext(131047)
	s.notify(conv, "msg_ready3", "Your table for 3 is ready", &host.Basis{Template: "table-ready", Params: []string{"3"}})
	waitFor(t, "the template", func() bool { return len(s.wa.Sent()) > n })
	if name, params := decodeTemplate(t, s.wa.Sent()[n]); name != "table_ready" || !slices.Equal(params, []string{"3"}) {
		t.Fatalf("sent template %s %v", name, params)
	}
	s.deliver(s.waHook, waStatus(s.wa.Sent()[n].ID, "delivered", who, 0))
	waitFor(t, "the template delivered", func() bool {
		return s.metric("passerelle_connector_statuses_total", map[string]string{"state": "delivered"}) == 1
	})
	if got := len(s.wa.Sent()); got != n+1 {
		t.Fatalf("%d messages sent, want %d", got, n+1)
	}
}

// TestWindowClosedInStatusRefusals: a failed status with 131047 for a
// message that cannot go as a template is a coded refusal in the app's
// log: a purpose without a registered template, and an answer that rests
// on no consent (the app answered a person Meta saw write too long ago).
func TestWindowClosedInStatusRefusals(t *testing.T) {
	meta, br := newClock(), newClock()
	s := templateStack(t, meta, br)
	const who = "15550052"
	s.wa.Inbound(who, meta.Now())
	s.deliver(s.waHook, waText(who, "Bo", s.wamid(), "hi"))
	_, n := s.nextWA(0)
	_, conv := s.personConv(who)

	meta.Add(30 * time.Hour)
	s.notify(conv, "msg_news", "Autumn menu is in", &host.Basis{Purpose: "updates"})
	s.reportFailed()
	line := s.windowLog("msg_news")
	for _, want := range []string{"131047", "no template updates registered"} {
		if !strings.Contains(line, want) {
			t.Errorf("the refusal %q lacks %q", line, want)
		}
	}
	s.notify(conv, "msg_plain", "Are you still there?", nil)
	s.reportFailed()
	if line := s.windowLog("msg_plain"); !strings.Contains(line, "131047") {
		t.Errorf("the refusal %q lacks the code", line)
	}
	time.Sleep(100 * time.Millisecond) // a resend would show by now
	if got := len(s.wa.Sent()); got != n+2 {
		t.Fatalf("%d messages sent, want %d (the two texts Meta failed)", got, n+2)
	}
}

// TestWindowClosedInStatusSurvivesRestart: a failed status that arrives
// while the bridge is down is applied on the next start: the template
// goes, once.
func TestWindowClosedInStatusSurvivesRestart(t *testing.T) {
	meta, br := newClock(), newClock()
	s := templateStack(t, meta, br)
	const who = "15550053"
	s.wa.Inbound(who, meta.Now())
	s.deliver(s.waHook, waText(who, "Cyd", s.wamid(), "hi"))
	_, n := s.nextWA(0)
	_, conv := s.personConv(who)

	meta.Add(30 * time.Hour)
	s.notify(conv, "msg_ready4", "Your table for 4 is ready", &host.Basis{Template: "table-ready", Params: []string{"4"}})
	var text = <-s.failed
	waitFor(t, "the text recorded as sent", func() bool {
		return s.metric("passerelle_connector_sends_total", map[string]string{"outcome": "sent"}) == 2
	})
	s.bridge.Close()
	s.deliver(s.waHook, waStatus(text.ID, "failed", who, 131047)) // recorded in the inbox
	b, err := bridge.New(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	waitFor(t, "the template", func() bool { return len(s.wa.Sent()) > n+1 })
	if name, _ := decodeTemplate(t, s.wa.Sent()[n+1]); name != "table_ready" {
		t.Fatalf("sent %s", name)
	}
	time.Sleep(100 * time.Millisecond)
	if got := len(s.wa.Sent()); got != n+2 {
		t.Fatalf("%d messages sent, want %d", got, n+2)
	}
}

// TestWindowClosedAfterStop: a person who sent STOP after the message
// was accepted gets no template when its failed status comes; the app's
// log says why.
func TestWindowClosedAfterStop(t *testing.T) {
	meta, br := newClock(), newClock()
	s := templateStack(t, meta, br)
	const who = "15550054"
	s.wa.Inbound(who, meta.Now())
	s.deliver(s.waHook, waText(who, "Dee", s.wamid(), "hi"))
	_, n := s.nextWA(0)
	_, conv := s.personConv(who)

	meta.Add(30 * time.Hour)
	s.notify(conv, "msg_ready5", "Your table for 5 is ready", &host.Basis{Template: "table-ready", Params: []string{"5"}})
	text := <-s.failed
	s.wa.Inbound(who, meta.Now())
	s.deliver(s.waHook, waText(who, "Dee", s.wamid(), "STOP"))
	_, n = s.nextWA(n + 1) // the STOP confirmation
	s.deliver(s.waHook, waStatus(text.ID, "failed", who, 131047))
	if line := s.windowLog("msg_ready5"); !strings.Contains(line, "STOP") {
		t.Fatalf("the refusal %q does not say the person stopped the business", line)
	}
	if got := len(s.wa.Sent()); got != n {
		t.Fatalf("%d messages sent, want %d", got, n)
	}
}
