package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/bridge"
	"github.com/passerelle/passerelle/gateway/eventstore"
	"github.com/passerelle/passerelle/gateway/msgstate"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/sched"
)

// gate is the app router as the gateway sees it, with the status events
// the apps handled recorded, and a switch that refuses every event as a
// stopping runtime does (the process is going down: what is kept stays
// kept).
type gate struct {
	*apps.Router
	down     atomic.Bool
	inflight atomic.Int64 // events submitted whose done has not returned

	mu      sync.Mutex
	handled []string // "app message state code" of each status event handled
}

func (g *gate) Submit(app string, ev host.AppEvent, done func(error)) error {
	if g.down.Load() {
		return fmt.Errorf("the runtime is stopping: %w", sched.ErrClosed)
	}
	st := ev.Event.Status
	inner := done
	done = func(err error) {
		defer g.inflight.Add(-1)
		if err == nil && ev.Event.Type == host.EventStatus && st != nil {
			g.mu.Lock()
			g.handled = append(g.handled, strings.TrimSpace(fmt.Sprintf("%s %s %s %s", app, st.Message, st.State, st.Code)))
			g.mu.Unlock()
		}
		if inner != nil {
			inner(err)
		}
	}
	g.inflight.Add(1)
	err := g.Router.Submit(app, ev, done)
	if err != nil {
		g.inflight.Add(-1)
	}
	return err
}

func (g *gate) statuses() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.handled)
}

// openStates gives the stack's gateway kept events and messages' states,
// and the router behind a gate.
func (s *stack) openStates(db *bbolt.DB) {
	var err error
	if s.kept, err = eventstore.Open(db); err != nil {
		s.t.Fatal(err)
	}
	if s.states, err = msgstate.Open(db); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { s.kept.Close(); s.states.Close() })
	s.gate = &gate{Router: s.router}
	s.gwCfg.Events, s.gwCfg.States, s.gwCfg.Apps = s.kept, s.states, s.gate
}

