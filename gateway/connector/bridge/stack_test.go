package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/bridge"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/gateway/eventstore"
	"github.com/passerelle/passerelle/gateway/msgstate"
	"github.com/passerelle/passerelle/gateway/promptstore"
	"github.com/passerelle/passerelle/gateway/readmarks"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/services"
	"github.com/passerelle/passerelle/miniapps/dist"
	"github.com/passerelle/passerelle/runtime/appbuild"
	"github.com/passerelle/passerelle/runtime/appbuild/cachetest"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/hostevents"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// conns is an in-memory connector.Connections.
type conns struct {
	mu   sync.Mutex
	list []connector.Connection
}

func (c *conns) Get(_ context.Context, id string) (connector.Connection, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range c.list {
		if x.ID == id {
			return x, nil
		}
	}
	return connector.Connection{}, connector.ErrNoConnection
}

func (c *conns) ByAccount(_ context.Context, network, account string) (connector.Connection, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range c.list {
		if x.Network == network && x.Account == account {
			return x, nil
		}
	}
	return connector.Connection{}, connector.ErrNoConnection
}

func (c *conns) List(_ context.Context, merchant string) ([]connector.Connection, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []connector.Connection
	for _, x := range c.list {
		if merchant == "" || x.Merchant == merchant {
			out = append(out, x)
		}
	}
	return out, nil
}

// TestMain gives the tests one compilation cache (appbuild.CompileCacheDir):
// the apps compile once.
func TestMain(m *testing.M) { cachetest.Main(m) }

// Names of the test's merchant and accounts.
const (
	merchant  = "kitchen"
	phoneID   = "1065550100"
	pageID    = "2045550100"
	appSecret = "app-secret"
	waToken   = "wa-token"
	pageToken = "page-token"
)

// stack is a whole platform on one bbolt file: host services, the sandbox
// and app router with the real lunch app, the gateway, the bridge, Meta's
// simulators and the webhooks, over real HTTP on loopback.
type stack struct {
	t       testing.TB
	db      *bbolt.DB
	svc     *services.Services
	router  *apps.Router
	reg     *registry.Registry
	gw      *gateway.Server
	gwHTTP  *httptest.Server
	bridge  *bridge.Bridge
	metrics *bridge.Metrics
	conns   *conns
	wa      *metasim.Server
	ms      *metasim.MessengerServer
	waHook  string // the WhatsApp webhook URL
	msHook  string
	waStore *whatsapp.Store
	msStore *messenger.Store
	appLog  *appLog
	marks   *readmarks.Store
	cfg     bridge.Config     // the bridge's, for a restart
	failed  chan metasim.Sent // what the WhatsApp simulator accepted and failed (templateStack)
	seq     atomic.Int64

	// With stackOpts.states: the kept events, the messages' states, the
	// gateway's config (for a restart) and the router behind a gate.
	kept   *eventstore.Store
	states *msgstate.Store
	gwCfg  gateway.Config
	gate   *gate
}

// clock is a clock a test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// appLog keeps what the bridge wrote to apps' logs.
type appLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *appLog) add(ref host.AppRef, _ slog.Level, code, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, ref.App+" "+code+": "+msg)
}

