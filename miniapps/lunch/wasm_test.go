//go:build !wasip1

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"passerelle/host"
	"passerelle/host/chat"
	"passerelle/host/identity"
	"passerelle/host/kv"
	"passerelle/host/pay"
	"passerelle/host/timer"
	"passerelle/runtime/sandbox"
	"passerelle/runtime/wasmfile"
)

// lunchWasm is this app built once per test binary by TestMain with the real
// Go toolchain, its manifest embedded; cacheDir is the compilation cache the
// tests share, so it is compiled once too.
var (
	lunchWasm []byte
	cacheDir  string
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "lunch-wasm-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		cacheDir = filepath.Join(dir, "cache")
		if lunchWasm, err = buildWasm(dir); err != nil {
			fmt.Fprintln(os.Stderr, "build lunch:", err)
			return 1
		}
		return m.Run()
	}())
}

// buildWasm compiles this directory for wasip1 as a reactor, the way
// `passerelle app build` does, and embeds manifest.json.
func buildWasm(dir string) ([]byte, error) {
	out := filepath.Join(dir, "app.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%v: %s", err, b)
	}
	raw, err := os.ReadFile("manifest.json")
	if err != nil {
		return nil, err
	}
	m, err := host.ParseManifest(raw)
	if err != nil {
		return nil, err
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	return wasmfile.EmbedManifest(wasm, m)
}

// outbox records what the host APIs emitted: messages into conversations
// and prompts to people.
type outbox struct {
	mu   sync.Mutex
	msgs []host.Message
	outs []host.Outgoing
}

func (o *outbox) Emit(_ context.Context, out host.Outgoing) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.outs = append(o.outs, out)
	if out.Kind == "message" {
		var m host.Message
		if err := json.Unmarshal(out.Body, &m); err != nil {
			return err
		}
		o.msgs = append(o.msgs, m)
	}
	return nil
}

func (o *outbox) take() ([]host.Message, []host.Outgoing) {
	o.mu.Lock()
	defer o.mu.Unlock()
	m, p := o.msgs, o.outs
	o.msgs, o.outs = nil, nil
	var prompts []host.Outgoing
	for _, out := range p {
		if out.Kind == "prompt" {
			prompts = append(prompts, out)
		}
	}
	return m, prompts
}

// appLog keeps the app's log for failure messages.
type appLog struct {
	mu   sync.Mutex
	recs []string
}

func (l *appLog) AppLog(_ host.AppRef, rec sandbox.LogRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, rec.Source+" "+rec.Level.String()+" "+rec.Message)
}

func (l *appLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.recs, "\n")
}

// notifier queues payment outcomes, as the platform does, to be delivered
// after the call that caused them.
type notifier struct {
	mu     sync.Mutex
	orders []pay.Order
}

func (n *notifier) PaymentOutcome(_ context.Context, o pay.Order) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.orders = append(n.orders, o)
}

func (n *notifier) take() []pay.Order {
	n.mu.Lock()
	defer n.mu.Unlock()
	o := n.orders
	n.orders = nil
	return o
}

// platform is the real host services on a real bbolt file, the real sandbox
// and the lunch module, wired the way the server wires them.
type platform struct {
	t      *testing.T
	ref    host.AppRef
	ids    *identity.Service
	pay    *pay.Service
	timers *timer.Service
	eng    *sandbox.Engine
	app    *sandbox.App
	out    *outbox
	log    *appLog
	paid   *notifier
	fired  []timer.Timer
	person string
	seq    int
}