// restart stops the gateway and the bridge as a process that goes down
// does, and starts new ones on the same store, resuming the kept events.
func (s *stack) restart() int {
	s.t.Helper()
	s.bridge.Close()
	if err := s.gw.Close(context.Background()); err != nil {
		s.t.Fatal(err)
	}
	s.gate.down.Store(false)
	gw, err := gateway.New(s.gwCfg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.gw = gw
	s.cfg.Server, s.cfg.States = gw, gw
	if s.bridge, err = bridge.New(s.cfg); err != nil {
		s.t.Fatal(err)
	}
	if err := s.bridge.Start(); err != nil {
		s.t.Fatal(err)
	}
	n, err := gw.Resume(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// settled waits until the bridge has handled every webhook event recorded,
// every kept app event is consumed and every event the apps were handed is
// done.
func (s *stack) settled() {
	s.t.Helper()
	ctx := context.Background()
	waitFor(s.t, "the inbox and the kept events to drain", func() bool {
		in, err := s.waStore.Inbox(ctx, 0, 10)
		if err != nil || len(in) > 0 {
			return false
		}
		kept, err := s.kept.List(ctx)
		return err == nil && len(kept) == 0 && s.gate.inflight.Load() == 0
	})
}

// appMessages returns the ids of the app's messages in the conversation
// of the WhatsApp account from, in order.
func (s *stack) appMessages(app, from string) []string {
	s.t.Helper()
	ctx := context.Background()
	p, err := s.svc.Identity.PersonByAccount(ctx, identity.Account{Surface: connector.NetworkWhatsApp, External: from})
	if err != nil {
		s.t.Fatal(err)
	}
	msgs, err := s.gw.Range(ctx, gateway.NetworkConvID(app, "c_wa", p.ID), 0, 100)
	if err != nil {
		s.t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		if m.From.Kind == "app" && m.ID != "" {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

func history(m msgstate.Message) []string {
	var out []string
	for _, e := range m.History {
		out = append(out, e.State)
	}
	return out
}

// TestStatusEventsOnWhatsApp: lunch, which asks for status events, hears
// that its menu on WhatsApp was delivered, then read, once each, though
// Meta delivers the statuses three times and out of order; a read that
// comes before its delivered is one read event, never followed by
// delivered. The message's history and the figures say the same.
func TestStatusEventsOnWhatsApp(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, stackOpts{states: true})
	const ana = "15550021"
	s.deliver(s.waHook, waText(ana, "Ana", s.wamid(), "hi"))
	menu, n := s.nextWA(0)
	s.settled()
	ids := s.appMessages("lunch", ana)
	if len(ids) != 1 {
		t.Fatalf("app messages %v, want the menu", ids)
	}
	first := ids[0]

	s.deliver(s.waHook, waStatus(menu.ID, "delivered", ana, 0))
	waitFor(t, "the delivered event", func() bool { return len(s.gate.statuses()) == 1 })
	s.deliver(s.waHook, waStatus(menu.ID, "read", ana, 0))
	waitFor(t, "the read event", func() bool { return len(s.gate.statuses()) == 2 })
	for range 3 { // Meta again, out of order
		for _, st := range []string{"read", "sent", "delivered"} {
			s.deliver(s.waHook, waStatus(menu.ID, st, ana, 0))
		}
	}

	// A second menu: its read comes first.
	s.deliver(s.waHook, waText(ana, "Ana", s.wamid(), "menu"))
	menu2, _ := s.nextWA(n)
	s.settled()
	ids = s.appMessages("lunch", ana)
	if len(ids) != 2 {
		t.Fatalf("app messages %v, want two menus", ids)
	}
	second := ids[1]
	for range 3 {
		for _, st := range []string{"read", "delivered", "sent"} {
			s.deliver(s.waHook, waStatus(menu2.ID, st, ana, 0))
		}
	}
	s.settled()
	want := []string{"lunch " + first + " delivered", "lunch " + first + " read", "lunch " + second + " read"}
	if got := s.gate.statuses(); !slices.Equal(got, want) {
		t.Fatalf("status events %q, want %q", got, want)
	}

	m, err := s.states.Get(ctx, "lunch", first)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != host.StateRead || m.Surface != connector.NetworkWhatsApp || !slices.Equal(history(m), []string{"sent", "delivered", "read"}) {
		t.Fatalf("first menu's state %+v", m)
	}
	if m, _ := s.states.Get(ctx, "lunch", second); !slices.Equal(history(m), []string{"sent", "read"}) {
		t.Fatalf("second menu's history %v, want sent, read", history(m))
	}
	figs, err := s.states.Figures(ctx, "lunch")
	if err != nil {
		t.Fatal(err)
	}
	wantFigs := []msgstate.Figure{{Surface: "whatsapp", State: "sent", Count: 2}, {Surface: "whatsapp", State: "delivered", Count: 2},
		{Surface: "whatsapp", State: "read", Count: 2}}
	if !slices.Equal(figs, wantFigs) {
		t.Fatalf("figures %+v, want %+v (a read message counts as delivered)", figs, wantFigs)
	}
	resp, err := http.Get(s.gwHTTP.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, st := range []string{"sent", "delivered", "read"} {
		line := `passerelle_gateway_app_message_states_total{app="lunch",code="",state="` + st + `",surface="whatsapp"} 2`
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics has no %s", line)
		}
	}
}

// TestStatusEventsFailed: a failed status (WhatsApp's 131026: the person
// cannot receive it) is one failed event with the app log's code and
// Meta's number; failed is final.
func TestStatusEventsFailed(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, stackOpts{states: true})
	const ana = "15550031"
	s.deliver(s.waHook, waText(ana, "Ana", s.wamid(), "hi"))
	menu, _ := s.nextWA(0)
	s.settled()
	s.deliver(s.waHook, waStatus(menu.ID, "failed", ana, 131026))
	s.settled()
	ids := s.appMessages("lunch", ana)
	want := []string{"lunch " + ids[0] + " failed undeliverable"}
	if got := s.gate.statuses(); !slices.Equal(got, want) {
		t.Fatalf("status events %q, want %q", got, want)
	}
	m, err := s.states.Get(ctx, "lunch", ids[0])
	if err != nil || m.State != host.StateFailed || m.Code != "undeliverable" || m.NetworkCode != 131026 {
		t.Fatalf("state %+v, %v; want failed, undeliverable, 131026", m, err)
	}
	// Failed is final: a read after it is nothing.
	s.deliver(s.waHook, waStatus(menu.ID, "read", ana, 0))
	s.settled()
	if got := s.gate.statuses(); len(got) != 1 {
		t.Fatalf("status events after a read that came late: %q", got)
	}
}

// TestStatusEventsNotAsked: shop does not ask for status events: it gets
// none, and none is kept for it, while its figures still count the
// states.
func TestStatusEventsNotAsked(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, stackOpts{states: true, waApp: "shop"})
	const ana = "15550041"
	s.deliver(s.waHook, waText(ana, "Ana", s.wamid(), "hi"))
	sent, _ := s.nextWA(0)
	s.settled()
	for _, st := range []string{"delivered", "read"} {
		s.deliver(s.waHook, waStatus(sent.ID, st, ana, 0))
	}
	s.settled()
	if got := s.gate.statuses(); len(got) != 0 {
		t.Fatalf("shop got status events %q without asking", got)
	}
	ids := s.appMessages("shop", ana)
	if len(ids) == 0 {
		t.Fatal("shop sent nothing")
	}
	if m, err := s.states.Get(ctx, "shop", ids[0]); err != nil || m.State != host.StateRead {
		t.Fatalf("shop's message state %+v, %v; want read", m, err)
	}
}

// TestStatusEventsRestart: the process goes down after the statuses were
// recorded and before lunch handled their events: the next start hands
// each to lunch once, and Meta's redelivery after it adds none.
func TestStatusEventsRestart(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, stackOpts{states: true})
	const ana = "15550051"
	s.deliver(s.waHook, waText(ana, "Ana", s.wamid(), "hi"))
	menu, _ := s.nextWA(0)
	s.settled()
	id := s.appMessages("lunch", ana)[0]

	s.gate.down.Store(true)
	s.deliver(s.waHook, waStatus(menu.ID, "delivered", ana, 0))
	s.deliver(s.waHook, waStatus(menu.ID, "read", ana, 0))
	waitFor(t, "both statuses to be recorded and their events kept", func() bool {
		kept, err := s.kept.List(ctx)
		return err == nil && len(kept) == 2
	})
	if got := s.gate.statuses(); len(got) != 0 {
		t.Fatalf("events %q handled while the runtime was stopping", got)
	}

	if n := s.restart(); n != 2 {
		t.Fatalf("Resume handed on %d events, want the 2 status events", n)
	}
	for _, st := range []string{"read", "delivered", "read"} {
		s.deliver(s.waHook, waStatus(menu.ID, st, ana, 0))
	}
	s.settled()
	want := []string{"lunch " + id + " delivered", "lunch " + id + " read"}
	if got := s.gate.statuses(); !slices.Equal(got, want) {
		t.Fatalf("status events %q, want %q", got, want)
	}
}

// msRead is Messenger's read event: psid read everything the Page sent
// before the watermark (unix ms).
func msRead(psid string, watermark int64) []byte {
	b, _ := json.Marshal(map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": pageID, "time": time.Now().UnixMilli(), "messaging": []any{map[string]any{
			"sender": map[string]any{"id": psid}, "recipient": map[string]any{"id": pageID},
			"timestamp": time.Now().UnixMilli(), "read": map[string]any{"watermark": watermark},
		}}}}})
	return b
}