func (l *appLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

type stackOpts struct {
	configure func(*bridge.Config)
	wa        metasim.Config
	ms        metasim.MessengerConfig
	waApp     string           // the WhatsApp number's app: lunch if ""
	sync      bool             // fsync every commit, as a server does (tests skip it)
	consent   func() time.Time // the consent rules' clock (time.Now if nil)
	// states keeps persons' events (gateway/eventstore) and apps'
	// messages' states (gateway/msgstate), commits each app event with its
	// consumption, and puts the router behind a gate (states_test.go).
	states bool
}

func newStack(t testing.TB, opts stackOpts) *stack {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "p.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: !opts.sync})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, db: db, conns: &conns{}, appLog: &appLog{}}
	t.Cleanup(func() { db.Close() })
	if s.reg, err = registry.Open(db, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	events := hostevents.New()
	if s.svc, err = services.Open(db, services.Config{Assets: s.reg, Events: events.Push, Background: true, Consent: &consent.Config{Now: opts.consent}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.svc.Close)
	engine, err := sandbox.New(ctx, sandbox.Config{CacheDir: appbuild.CompileCacheDir(), Funcs: s.svc.Funcs(), PoolSize: 2,
		AppLog: apps.LogSink{Registry: s.reg}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close(context.Background()) })
	var commit *bolt.Committer
	if opts.states {
		commit = bolt.NewCommitter(db, bolt.Config{})
		t.Cleanup(commit.Close)
	}
	if s.router, err = apps.New(ctx, apps.Config{Registry: s.reg, Engine: engine, Identity: s.svc.Identity, Consent: s.svc.Consent, Commit: commit,
		Standing: func(ctx context.Context, ref host.AppRef, ev host.AppEvent) {
			events.Push(ctx, services.Event{App: ref, Person: ev.Person, Conversation: ev.Conversation, Surface: ev.Surface, Event: ev.Event})
		}, Workers: 2, PerApp: 2}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.router.Close(context.Background()) })
	msgs, err := convlog.Open(db, convlog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	prompts, err := promptstore.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	marks, err := readmarks.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	s.marks = marks
	s.gwCfg = gateway.Config{Log: msgs, PromptStore: prompts, Marks: marks, Auth: s.svc.Identity,
		Directory: s.svc.Identity, Apps: s.router, Prompts: s.svc.PromptKinds(), LinkCodes: s.svc.Identity}
	if opts.states {
		s.openStates(db)
	}
	if s.gw, err = gateway.New(s.gwCfg); err != nil {
		t.Fatal(err)
	}
	s.gwHTTP = httptest.NewServer(s.gw.Handler())
	deliverer := hostevents.NewDeliverer(events, func(ctx context.Context, ev services.Event) error {
		return s.router.DeliverFor(ctx, ev.App, host.AppEvent{Person: ev.Person, Conversation: ev.Conversation, Surface: ev.Surface,
			Event: ev.Event, Out: s.gw})
	})
	t.Cleanup(func() {
		s.gwHTTP.Close()
		s.gw.Close(context.Background())
		deliverer.Close()
		msgs.Close()
		prompts.Close()
		marks.Close()
	})

	if opts.waApp == "" {
		opts.waApp = "lunch"
	}
	// The lunch app (and the WhatsApp number's), live for its merchant.
	if _, _, err := s.svc.Identity.EnsureMerchant(ctx, merchant, "The Kitchen"); err != nil {
		t.Fatal(err)
	}
	mods, err := dist.Modules()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		if m.Name == "lunch" || m.Name == opts.waApp {
			if _, _, err := s.router.Upload(ctx, merchant, "test", m.Name, m.Wasm); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Meta.
	opts.wa.PhoneNumberID, opts.wa.Token = phoneID, waToken
	s.wa = metasim.New(opts.wa)
	waSim := httptest.NewServer(s.wa)
	opts.ms.Token = pageToken
	s.ms = metasim.NewMessenger(opts.ms)
	msSim := httptest.NewServer(s.ms)
	t.Cleanup(waSim.Close)
	t.Cleanup(msSim.Close)
	s.conns.list = []connector.Connection{
		{ID: "c_wa", Merchant: merchant, Network: connector.NetworkWhatsApp, Account: phoneID, App: opts.waApp, BaseURL: waSim.URL,
			Secrets: connector.Secrets{AccessToken: waToken, AppSecret: appSecret, VerifyToken: "v"}},
		{ID: "c_page", Merchant: merchant, Network: connector.NetworkMessenger, Account: pageID, App: "lunch", BaseURL: msSim.URL,
			Secrets: connector.Secrets{AccessToken: pageToken, AppSecret: appSecret, VerifyToken: "v"}},
	}

	// The bridge and the webhooks recording into its stores.
	if s.waStore, err = whatsapp.OpenStore(db, whatsapp.StoreConfig{}); err != nil {
		t.Fatal(err)
	}
	if s.msStore, err = messenger.OpenStore(db, connector.StoreConfig{}); err != nil {
		t.Fatal(err)
	}
	s.metrics = bridge.NewMetrics()
	cfg := bridge.Config{Server: s.gw, Connections: s.conns, DB: db, Identity: s.svc.Identity, Consent: s.svc.Consent,
		WhatsApp: s.waStore, Messenger: s.msStore, AppLog: s.appLog.add, PairInterval: -1, Backoff: 10 * time.Millisecond,
		Poll: 20 * time.Millisecond, Metrics: s.metrics}
	if opts.states {
		cfg.States = s.gw
	}
	if opts.configure != nil {
		opts.configure(&cfg)
	}
	s.cfg = cfg
	if s.bridge, err = bridge.New(cfg); err != nil {
		t.Fatal(err)
	}
	if err := s.bridge.Start(); err != nil {
		t.Fatal(err)
	}
	if opts.states {
		if _, err := s.gw.Resume(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waHook, err := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: appSecret, VerifyToken: "v",
		Recorder: bridge.Recorder[whatsapp.Event]{Store: s.waStore, Bridge: s.bridge, Network: connector.NetworkWhatsApp}})
	if err != nil {
		t.Fatal(err)
	}
	msHook, err := messenger.NewWebhook(messenger.WebhookConfig{AppSecret: appSecret, VerifyToken: "v",
		Recorder: bridge.Recorder[messenger.Event]{Store: s.msStore, Bridge: s.bridge, Network: connector.NetworkMessenger}})
	if err != nil {
		t.Fatal(err)
	}
	hooks := http.NewServeMux()
	hooks.Handle("/webhooks/whatsapp/c_wa", waHook)
	hooks.Handle("/webhooks/messenger/c_page", msHook)
	hookSrv := httptest.NewServer(hooks)
	s.waHook, s.msHook = hookSrv.URL+"/webhooks/whatsapp/c_wa", hookSrv.URL+"/webhooks/messenger/c_page"
	t.Cleanup(func() {
		hookSrv.Close()
		s.bridge.Close()
		s.waStore.Close()
		s.msStore.Close()
	})
	return s
}

// deliver posts a signed webhook body and wants 200.
func (s *stack) deliver(url string, body []byte) {
	s.t.Helper()
	code, err := metasim.Deliver(context.Background(), http.DefaultClient, url, []byte(appSecret), body)
	if err != nil || code != http.StatusOK {
		s.t.Fatalf("webhook: %d %v", code, err)
	}
}

// The WhatsApp webhook bodies Meta documents (messages webhook reference).

func waMessage(from, name, id string, msg map[string]any) []byte {
	msg["from"], msg["id"], msg["timestamp"] = from, id, fmt.Sprint(time.Now().Unix())
	b, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": "waba", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]any{"display_phone_number": "15550100", "phone_number_id": phoneID},
			"contacts":          []any{map[string]any{"wa_id": from, "profile": map[string]any{"name": name}}},
			"messages":          []any{msg},
		}}}}}})
	return b
}