func newPlatform(t *testing.T) *platform {
	t.Helper()
	ctx := context.Background()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "passerelle.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := &platform{t: t, ref: host.AppRef{Merchant: "m_bistro", App: "lunch", Version: "1.0.0"},
		out: &outbox{}, log: &appLog{}, paid: &notifier{}}
	if p.ids, err = identity.Open(db, identity.Config{}); err != nil {
		t.Fatal(err)
	}
	store, err := kv.Open(db, kv.Config{Pseudonyms: p.ids})
	if err != nil {
		t.Fatal(err)
	}
	if p.pay, err = pay.Open(db, pay.Config{Notifier: p.paid}); err != nil {
		t.Fatal(err)
	}
	p.timers, err = timer.Open(db, timer.Config{Fire: func(_ context.Context, tm timer.Timer) error {
		p.fired = append(p.fired, tm)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	var funcs []host.Func
	funcs = append(funcs, chat.New(chat.Config{}).Funcs()...)
	funcs = append(funcs, store.Funcs()...)
	funcs = append(funcs, p.ids.Funcs()...)
	funcs = append(funcs, p.pay.Funcs()...)
	funcs = append(funcs, p.timers.Funcs()...)
	eng, err := sandbox.New(ctx, sandbox.Config{CacheDir: cacheDir, Funcs: funcs, PoolSize: 1, Logger: slog.New(slog.DiscardHandler), AppLog: p.log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	p.eng = eng
	if p.app, err = eng.Load(ctx, p.ref, lunchWasm); err != nil {
		t.Fatal(err)
	}
	alice, err := p.ids.CreatePerson(ctx, "Alice", "")
	if err != nil {
		t.Fatal(err)
	}
	p.person = alice.ID
	return p
}

// deliver hands the app one event of the person, as the router does, and
// returns the messages and prompts it caused.
func (p *platform) deliver(ev host.Event) ([]host.Message, []host.Outgoing) {
	p.t.Helper()
	p.seq++
	ev.V, ev.ID, ev.App = 1, fmt.Sprintf("ev%d", p.seq), p.ref.App
	ev.Conversation, ev.User, ev.Surface = "cv_1", p.ids.OpenID(p.ref, p.person), "web"
	payload, err := json.Marshal(ev)
	if err != nil {
		p.t.Fatal(err)
	}
	_, err = p.app.Dispatch(context.Background(), &sandbox.Event{
		Payload: payload,
		Caller:  host.Caller{Person: p.person, Conversation: "cv_1", Surface: "web", EventID: ev.ID},
		Out:     p.out,
	})
	if err != nil {
		p.t.Fatalf("%s event: %v\napp log:\n%s", ev.Type, err, p.log)
	}
	return p.out.take()
}

// press presses a button of card the way the person's client does.
func (p *platform) press(card *host.Card, id string) ([]host.Message, []host.Outgoing) {
	p.t.Helper()
	if card == nil {
		p.t.Fatalf("no card to press %q on", id)
	}
	for _, b := range card.Buttons {
		if b.ID == id {
			return p.deliver(host.Event{Type: host.EventAction, Action: &host.Action{ID: b.ID, Value: b.Value}})
		}
	}
	p.t.Fatalf("card %q has no button %q: %+v", card.Title, id, card.Buttons)
	return nil, nil
}

// deliverPayments delivers the payment outcomes the pay service reported,
// the way the platform's payment hook does.
func (p *platform) deliverPayments() []host.Message {
	p.t.Helper()
	var msgs []host.Message
	for _, o := range p.paid.take() {
		if o.Ref != p.ref {
			p.t.Fatalf("payment of order %s for %v reached %v", o.ID, o.Ref, p.ref)
		}
		ev := o.Event()
		m, _ := p.deliver(host.Event{Type: host.EventPayment, Payment: &ev})
		msgs = append(msgs, m...)
	}
	return msgs
}

// fireTimers makes the timer service fire everything due by in, and
// delivers the timer events.
func (p *platform) fireTimers(in time.Duration) []host.Message {
	p.t.Helper()
	p.fired = nil
	if _, err := p.timers.FireDue(context.Background(), time.Now().Add(in)); err != nil {
		p.t.Fatal(err)
	}
	var msgs []host.Message
	for _, tm := range p.fired {
		ev := tm.Event()
		m, _ := p.deliver(host.Event{Type: host.EventTimer, Timer: &ev})
		msgs = append(msgs, m...)
	}
	return msgs
}

func (p *platform) balances() (person, merchant int64) {
	p.t.Helper()
	ctx := context.Background()
	a, err := p.pay.Balance(ctx, pay.PersonAccount(p.person), "EUR")
	if err != nil {
		p.t.Fatal(err)
	}
	b, err := p.pay.Balance(ctx, pay.MerchantAccount(p.ref.Merchant), "EUR")
	if err != nil {
		p.t.Fatal(err)
	}
	return a, b
}

func onlyCard(t *testing.T, msgs []host.Message) *host.Card {
	t.Helper()
	if len(msgs) != 1 || msgs[0].Card == nil {
		t.Fatalf("want one card, got %s", jsonOf(msgs))
	}
	return msgs[0].Card
}

func onlyPrompt(t *testing.T, prompts []host.Outgoing, typ string, into any) {
	t.Helper()
	if len(prompts) != 1 {
		t.Fatalf("want one %s prompt, got %d", typ, len(prompts))
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(prompts[0].Body, &head); err != nil || head.Type != typ {
		t.Fatalf("prompt %s, want type %q", prompts[0].Body, typ)
	}
	if err := json.Unmarshal(prompts[0].Body, into); err != nil {
		t.Fatal(err)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestWasmOrderFlow drives the whole order in the real sandbox with the
// real host services: open → dish → size → side → consent → payment →
// receipt → timer → ready, and checks the money moved exactly once.
func TestWasmOrderFlow(t *testing.T) {
	ctx := context.Background()
	p := newPlatform(t)
	if err := p.pay.Fund(ctx, pay.PersonAccount(p.person), "EUR", 5000); err != nil {
		t.Fatal(err)
	}

	msgs, _ := p.deliver(host.Event{Type: host.EventOpen})
	menu := onlyCard(t, msgs)
	if menu.List == nil || len(menu.List.Items) != 4 || menu.List.Items[0].ID != "dish:soup" {
		t.Fatalf("menu %s", jsonOf(menu))
	}
	msgs, _ = p.deliver(host.Event{Type: host.EventAction, Action: &host.Action{ID: menu.List.Items[0].ID}})
	size := onlyCard(t, msgs)
	msgs, _ = p.press(size, "size:large")
	side := onlyCard(t, msgs)

	// The name needs the person's consent: the platform prompts them and
	// the app waits.
	msgs, prompts := p.press(side, "side:fries")
	ask := onlyCard(t, msgs)
	var consent identity.ConsentPromptBody
	onlyPrompt(t, prompts, "consent", &consent)
	if !slices.Contains(consent.Scopes, identity.ScopeProfile) || consent.App != "lunch" {
		t.Fatalf("consent prompt %+v", consent)
	}
	if err := p.ids.Grant(ctx, p.person, consent.ID, "web"); err != nil {
		t.Fatal(err)
	}

	msgs, prompts = p.press(ask, "continue")
	var prompt pay.PromptBody
	onlyPrompt(t, prompts, "payment", &prompt)
	if prompt.Amount != 1200 || prompt.Currency != "EUR" || prompt.Merchant != p.ref.Merchant {
		t.Fatalf("payment prompt %+v, want 1200 EUR to %s", prompt, p.ref.Merchant)
	}
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "Thanks, Alice! Order ") || !strings.Contains(msgs[0].Text, "Tomato soup (large, fries), 12.00 €") {
		t.Fatalf("after the name: %s", jsonOf(msgs))
	}
	if person, merchant := p.balances(); person != 5000 || merchant != 0 {
		t.Fatalf("money moved before confirmation: person %d, merchant %d", person, merchant)
	}

	// The person confirms in host-drawn UI; a second confirmation does nothing.
	if err := p.pay.Confirm(ctx, p.person, prompt.Order); err != nil {
		t.Fatal(err)
	}
	if err := p.pay.Confirm(ctx, p.person, prompt.Order); err != nil {
		t.Fatal(err)
	}
	msgs = p.deliverPayments()
	if len(msgs) != 2 || msgs[0].Card == nil || msgs[0].Card.Title != "Receipt" {
		t.Fatalf("after payment: %s", jsonOf(msgs))
	}
	receipt := msgs[0].Card.Text
	for _, want := range []string{"Tomato soup: 6.50 €", "Large: +2.50 €", "Fries: +3.00 €", "Total paid: 12.00 €", "payment " + prompt.Order} {
		if !strings.Contains(receipt, want) {
			t.Errorf("receipt %q lacks %q", receipt, want)
		}
	}
	if person, merchant := p.balances(); person != 5000-1200 || merchant != 1200 {
		t.Fatalf("balances after payment: person %d, merchant %d; want 3800 and 1200", person, merchant)
	}

	// Not yet due: nothing fires. Then the kitchen's timer fires.
	if msgs := p.fireTimers(0); len(msgs) != 0 {
		t.Fatalf("timer fired early: %s", jsonOf(msgs))
	}
	msgs = p.fireTimers(time.Minute)
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "Alice, your order ") || !strings.Contains(msgs[0].Text, "is ready: Tomato soup (large, fries)") {
		t.Fatalf("ready message: %s", jsonOf(msgs))
	}

	// Next time: the usual is remembered in the person's storage.
	msgs, _ = p.deliver(host.Event{Type: host.EventOpen})
	menu = onlyCard(t, msgs)
	if it := menu.List.Items[0]; it.ID != "usual" || it.Description != "Tomato soup (large, fries) · 12.00 €" {
		t.Fatalf("usual item %+v", it)
	}
	// The usual goes straight to payment: the name is already allowed.
	_, prompts = p.deliver(host.Event{Type: host.EventAction, Action: &host.Action{ID: "usual"}})
	var usual pay.PromptBody
	onlyPrompt(t, prompts, "payment", &usual)
	if usual.Amount != 1200 || usual.Order == prompt.Order {
		t.Fatalf("usual: prompt %+v, want a new order of 1200", usual)
	}
	if err := p.pay.Confirm(ctx, p.person, usual.Order); err != nil {
		t.Fatal(err)
	}
	if msgs := p.deliverPayments(); len(msgs) != 2 || msgs[0].Card == nil || msgs[0].Card.Title != "Receipt" {
		t.Fatalf("usual paid: %s", jsonOf(msgs))
	}
	if person, merchant := p.balances(); person != 5000-2*1200 || merchant != 2*1200 {
		t.Fatalf("balances after two lunches: person %d, merchant %d", person, merchant)
	}
	if err := p.pay.Audit(ctx); err != nil {
		t.Fatalf("ledger audit: %v", err)
	}
}

// TestWasmDeclined pays with too little money: the order is declined, no
// money moves, the app offers a retry, and the retry after a top-up pays.
func TestWasmDeclined(t *testing.T) {
	ctx := context.Background()
	p := newPlatform(t)
	if err := p.pay.Fund(ctx, pay.PersonAccount(p.person), "EUR", 500); err != nil {
		t.Fatal(err)
	}
	if err := p.ids.GrantScopes(ctx, p.person, p.ref, []identity.Scope{identity.ScopeProfile}, "web"); err != nil {
		t.Fatal(err)
	}
	msgs, _ := p.deliver(host.Event{Type: host.EventAction, Action: &host.Action{ID: "dish:soup"}})
	msgs, _ = p.press(onlyCard(t, msgs), "size:regular")
	_, prompts := p.press(onlyCard(t, msgs), "side:none")
	var prompt pay.PromptBody
	onlyPrompt(t, prompts, "payment", &prompt)
	if prompt.Amount != 650 {
		t.Fatalf("prompt %+v, want 650", prompt)
	}
	if err := p.pay.Confirm(ctx, p.person, prompt.Order); err == nil {
		t.Fatal("confirm with 5.00 € for a 6.50 € order succeeded")
	}
	msgs = p.deliverPayments()
	card := onlyCard(t, msgs)
	if card.Title != "Not paid" || !strings.Contains(card.Text, "does not hold enough money") {
		t.Fatalf("declined: %s", jsonOf(card))
	}
	if person, merchant := p.balances(); person != 500 || merchant != 0 {
		t.Fatalf("a declined order moved money: person %d, merchant %d", person, merchant)
	}
	if len(p.fireTimers(time.Hour)) != 0 {
		t.Fatal("a declined order set the ready timer")
	}

	if err := p.pay.Fund(ctx, pay.PersonAccount(p.person), "EUR", 1000); err != nil {
		t.Fatal(err)
	}
	_, prompts = p.press(card, "retry")
	var again pay.PromptBody
	onlyPrompt(t, prompts, "payment", &again)
	if again.Order == prompt.Order || again.Amount != 650 {
		t.Fatalf("retry prompt %+v: want a new order of 650", again)
	}
	if err := p.pay.Confirm(ctx, p.person, again.Order); err != nil {
		t.Fatal(err)
	}
	msgs = p.deliverPayments()
	if len(msgs) == 0 || msgs[0].Card == nil || msgs[0].Card.Title != "Receipt" {
		t.Fatalf("after the retry: %s", jsonOf(msgs))
	}
	if person, merchant := p.balances(); person != 1500-650 || merchant != 650 {
		t.Fatalf("balances: person %d, merchant %d; want 850 and 650", person, merchant)
	}
}

// TestWasmModule checks the module against the ABI with every host API on
// offer: no violations, a reactor, and exactly the operations lunch uses.
func TestWasmModule(t *testing.T) {
	ctx := context.Background()
	p := newPlatform(t)
	if m := p.app.Manifest(); m.ID != "lunch" || len(m.Permissions) != 5 {
		t.Fatalf("manifest %+v", m)
	}
	rep, err := p.eng.Check(ctx, lunchWasm)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		t.Fatalf("violations: %+v", rep.Violations)
	}
	var ours []string
	for _, imp := range rep.Imports {
		if op, ok := strings.CutPrefix(imp, "passerelle_v1."); ok {
			ours = append(ours, op)
		}
	}
	slices.Sort(ours)
	want := []string{"chat_send", "event_read", "identity_profile", "kv_delete", "kv_get", "kv_set", "log", "pay_request", "result_read", "timer_after"}
	if !slices.Equal(ours, want) {
		t.Fatalf("imports %v, want %v", ours, want)
	}
	if !slices.Contains(rep.Exports, "_initialize") || slices.Contains(rep.Exports, "_start") {
		t.Fatalf("exports %v: want a reactor", rep.Exports)
	}
}

// TestWasmConsent covers the person's say over their name: a refused
// prompt lets them order without it, and a revoked grant is asked for again.
func TestWasmConsent(t *testing.T) {
	ctx := context.Background()
	p := newPlatform(t)
	if err := p.pay.Fund(ctx, pay.PersonAccount(p.person), "EUR", 5000); err != nil {
		t.Fatal(err)
	}
	choose := func() (*host.Card, []host.Outgoing) {
		t.Helper()
		msgs, _ := p.deliver(host.Event{Type: host.EventAction, Action: &host.Action{ID: "dish:salad"}})
		msgs, _ = p.press(onlyCard(t, msgs), "size:regular")
		msgs, prompts := p.press(onlyCard(t, msgs), "side:none")
		return onlyCard(t, msgs), prompts
	}

	ask, prompts := choose()
	var consent identity.ConsentPromptBody
	onlyPrompt(t, prompts, "consent", &consent)
	if err := p.ids.Refuse(ctx, p.person, consent.ID); err != nil {
		t.Fatal(err)
	}
	msgs, prompts := p.press(ask, "anon")
	var prompt pay.PromptBody
	onlyPrompt(t, prompts, "payment", &prompt)
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "Thanks! Order ") || prompt.Amount != 890 {
		t.Fatalf("without a name: %s, prompt %+v", jsonOf(msgs), prompt)
	}

	if err := p.ids.GrantScopes(ctx, p.person, p.ref, []identity.Scope{identity.ScopeProfile}, "web"); err != nil {
		t.Fatal(err)
	}
	if err := p.ids.Revoke(ctx, p.person, p.ref, identity.ScopeProfile); err != nil {
		t.Fatal(err)
	}
	ask, prompts = choose()
	onlyPrompt(t, prompts, "consent", &consent)
	if ask.Title != "May I have your name?" {
		t.Fatalf("after a revoke: %s", jsonOf(ask))
	}
}