// TestStatusEventsMessengerWatermark: a Messenger read watermark names no
// message: every app message sent before it is read, one event each,
// once, however often the watermark comes.
func TestStatusEventsMessengerWatermark(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, stackOpts{states: true})
	const chloe = "psid-chloe"
	s.deliver(s.msHook, msMessage(chloe, map[string]any{"mid": "m_hi", "text": "hi"}))
	waitFor(t, "lunch's menu on Messenger", func() bool { return len(s.ms.Sent()) >= 1 })
	s.settledMessenger()
	p, err := s.svc.Identity.PersonByAccount(ctx, identity.Account{Surface: connector.NetworkMessenger, External: chloe})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.gw.Range(ctx, gateway.NetworkConvID("lunch", "c_page", p.ID), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range msgs {
		if m.From.Kind == "app" {
			want = append(want, "lunch "+m.ID+" read")
		}
	}
	if len(want) == 0 {
		t.Fatal("lunch sent nothing on Messenger")
	}
	for range 3 {
		s.deliver(s.msHook, msRead(chloe, time.Now().Add(time.Minute).UnixMilli()))
	}
	s.settledMessenger()
	if got := s.gate.statuses(); !slices.Equal(got, want) {
		t.Fatalf("status events %q, want %q", got, want)
	}
}

// settledMessenger is settled for the Messenger inbox.
func (s *stack) settledMessenger() {
	s.t.Helper()
	ctx := context.Background()
	waitFor(s.t, "the Messenger inbox and the kept events to drain", func() bool {
		in, err := s.msStore.Inbox(ctx, 0, 10)
		if err != nil || len(in) > 0 {
			return false
		}
		kept, err := s.kept.List(ctx)
		return err == nil && len(kept) == 0 && s.gate.inflight.Load() == 0
	})
}
