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

// rideWasm is this app built once per test binary by TestMain with the real
// Go toolchain, its manifest embedded; cacheDir is the compilation cache the
// tests share, so it is compiled once too.
var (
	rideWasm []byte
	cacheDir string
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "ride-wasm-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		cacheDir = filepath.Join(dir, "cache")
		if rideWasm, err = buildWasm(dir); err != nil {
			fmt.Fprintln(os.Stderr, "build ride:", err)
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

func (n *notifier) peek() []pay.Order {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]pay.Order(nil), n.orders...)
}

func (n *notifier) take() []pay.Order {
	n.mu.Lock()
	defer n.mu.Unlock()
	o := n.orders
	n.orders = nil
	return o
}

// platform is the real host services on a real bbolt file, the real sandbox
// and the ride module, wired the way the server wires them.
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
	p := &platform{t: t, ref: host.AppRef{Merchant: "m_taxi", App: "ride", Version: "1.0.0"},
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
	if p.app, err = eng.Load(ctx, p.ref, rideWasm); err != nil {
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

// quoteAndBook fills the form, books the quote and returns the quote card
// and the payment prompt.
func quoteAndBook(t *testing.T, p *platform) (*host.Card, pay.PromptBody) {
	t.Helper()
	msgs, _ := p.deliver(host.Event{Type: host.EventOpen})
	form := onlyCard(t, msgs)
	if form.Form == nil || form.Form.ID != "ride" || len(form.Form.Fields) != 3 {
		t.Fatalf("open: %s", jsonOf(form))
	}
	msgs, _ = p.deliver(host.Event{Type: host.EventAction, Action: &host.Action{ID: "ride",
		Fields: map[string]string{"pickup": "12 Rue Oberkampf", "dropoff": "Gare de Lyon", "passengers": "2"}}})
	quote := onlyCard(t, msgs)
	if !strings.HasPrefix(quote.Title, "Your ride · ") || !strings.Contains(quote.Text, "From: 12 Rue Oberkampf\nTo: Gare de Lyon") {
		t.Fatalf("quote: %s", jsonOf(quote))
	}
	msgs, prompts := p.press(quote, "book")
	var prompt pay.PromptBody
	onlyPrompt(t, prompts, "payment", &prompt)
	if !strings.HasSuffix(quote.Title, Money(prompt.Amount, "EUR")) || prompt.Amount < 350+2*110 {
		t.Fatalf("prompt of %d for quote %q", prompt.Amount, quote.Title)
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "Please confirm the payment") {
		t.Fatalf("book: %s", jsonOf(msgs))
	}
	return quote, prompt
}

// TestWasmRide books, pays and waits for the driver in the real sandbox
// with the real storage, payment and timer services.
func TestWasmRide(t *testing.T) {
	ctx := context.Background()
	p := newPlatform(t)
	if err := p.pay.Fund(ctx, pay.PersonAccount(p.person), "EUR", 5000); err != nil {
		t.Fatal(err)
	}
	_, prompt := quoteAndBook(t, p)
	if err := p.pay.Confirm(ctx, p.person, prompt.Order); err != nil {
		t.Fatal(err)
	}
	booked := onlyCard(t, p.deliverPayments())
	if !strings.HasPrefix(booked.Title, "Booked") || !strings.Contains(booked.Text, "arriving at 12 Rue Oberkampf in about 10 seconds") {
		t.Fatalf("booked: %s", jsonOf(booked))
	}
	if person, merchant := p.balances(); person != 5000-prompt.Amount || merchant != prompt.Amount {
		t.Fatalf("balances: person %d, merchant %d after paying %d", person, merchant, prompt.Amount)
	}
	if msgs := p.fireTimers(0); len(msgs) != 0 {
		t.Fatalf("the driver arrived at once: %s", jsonOf(msgs))
	}
	msgs := p.fireTimers(time.Minute)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "is arriving at 12 Rue Oberkampf. Look for the") {
		t.Fatalf("arrival: %s", jsonOf(msgs))
	}
	// Too late to cancel now.
	msgs, _ = p.press(booked, "cancel")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "already arrived") {
		t.Fatalf("late cancel: %s", jsonOf(msgs))
	}
	if person, _ := p.balances(); person != 5000-prompt.Amount {
		t.Fatalf("a late cancel refunded: person %d", person)
	}
}

