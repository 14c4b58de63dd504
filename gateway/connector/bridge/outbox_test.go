package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/bridge"
	"github.com/passerelle/passerelle/gateway/readmarks"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/identity"
)

// metric returns the value of the bridge's series name with labels (all
// of them given), 0 when there is none.
func (s *stack) metric(name string, labels map[string]string) float64 {
	s.t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.metrics)
	fams, err := reg.Gather()
	if err != nil {
		s.t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// personConv returns the person of a WhatsApp number and their
// conversation with the number's app.
func (s *stack) personConv(wa string) (string, string) {
	s.t.Helper()
	p, err := s.svc.Identity.PersonByAccount(context.Background(), identity.Account{Surface: connector.NetworkWhatsApp, External: wa})
	if err != nil {
		s.t.Fatal(err)
	}
	return p.ID, gateway.NetworkConvID("lunch", "c_wa", p.ID)
}

func (s *stack) marker(conv, person string) readmarks.Marker {
	s.t.Helper()
	all, err := s.marks.Of(context.Background(), []string{conv})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, m := range all[conv] {
		if m.Person == person {
			return m
		}
	}
	return readmarks.Marker{}
}

// TestStatusesMoveTheMarker: Meta's statuses, out of order, move the
// person's marker in the conversation forward only: read implies
// delivered, and a late "delivered" does not move it back.
func TestStatusesMoveTheMarker(t *testing.T) {
	s := newStack(t, stackOpts{})
	const who = "15550010"
	s.deliver(s.waHook, waText(who, "Eve", s.wamid(), "hi"))
	menu, _ := s.nextWA(0)
	person, conv := s.personConv(who)
	s.deliver(s.waHook, waStatus(menu.ID, "read", who, 0))
	waitFor(t, "the read marker", func() bool { return s.marker(conv, person).Read > 0 })
	m := s.marker(conv, person)
	if m.Delivered != m.Read {
		t.Fatalf("read did not imply delivered: %+v", m)
	}
	s.deliver(s.waHook, waStatus(menu.ID, "delivered", who, 0))
	s.deliver(s.waHook, waStatus(menu.ID, "sent", who, 0))
	s.deliver(s.waHook, waText(who, "Eve", s.wamid(), "menu")) // handled after the statuses
	s.nextWA(1)
	if got := s.marker(conv, person); got != m {
		t.Fatalf("late statuses moved the marker from %+v to %+v", m, got)
	}
	if got := s.metric("passerelle_connector_statuses_total", map[string]string{"state": "delivered"}); got != 0 {
		t.Fatalf("a delivered status after read counted as a move (%v)", got)
	}
}

// TestThrottlingIsRetried: Meta refuses a send for throughput twice; the
// outbox sends it again after its backoff, and it goes out once.
func TestThrottlingIsRetried(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.wa.FailNext(130429, 131056)
	s.deliver(s.waHook, waText("15550011", "Finn", s.wamid(), "hi"))
	menu, _ := s.nextWA(0)
	if menu.Type != "interactive:list" {
		t.Fatalf("sent %+v", menu)
	}
	if got := s.metric("passerelle_connector_retries_total", map[string]string{"class": "throttled"}); got != 2 {
		t.Fatalf("%v retries counted, want 2", got)
	}
	s.deliver(s.waHook, waText("15550011", "Finn", s.wamid(), "menu"))
	s.nextWA(1)
	if n := len(s.wa.Sent()); n != 2 {
		t.Fatalf("%d messages went out, want 2", n)
	}
}

// TestRefusalsByClass: a closed window is a coded refusal in the app's
// log, not retried; "the person stopped marketing messages" opts them out
// of the business in the consent ledger.
func TestRefusalsByClass(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, stackOpts{})
	s.wa.FailNext(131047)
	s.deliver(s.waHook, waText("15550012", "Gus", s.wamid(), "hi"))
	waitFor(t, "the window refusal in the app's log", func() bool {
		return slices.ContainsFunc(s.appLog.all(), func(l string) bool {
			return strings.HasPrefix(l, "lunch window_closed:") && strings.Contains(l, "131047")
		})
	})
	if n := len(s.wa.Sent()); n != 0 {
		t.Fatalf("%d messages went out after a closed window", n)
	}

	s.wa.FailNext(131050)
	s.deliver(s.waHook, waText("15550013", "Hana", s.wamid(), "hi"))
	waitFor(t, "the person", func() bool {
		_, err := s.svc.Identity.PersonByAccount(ctx, identity.Account{Surface: connector.NetworkWhatsApp, External: "15550013"})
		return err == nil
	})
	person, _ := s.personConv("15550013")
	waitFor(t, "the opt-out in the ledger", func() bool {
		recs, err := s.svc.Consent.Records(ctx, 0, 100)
		return err == nil && slices.ContainsFunc(recs, func(r consent.Record) bool {
			return r.Kind == consent.KindOptOut && r.Person == person && r.Business == merchant
		})
	})
	// The app's next answer is refused by the consent rules: nothing goes out.
	s.deliver(s.waHook, waText("15550013", "Hana", s.wamid(), "menu"))
	s.deliver(s.waHook, waText("15550013", "Hana", s.wamid(), "HELP"))
	help, _ := s.nextWA(0)
	if !strings.Contains(help.Text, "Reply STOP") {
		t.Fatalf("after the opt-out the person got %+v", help)
	}
}

