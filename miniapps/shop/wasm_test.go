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

// shopWasm is this app built once per test binary by TestMain with the real
// Go toolchain, its manifest embedded; cacheDir is the compilation cache the
// tests share, so it is compiled once too.
var (
	shopWasm []byte
	cacheDir string
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "shop-wasm-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		cacheDir = filepath.Join(dir, "cache")
		if shopWasm, err = buildWasm(dir); err != nil {
			fmt.Fprintln(os.Stderr, "build shop:", err)
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
// and the shop module, wired the way the server wires them.
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
	p := &platform{t: t, ref: host.AppRef{Merchant: "m_atelier", App: "shop", Version: "1.0.0"},
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
	if p.app, err = eng.Load(ctx, p.ref, shopWasm); err != nil {
		t.Fatal(err)
	}
	alice, err := p.ids.CreatePerson(ctx, "Chloé", "")
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

func pick(t *testing.T, p *platform, id string) []host.Message {
	t.Helper()
	msgs, _ := p.deliver(host.Event{Type: host.EventAction, Action: &host.Action{ID: id}})
	return msgs
}

// addToCart opens a product and presses its size button.
func addToCart(t *testing.T, p *platform, product, size string) *host.Card {
	t.Helper()
	card := onlyCard(t, pick(t, p, "product:"+product))
	if !strings.HasPrefix(card.Image, "https://") {
		t.Fatalf("product card without an https image: %s", jsonOf(card))
	}
	msgs, _ := p.press(card, "size:"+size)
	return onlyCard(t, msgs)
}

// TestWasmShop browses, fills a cart, checks out and pays in the real
// sandbox with the real storage and payment services.
func TestWasmShop(t *testing.T) {
	ctx := context.Background()
	p := newPlatform(t)
	if err := p.pay.Fund(ctx, pay.PersonAccount(p.person), "EUR", 10000); err != nil {
		t.Fatal(err)
	}
	msgs, _ := p.deliver(host.Event{Type: host.EventOpen})
	if cat := onlyCard(t, msgs); cat.List == nil || len(cat.List.Items) != 4 {
		t.Fatalf("catalogue %s", jsonOf(cat))
	}
	added := addToCart(t, p, "tee", "M")
	if !strings.Contains(added.Text, "Cart: 1 item, 29.00 €") {
		t.Fatalf("added: %q", added.Text)
	}
	added = addToCart(t, p, "jeans", "32")
	if !strings.Contains(added.Text, "Cart: 2 items, 98.00 €") {
		t.Fatalf("added: %q", added.Text)
	}

	msgs, prompts := p.press(added, "checkout")
	var prompt pay.PromptBody
	onlyPrompt(t, prompts, "payment", &prompt)
	if prompt.Amount != 9800 || prompt.Currency != "EUR" {
		t.Fatalf("prompt %+v, want 9800 EUR", prompt)
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "98.00 €. Please confirm") {
		t.Fatalf("checkout: %s", jsonOf(msgs))
	}
	// A second press on the same cart asks for the same order.
	_, prompts = p.press(added, "checkout")
	var again pay.PromptBody
	onlyPrompt(t, prompts, "payment", &again)
	if again.Order != prompt.Order {
		t.Fatalf("checking out the same cart twice made two orders: %s and %s", prompt.Order, again.Order)
	}

	if err := p.pay.Confirm(ctx, p.person, prompt.Order); err != nil {
		t.Fatal(err)
	}
	msgs = p.deliverPayments()
	thanks := onlyCard(t, msgs)
	for _, want := range []string{"1 × Linen tee (M): 29.00 €", "1 × Straight jeans (32): 69.00 €", "Total paid: 98.00 €", prompt.Order} {
		if !strings.Contains(thanks.Text, want) {
			t.Errorf("receipt %q lacks %q", thanks.Text, want)
		}
	}
	if person, merchant := p.balances(); person != 200 || merchant != 9800 {
		t.Fatalf("balances: person %d, merchant %d; want 200 and 9800", person, merchant)
	}
	msgs, _ = p.deliver(host.Event{Type: host.EventMessage, Text: "cart"})
	if c := onlyCard(t, msgs); !strings.Contains(c.Text, "Your cart is empty") {
		t.Fatalf("cart after payment: %s", jsonOf(c))
	}

	// Too little money: declined, cart kept, retry after a top-up pays.
	added = addToCart(t, p, "hoodie", "L")
	_, prompts = p.press(added, "checkout")
	onlyPrompt(t, prompts, "payment", &prompt)
	if err := p.pay.Confirm(ctx, p.person, prompt.Order); err == nil {
		t.Fatal("a 55.00 € order was paid from a 2.00 € wallet")
	}
	notPaid := onlyCard(t, p.deliverPayments())
	if notPaid.Title != "Not paid" || !strings.Contains(notPaid.Text, "does not hold enough money") || !strings.Contains(notPaid.Text, "cart is kept") {
		t.Fatalf("declined: %s", jsonOf(notPaid))
	}
	if err := p.pay.Fund(ctx, pay.PersonAccount(p.person), "EUR", 6000); err != nil {
		t.Fatal(err)
	}
	_, prompts = p.press(notPaid, "retry")
	onlyPrompt(t, prompts, "payment", &again)
	if again.Order == prompt.Order || again.Amount != 5500 {
		t.Fatalf("retry prompt %+v", again)
	}
	if err := p.pay.Confirm(ctx, p.person, again.Order); err != nil {
		t.Fatal(err)
	}
	if c := onlyCard(t, p.deliverPayments()); c.Title != "Thank you for your order" {
		t.Fatalf("after retry: %s", jsonOf(c))
	}
	if person, merchant := p.balances(); person != 200+6000-5500 || merchant != 9800+5500 {
		t.Fatalf("balances: person %d, merchant %d", person, merchant)
	}
	if err := p.pay.Audit(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := p.eng.Check(ctx, shopWasm)
	if err != nil || len(rep.Violations) > 0 {
		t.Fatalf("check: %v %+v", err, rep)
	}
}

// TestWasmCartIsPrivate checks that two people of the same app do not see
// each other's cart.
func TestWasmCartIsPrivate(t *testing.T) {
	ctx := context.Background()
	p := newPlatform(t)
	addToCart(t, p, "cap", "One size")
	bob, err := p.ids.CreatePerson(ctx, "Bob", "")
	if err != nil {
		t.Fatal(err)
	}
	p.person = bob.ID
	msgs, _ := p.deliver(host.Event{Type: host.EventMessage, Text: "cart"})
	if c := onlyCard(t, msgs); !strings.Contains(c.Text, "Your cart is empty") {
		t.Fatalf("Bob sees a cart: %s", jsonOf(c))
	}
}
