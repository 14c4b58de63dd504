package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/gateway/eventstore"
	"github.com/passerelle/passerelle/gateway/promptstore"
	"github.com/passerelle/passerelle/gateway/readmarks"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/chat"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/runtime/sched"
)

// tokens: "tok-<person>" is person's token; "merchant-<x>" has role merchant.
type auth struct{}

func (auth) Verify(t string) (string, string, error) {
	if p, ok := strings.CutPrefix(t, "tok-"); ok {
		return p, "person", nil
	}
	if p, ok := strings.CutPrefix(t, "merchant-"); ok {
		return p, "merchant", nil
	}
	return "", "", errors.New("signature invalid")
}

type directory map[string]string

func (d directory) Person(_ context.Context, id string) (identity.Person, error) {
	if n, ok := d[id]; ok {
		return identity.Person{ID: id, Name: n, Phone: "+1555"}, nil
	}
	return identity.Person{}, gateway.ErrNotFound
}

func (d directory) FindPeople(_ context.Context, q string, limit int) ([]identity.Person, error) {
	var out []identity.Person
	for id, n := range d {
		if strings.Contains(strings.ToLower(n), strings.ToLower(q)) && len(out) < limit {
			out = append(out, identity.Person{ID: id, Name: n, Phone: "+1555"})
		}
	}
	return out, nil
}

// fakeApps answers every event by calling react; what it returns is emitted
// into the event's conversation. Events are recorded.
type fakeApps struct {
	out    host.Outbox
	sched  *sched.Scheduler // runs the events, as the runtime does
	react  func(ev host.AppEvent) *host.Message
	mu     sync.Mutex
	events []host.AppEvent
	got    chan host.AppEvent
}

// set replaces how the app reacts and where it reports events.
func (a *fakeApps) set(react func(host.AppEvent) *host.Message, got chan host.AppEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.react, a.got = react, got
}

func (a *fakeApps) Submit(app string, ev host.AppEvent, done func(error)) error {
	return a.sched.Submit(app, ev.Conversation, func(ctx context.Context, _ func()) {
		err := a.deliver(ctx, app, ev)
		if done != nil {
			done(err)
		}
	})
}

func (a *fakeApps) deliver(ctx context.Context, app string, ev host.AppEvent) error {
	a.mu.Lock()
	a.events = append(a.events, ev)
	react, got := a.react, a.got
	a.mu.Unlock()
	if got != nil {
		got <- ev
	}
	if react == nil {
		return nil
	}
	if m := react(ev); m != nil {
		return a.out.Emit(ctx, host.Outgoing{App: host.AppRef{Merchant: "m", App: app, Version: "1"}, Conversation: ev.Conversation, Message: m})
	}
	return nil
}

func (a *fakeApps) Catalog(context.Context) ([]host.AppInfo, error) {
	return []host.AppInfo{{ID: "lunch", Name: "Lunch", Description: "Order lunch from the bistro round the corner: soups, salads, pasta and curries, delivered warm"}}, nil
}

type payments struct {
	mu       sync.Mutex
	calls    []string
	balances map[string]int64 // nil: EUR 25.00 and CHF 1.00
}

// kind is a payment prompt kind that records its answers.
func (p *payments) kind() *host.PromptKind {
	return &host.PromptKind{Name: "payment", Answers: []string{"confirm", "decline"},
		Apply: func(_ context.Context, a host.Answer) (bool, error) {
			var b struct{ Order string }
			_ = json.Unmarshal(a.Body, &b)
			p.mu.Lock()
			defer p.mu.Unlock()
			p.calls = append(p.calls, a.Choice+" "+a.Person+" "+b.Order)
			return true, nil
		}}
}

func (p *payments) Balances(context.Context, string) (map[string]int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.balances != nil {
		return p.balances, nil
	}
	return map[string]int64{"EUR": 2500, "CHF": 100}, nil
}

// History is the wallet history every test person has.
func (p *payments) History(_ context.Context, _ string, limit int) ([]gateway.WalletEntry, error) {
	all := []gateway.WalletEntry{
		{Time: 1764072000000, Title: "Refund: Tomato soup · Green Bowl", Amount: 250, Currency: "EUR"},
		{Time: 1764071000000, Title: "Tomato soup · Green Bowl", Amount: -1200, Currency: "EUR", State: "partly refunded"},
		{Time: 1764070000000, Title: "Added to your wallet", Amount: 5000, Currency: "EUR"},
	}
	return all[:min(limit, len(all))], nil
}

// setBalances changes what Balances answers, as a payment or refund would.
func (p *payments) setBalances(b map[string]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.balances = b
}

type consent struct {
	mu    sync.Mutex
	calls []string
}

// kind is a consent prompt kind that records its answers.
func (c *consent) kind() *host.PromptKind {
	return &host.PromptKind{Name: "consent", Answers: []string{"grant", "refuse"},
		Apply: func(_ context.Context, a host.Answer) (bool, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.calls = append(c.calls, fmt.Sprintf("%s %s %s %s", a.Choice, a.Person, a.Prompt, a.Surface))
			return true, nil
		}}
}