func waText(from, name, id, text string) []byte {
	return waMessage(from, name, id, map[string]any{"type": "text", "text": map[string]any{"body": text}})
}

func waButton(from, id, replyID, title string) []byte {
	return waMessage(from, "", id, map[string]any{"type": "interactive", "interactive": map[string]any{
		"type": "button_reply", "button_reply": map[string]any{"id": replyID, "title": title}}})
}

func waListReply(from, id, replyID, title string) []byte {
	return waMessage(from, "", id, map[string]any{"type": "interactive", "interactive": map[string]any{
		"type": "list_reply", "list_reply": map[string]any{"id": replyID, "title": title}}})
}

func waStatus(wamid, status, recipient string, code int) []byte {
	st := map[string]any{"id": wamid, "status": status, "timestamp": fmt.Sprint(time.Now().Unix()), "recipient_id": recipient}
	if code != 0 {
		st["errors"] = []any{map[string]any{"code": code, "title": "refused", "error_data": map[string]any{"details": "test"}}}
	}
	b, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": "waba", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]any{"phone_number_id": phoneID},
			"statuses":          []any{st},
		}}}}}})
	return b
}

// msMessage is a Messenger messaging event from psid to the Page.
func msMessage(psid string, message map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": pageID, "time": time.Now().UnixMilli(), "messaging": []any{map[string]any{
			"sender": map[string]any{"id": psid}, "recipient": map[string]any{"id": pageID},
			"timestamp": time.Now().UnixMilli(), "message": message,
		}}}}})
	return b
}