// TestWasmCancel cancels a booked ride before the driver arrives: the
// payment is refunded in full, the refund reaches the app, and the arrival
// timer never fires.
func TestWasmCancel(t *testing.T) {
	ctx := context.Background()
	p := newPlatform(t)
	if err := p.pay.Fund(ctx, pay.PersonAccount(p.person), "EUR", 5000); err != nil {
		t.Fatal(err)
	}
	_, prompt := quoteAndBook(t, p)
	if err := p.pay.Confirm(ctx, p.person, prompt.Order); err != nil {
		t.Fatal(err)
	}
	booked := onlyCard(t, p.deliverPayments())
	msgs, _ := p.press(booked, "cancel")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "is cancelled. "+Money(prompt.Amount, "EUR")+" goes back to your wallet") {
		t.Fatalf("cancel: %s", jsonOf(msgs))
	}
	// The refund's payment event reaches the app, which already told the
	// person at cancellation and says nothing more.
	if got := p.paid.peek(); len(got) != 1 || got[0].State != pay.StateRefunded {
		t.Fatalf("want one refunded outcome, got %+v", got)
	}
	if msgs := p.deliverPayments(); len(msgs) != 0 {
		t.Fatalf("refund event: %s", jsonOf(msgs))
	}
	if person, merchant := p.balances(); person != 5000 || merchant != 0 {
		t.Fatalf("balances after the refund: person %d, merchant %d; want 5000 and 0", person, merchant)
	}
	if msgs := p.fireTimers(time.Hour); len(msgs) != 0 {
		t.Fatalf("the cancelled ride's driver arrived: %s", jsonOf(msgs))
	}
	// Cancelling twice refunds once.
	msgs, _ = p.press(booked, "cancel")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "already cancelled") {
		t.Fatalf("second cancel: %s", jsonOf(msgs))
	}
	if err := p.pay.Audit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWasmDeclinedRide pays from an empty wallet and retries after a top-up.
func TestWasmDeclinedRide(t *testing.T) {
	ctx := context.Background()
	p := newPlatform(t)
	_, prompt := quoteAndBook(t, p)
	if err := p.pay.Confirm(ctx, p.person, prompt.Order); err == nil {
		t.Fatal("paid from an empty wallet")
	}
	notBooked := onlyCard(t, p.deliverPayments())
	if notBooked.Title != "Not booked" || !strings.Contains(notBooked.Text, "no driver was sent") {
		t.Fatalf("declined: %s", jsonOf(notBooked))
	}
	if err := p.pay.Fund(ctx, pay.PersonAccount(p.person), "EUR", 5000); err != nil {
		t.Fatal(err)
	}
	_, prompts := p.press(notBooked, "retry")
	var again pay.PromptBody
	onlyPrompt(t, prompts, "payment", &again)
	if again.Order == prompt.Order || again.Amount != prompt.Amount {
		t.Fatalf("retry prompt %+v after %+v", again, prompt)
	}
	// A double press on Try again asks for the same order.
	_, prompts = p.press(notBooked, "retry")
	var twice pay.PromptBody
	onlyPrompt(t, prompts, "payment", &twice)
	if twice.Order != again.Order {
		t.Fatalf("a double press made two orders: %s and %s", again.Order, twice.Order)
	}
	if err := p.pay.Confirm(ctx, p.person, again.Order); err != nil {
		t.Fatal(err)
	}
	if c := onlyCard(t, p.deliverPayments()); !strings.HasPrefix(c.Title, "Booked") {
		t.Fatalf("after retry: %s", jsonOf(c))
	}
	rep, err := p.eng.Check(ctx, rideWasm)
	if err != nil || len(rep.Violations) > 0 {
		t.Fatalf("check: %v %+v", err, rep)
	}
}