// dropFirst is a transport whose first request reaches the server but
// whose answer is lost, as when a connection breaks after Meta took the
// message.
type dropFirst struct{ n atomic.Int32 }

func (d *dropFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && d.n.Add(1) == 1 {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errors.New("connection reset by peer")
	}
	return resp, err
}

// TestUnknownOutcomeWaitsForStatus: a send whose answer was lost is not
// sent again while a status may still name it; the status settles it.
// Without a status, it is sent again once the wait is over.
func TestUnknownOutcomeWaitsForStatus(t *testing.T) {
	for _, status := range []bool{true, false} {
		name := "status"
		if !status {
			name = "no status"
		}
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			s := newStack(t, stackOpts{configure: func(c *bridge.Config) {
				c.HTTP = &http.Client{Transport: &dropFirst{}}
				c.Now, c.UnknownWait = clk.Now, time.Minute
			}})
			const who = "15550014"
			s.deliver(s.waHook, waText(who, "Ivy", s.wamid(), "hi"))
			menu, _ := s.nextWA(0)
			waitFor(t, "the unknown outcome", func() bool {
				return s.metric("passerelle_connector_sends_total", map[string]string{"outcome": "unknown"}) == 1
			})
			if status {
				s.deliver(s.waHook, waStatus(menu.ID, "delivered", who, 0))
				waitFor(t, "the status", func() bool {
					return s.metric("passerelle_connector_statuses_total", map[string]string{"state": "sent"}) == 0 &&
						s.metric("passerelle_connector_statuses_total", map[string]string{"state": "delivered"}) == 1
				})
			}
			clk.Add(2 * time.Minute)
			s.deliver(s.waHook, waText(who, "Ivy", s.wamid(), "menu"))
			want := 2
			if !status {
				want = 3 // the first menu again, then the second
			}
			waitFor(t, "the later sends", func() bool { return len(s.wa.Sent()) >= want })
			// One more message: a wrong extra send would come before it.
			s.deliver(s.waHook, waText(who, "Ivy", s.wamid(), "menu"))
			waitFor(t, "the last send", func() bool { return len(s.wa.Sent()) >= want+1 })
			sent := s.wa.Sent()
			if len(sent) != want+1 || sent[0].Body == nil {
				t.Fatalf("%d sends, want %d", len(sent), want+1)
			}
			if !status && string(sent[1].Body) != string(sent[0].Body) {
				t.Fatalf("the resend differs from the lost send:\n%s\n%s", sent[0].Body, sent[1].Body)
			}
		})
	}
}

// TestPairLimit: WhatsApp's per-person pace holds later messages to the
// same person back (in order) instead of having Meta refuse them.
func TestPairLimit(t *testing.T) {
	clk := newClock()
	s := newStack(t, stackOpts{wa: metasimPair(clk), configure: func(c *bridge.Config) {
		c.Now, c.PairInterval, c.PairBurst = clk.Now, time.Hour, 1
	}})
	const who = "15550015"
	s.deliver(s.waHook, waText(who, "Jo", s.wamid(), "hi"))
	s.nextWA(0)
	s.deliver(s.waHook, waText(who, "Jo", s.wamid(), "menu"))
	waitFor(t, "the held message in the outbox", func() bool {
		return s.metric("passerelle_connector_outbox_depth", map[string]string{"connection": "c_wa"}) == 1
	})
	if n := len(s.wa.Sent()); n != 1 {
		t.Fatalf("%d sent within the pair interval", n)
	}
	clk.Add(time.Hour)
	s.bridge.Wake()
	s.nextWA(1)
	if got := s.metric("passerelle_connector_retries_total", nil); got != 0 {
		t.Fatalf("Meta refused %v sends for the pair rate", got)
	}
}