// prompt is what a host service emits to show person a prompt of e's kind
// name (payment, consent, share).
func (e *env) prompt(name, id, person, body string) host.Outgoing {
	kinds := map[string]*host.PromptKind{"payment": e.pay.kind(), "consent": e.cons.kind(), "share": e.share.PromptKind()}
	return host.Outgoing{App: host.AppRef{App: "lunch"}, Prompt: &host.Prompt{ID: id, Kind: kinds[name], Person: person, Body: json.RawMessage(body)}}
}

type env struct {
	t     *testing.T
	srv   *gateway.Server
	http  *httptest.Server
	db    *bbolt.DB
	log   *convlog.Log       // opened by start, closed by stop
	pr    *promptstore.Store // opened by start, closed by stop
	marks *readmarks.Store   // opened by start, closed by stop
	evs   *eventstore.Store  // opened by start, closed by stop
	dir   string             // the database's folder
	apps  *fakeApps
	pay   *payments
	cons  *consent
	share *chat.Service // the real share prompt
	addr  string        // where the server listens, kept across restarts
}

func openDB(t testing.TB, dir string) *bbolt.DB {
	db, err := bbolt.Open(filepath.Join(dir, "p.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newEnv(t *testing.T, mod func(*gateway.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, db: openDB(t, dir), dir: dir, apps: &fakeApps{sched: sched.New(sched.Config{Workers: 16})}, pay: &payments{}, cons: &consent{},
		share: chat.New(chat.Config{})}
	e.start(mod)
	t.Cleanup(func() { e.stop(); e.apps.sched.Close(context.Background()); e.db.Close() })
	return e
}

func (e *env) start(mod func(*gateway.Config)) {
	log, err := convlog.Open(e.db, convlog.Config{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.log = log
	if e.pr, err = promptstore.Open(e.db); err != nil {
		e.t.Fatal(err)
	}
	if e.marks, err = readmarks.Open(e.db); err != nil {
		e.t.Fatal(err)
	}
	if e.evs, err = eventstore.Open(e.db); err != nil {
		e.t.Fatal(err)
	}
	cfg := gateway.Config{Log: log, PromptStore: e.pr, Marks: e.marks, Events: e.evs, Auth: auth{}, Directory: directory{"alice": "Alice", "bob": "Bob", "carol": "Carol"},
		Apps: e.apps, Payments: e.pay, Prompts: []*host.PromptKind{e.pay.kind(), e.cons.kind(), e.share.PromptKind()}}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := gateway.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = srv
	e.apps.out = srv
	e.http = httptest.NewUnstartedServer(srv.Handler())
	if e.addr != "" { // a restart listens where clients were connected
		l, err := net.Listen("tcp", e.addr)
		if err != nil {
			e.t.Fatalf("listen again on %s: %v", e.addr, err)
		}
		e.http.Listener.Close()
		e.http.Listener = l
	}
	e.http.Start()
	e.addr = e.http.Listener.Addr().String()
}

func (e *env) stop() {
	if e.http == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil {
		e.t.Error(err)
	}
	e.log.Close()
	e.pr.Close()
	e.marks.Close()
	e.evs.Close()
	e.http.Close()
	e.http = nil
}

// client is a test WebSocket client.
type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func (e *env) dial(token string) (*client, *http.Response, error) {
	url := "ws" + strings.TrimPrefix(e.http.URL, "http") + "/ws?token=" + token
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return nil, resp, err
	}
	c := &client{t: e.t, ws: ws}
	e.t.Cleanup(func() { ws.Close() })
	return c, resp, nil
}

// connect dials and says hello, returning frames up to and including ready.
func (e *env) connect(person, surface string, resume map[string]uint64) (*client, []map[string]any) {
	e.t.Helper()
	c, _, err := e.dial("tok-" + person)
	if err != nil {
		e.t.Fatalf("dial %s: %v", person, err)
	}
	c.send(map[string]any{"type": "hello", "v": 1, "surface": surface, "resume": resume})
	var got []map[string]any
	for {
		f := c.next()
		got = append(got, f)
		if f["type"] == "ready" {
			return c, got
		}
	}
}

func (c *client) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) next() map[string]any {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(time.Minute))
	var f map[string]any
	if err := c.ws.ReadJSON(&f); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

// until reads frames until one has the given type, returning it.
func (c *client) until(typ string) map[string]any {
	c.t.Helper()
	for {
		if f := c.next(); f["type"] == typ {
			return f
		}
	}
}

// request sends v and returns the frame answering its id (ack, result or error).
func (c *client) request(v map[string]any) map[string]any {
	c.t.Helper()
	c.send(v)
	for {
		f := c.next()
		if f["id"] == v["id"] && f["type"] != "msg" {
			return f
		}
	}
}