// waitFor polls cond until it holds, failing after a minute (a loaded
// machine running the race detector can take tens of seconds).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sentWA is a message the WhatsApp simulator accepted, decoded.
type sentWA struct {
	ID, To, Type string
	Text         string   // text body, or the interactive body
	IDs          []string // reply button ids or list row ids
	Titles       []string
}

func decodeWA(m metasim.Sent) sentWA {
	var req struct {
		Text struct {
			Body string `json:"body"`
		} `json:"text"`
		Interactive struct {
			Type string `json:"type"`
			Body struct {
				Text string `json:"text"`
			} `json:"body"`
			Action struct {
				Buttons []struct {
					Reply struct{ ID, Title string } `json:"reply"`
				} `json:"buttons"`
				Sections []struct {
					Rows []struct{ ID, Title string } `json:"rows"`
				} `json:"sections"`
			} `json:"action"`
		} `json:"interactive"`
	}
	_ = json.Unmarshal(m.Body, &req)
	out := sentWA{ID: m.ID, To: m.To, Type: m.Type, Text: req.Text.Body}
	if m.Type == "interactive" {
		out.Type = "interactive:" + req.Interactive.Type
		out.Text = req.Interactive.Body.Text
		for _, b := range req.Interactive.Action.Buttons {
			out.IDs, out.Titles = append(out.IDs, b.Reply.ID), append(out.Titles, b.Reply.Title)
		}
		for _, s := range req.Interactive.Action.Sections {
			for _, r := range s.Rows {
				out.IDs, out.Titles = append(out.IDs, r.ID), append(out.Titles, r.Title)
			}
		}
	}
	return out
}

// nextWA waits for the WhatsApp message after the first n sent and
// returns it with the new count.
func (s *stack) nextWA(n int) (sentWA, int) {
	s.t.Helper()
	waitFor(s.t, fmt.Sprintf("WhatsApp message #%d", n+1), func() bool { return len(s.wa.Sent()) > n })
	return decodeWA(s.wa.Sent()[n]), n + 1
}

// pick returns the reply id whose title starts with prefix.
func (m sentWA) pick(t *testing.T, prefix string) (id, title string) {
	t.Helper()
	for i, ti := range m.Titles {
		if strings.HasPrefix(ti, prefix) {
			return m.IDs[i], ti
		}
	}
	t.Fatalf("no choice %q in %+v", prefix, m)
	return "", ""
}

// wamid returns a fresh person's message id.
func (s *stack) wamid() string { return fmt.Sprintf("wamid.person-%d", s.seq.Add(1)) }

// metasimPair is a WhatsApp simulator refusing a second message to a
// person within an hour of clk (Meta's pair rate limit, 131056).
func metasimPair(clk *clock) metasim.Config {
	return metasim.Config{PairInterval: time.Hour, Now: clk.Now}
}