// TestOutboxSurvivesRestart: a message waiting for a retry when the
// server stops goes out after the restart, once.
func TestOutboxSurvivesRestart(t *testing.T) {
	clk := newClock()
	s := newStack(t, stackOpts{configure: func(c *bridge.Config) { c.Now, c.Backoff = clk.Now, time.Hour }})
	s.wa.FailNext(131000)
	s.deliver(s.waHook, waText("15550016", "Kim", s.wamid(), "hi"))
	waitFor(t, "the refusal", func() bool { return s.metric("passerelle_connector_retries_total", nil) == 1 })
	s.bridge.Close()
	clk.Add(2 * time.Hour)
	b, err := bridge.New(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	menu, _ := s.nextWA(0)
	if menu.Type != "interactive:list" {
		t.Fatalf("after the restart %+v went out", menu)
	}
	s.deliver(s.waHook, waText("15550016", "Kim", s.wamid(), "menu"))
	s.nextWA(1)
	if n := len(s.wa.Sent()); n != 2 {
		t.Fatalf("%d sends after the restart, want 2", n)
	}
}

// TestPrune: what the outbox sent is forgotten after Config.Keep; a late
// status for it is ignored.
func TestPrune(t *testing.T) {
	clk := newClock()
	s := newStack(t, stackOpts{configure: func(c *bridge.Config) { c.Now, c.Keep = clk.Now, 24*time.Hour }})
	const who = "15550017"
	s.deliver(s.waHook, waText(who, "Lea", s.wamid(), "hi"))
	menu, _ := s.nextWA(0)
	waitFor(t, "the send counted", func() bool {
		return s.metric("passerelle_connector_sends_total", map[string]string{"outcome": "sent"}) == 1
	})
	if n := s.bridge.Prune(); n != 0 {
		t.Fatalf("pruned %d entries within Keep", n)
	}
	clk.Add(25 * time.Hour)
	if n := s.bridge.Prune(); n != 1 {
		t.Fatalf("pruned %d entries after Keep, want the one message", n)
	}
	s.deliver(s.waHook, waStatus(menu.ID, "read", who, 0))
	s.deliver(s.waHook, waText(who, "Lea", s.wamid(), "menu"))
	s.nextWA(1)
	if got := s.metric("passerelle_connector_statuses_total", nil); got != 0 {
		t.Fatalf("a status for a forgotten message moved %v", got)
	}
}

// TestMessengerReadWatermark: Messenger reports reads as a watermark (every
// message before this time); the person's marker moves to the last
// message sent before it.
func TestMessengerReadWatermark(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, stackOpts{})
	s.deliver(s.msHook, msMessage("psid-mo", map[string]any{"mid": "m.hi", "text": "hi"}))
	waitFor(t, "the menu on Messenger", func() bool { return len(s.ms.Sent()) == 1 })
	waitFor(t, "the send counted", func() bool {
		return s.metric("passerelle_connector_sends_total", map[string]string{"network": "messenger", "outcome": "sent"}) == 1
	})
	p, err := s.svc.Identity.PersonByAccount(ctx, identity.Account{Surface: connector.NetworkMessenger, External: "psid-mo"})
	if err != nil {
		t.Fatal(err)
	}
	conv := gateway.NetworkConvID("lunch", "c_page", p.ID)
	body, _ := json.Marshal(map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": pageID, "time": time.Now().UnixMilli(), "messaging": []any{map[string]any{
			"sender": map[string]any{"id": "psid-mo"}, "recipient": map[string]any{"id": pageID},
			"timestamp": time.Now().UnixMilli(), "read": map[string]any{"watermark": time.Now().Add(time.Second).UnixMilli()},
		}}}}})
	s.deliver(s.msHook, body)
	waitFor(t, "the read marker", func() bool { return s.marker(conv, p.ID).Read == 2 })
}
