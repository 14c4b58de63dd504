// Package apptest runs a mini-app in tests the way the platform runs it,
// like net/http/httptest does for HTTP handlers.
//
// New builds the app's directory to wasm with the real Go toolchain (once
// per directory per test binary, through runtime/appbuild), loads it into a
// real sandbox.Engine and serves it the real host services
// (host/services) on a bbolt file in t.TempDir(). People then use the app:
//
//	p := apptest.New(t, ".", apptest.Options{})
//	alice := p.NewPerson("Alice")
//	alice.Fund("EUR", 5000)
//	msgs, _ := alice.Open()
//	card := apptest.OnlyCard(t, msgs)
//	_, prompts := alice.Press(card, "buy")
//	var prompt pay.PromptBody
//	apptest.OnlyPrompt(t, prompts, "payment", &prompt)
//	alice.Confirm(prompt.Order)
//	msgs = p.DeliverPayments()
//
// The consent rules hold as on a server (host/consent): what a person
// sends opens the service window, STOP and the other keywords are answered
// by the platform (the app does not get them; DeliverStandings gives it
// the optout and optin events), and what the app sends a person outside
// the window (Options.Now moves the rules' clock) is refused unless they
// accepted a subscribe prompt (Person.Answer).
//
// Every event is dispatched synchronously; the messages the app sends and
// the prompts the platform draws (payment, consent, share) come back from
// the call that caused them. Payment outcomes, answers to consent prompts
// and due timers are queued, as the platform queues them, and reach the app
// when the test calls DeliverPayments, DeliverConsents or FireTimers: no
// background loop runs.
//
// Compiled modules are cached where the local tools keep them
// (appbuild.CompileCacheDir; PASSERELLE_COMPILE_CACHE=off keeps them in
// memory), so a module is compiled once, not once per test.
package apptest

import (
	"bytes"
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

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/host/services"
	"github.com/passerelle/passerelle/runtime/appbuild"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/hostevents"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// builds caches one build per absolute directory for the test binary.
var builds sync.Map // string → *build

type build struct {
	once sync.Once
	wasm []byte
	err  error
}

// Build builds the app in dir (its Go package, or its C sources, and
// manifest.json) once per test binary and returns the module with its
// manifest embedded. A failed build fails t with the compiler's output; a
// C app without clang skips t (see NeedClang).
func Build(t testing.TB, dir string) []byte {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if isC, err := appbuild.IsC(abs); err != nil {
		t.Fatal(err)
	} else if isC {
		NeedClang(t)
	}
	v, _ := builds.LoadOrStore(abs, &build{})
	b := v.(*build)
	b.once.Do(func() {
		var out bytes.Buffer
		built, err := appbuild.Build(context.Background(), abs, "", &out)
		if err != nil {
			b.err = fmt.Errorf("build %s: %w\n%s", dir, err, out.String())
			return
		}
		b.wasm = built.Wasm
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.wasm
}

// NeedClang skips t when clang or wasm-ld is not on PATH, saying how to
// install them, except under CI (CI=true), where it fails t: there the C
// SDK and the C apps must be tested.
func NeedClang(t testing.TB) {
	t.Helper()
	var missing []string
	for _, tool := range []string{"clang", "wasm-ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("%s not on PATH: C mini-apps need clang and lld 14 or later (Debian: apt-get install clang lld; .ci/setup installs them)", strings.Join(missing, " and "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; under CI the C tests must run, not skip")
	} else {
		t.Skip(msg)
	}
}

// Options configures New. Every field is optional.
type Options struct {
	// Ref is the app version's identity; empty fields take merchant
	// "m_test" and the manifest's id and version.
	Ref host.AppRef
	// Conversation and Surface are where events happen ("cv_1" and "web" by
	// default).
	Conversation string
	Surface      string
	// Funcs replace the platform's operations with the same Op, e.g. a
	// chat.send that fails, to test the app's error paths.
	Funcs []host.Func
	// Now is the clock of the consent rules (time.Now if nil): advance it
	// past the service window (consent.DefaultWindow) to test what the app
	// may send a person who has not written for a day.
	Now func() time.Time
}

// Platform is one app loaded in a real sandbox with the real host
// services. Its fields are there for assertions beyond what its methods
// offer; tests should not close them.
type Platform struct {
	Ref      host.AppRef
	Wasm     []byte
	Services *services.Services
	Engine   *sandbox.Engine
	App      *sandbox.App

	t            testing.TB
	conversation string
	surface      string
	now          func() time.Time
	out          outbox
	log          appLog

	events *hostevents.Queue // payment outcomes, consent answers and due timers, as the platform queues them
	commit *bolt.Committer   // commits each event's effects with its consumption (apps.RunTx)

	mu  sync.Mutex
	seq int
}

// New builds the app in dir, opens the host services on a fresh store and
// loads the app. Everything is closed when the test ends.
func New(t testing.TB, dir string, opts Options) *Platform {
	t.Helper()
	ctx := context.Background()
	p := &Platform{t: t, Wasm: Build(t, dir), conversation: opts.Conversation, surface: opts.Surface, events: hostevents.New()}
	if p.conversation == "" {
		p.conversation = "cv_1"
	}
	if p.surface == "" {
		p.surface = "web"
	}
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "passerelle.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p.now = opts.Now
	if p.now == nil {
		p.now = time.Now
	}
	// The registry keeps the app's images, as the platform's does, so that
	// a card's "asset:<name>" resolves to the URL the gateway serves.
	reg, err := registry.Open(db, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	p.Services, err = services.Open(db, services.Config{Events: p.events.Push, Consent: &consent.Config{Now: p.now}, Assets: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Services.Close) // before db's
	p.commit = bolt.NewCommitter(db, bolt.Config{})
	t.Cleanup(p.commit.Close)
	funcs := p.Services.Funcs()
	for _, f := range opts.Funcs {
		replaced := false
		for i := range funcs {
			if funcs[i].Op == f.Op {
				funcs[i], replaced = f, true
			}
		}
		if !replaced {
			funcs = append(funcs, f)
		}
	}
	p.Engine, err = sandbox.New(ctx, sandbox.Config{
		CacheDir: appbuild.CompileCacheDir(),
		Funcs:    funcs,
		PoolSize: 1,
		// A test must not fail because the machine running it is slow
		// (a shared CI runner, the race detector): where the manifest
		// says nothing, an event may run until the built-in ceiling
		// rather than the 1 s a server gives it. The fuel budget, which
		// does not depend on the machine, still stops a runaway guest.
		Defaults: host.Limits{EventTimeoutMS: 10_000},
		Logger:   slog.New(slog.DiscardHandler),
		AppLog:   &p.log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Engine.Close(ctx) })
	p.Ref = opts.Ref
	if p.Ref.Merchant == "" {
		p.Ref.Merchant = "m_test"
	}
	if p.Ref.App == "" || p.Ref.Version == "" {
		rep, err := p.Engine.Check(ctx, p.Wasm)
		if err != nil || rep.Manifest == nil {
			t.Fatalf("read the manifest of %s: %v", dir, err)
		}
		if p.Ref.App == "" {
			p.Ref.App = rep.Manifest.ID
		}
		if p.Ref.Version == "" {
			p.Ref.Version = rep.Manifest.Version
		}
	}
	m, err := wasmfile.ReadManifest(p.Wasm)
	if err != nil {
		t.Fatalf("read the manifest of %s: %v", dir, err)
	}
	m.ID, m.Version = p.Ref.App, p.Ref.Version
	if _, _, err := reg.Add(p.Ref.Merchant, "apptest", *m, p.Wasm); err != nil {
		t.Fatalf("add %s to the registry: %v", dir, err)
	}
	if p.App, err = p.Engine.Load(ctx, p.Ref, p.Wasm); err != nil {
		t.Fatalf("load %s: %v", dir, err)
	}
	return p
}

// NewPerson creates a person on the platform, with an empty wallet.
func (p *Platform) NewPerson(name string) *Person {
	p.t.Helper()
	pp, err := p.Services.Identity.CreatePerson(context.Background(), name, "")
	if err != nil {
		p.t.Fatal(err)
	}
	return &Person{ID: pp.ID, Name: name, p: p}
}

// Log returns the app's log so far, one "source LEVEL message" line per
// record, e.g. `log WARN unknown button "x"` or "stderr INFO panic: ...".
func (p *Platform) Log() []string { return p.log.lines() }

// PendingPayments returns the payment outcomes not yet delivered to the app.
func (p *Platform) PendingPayments() []host.PaymentEvent {
	var out []host.PaymentEvent
	for _, ev := range p.events.Pending() {
		if ev.Event.Payment != nil {
			out = append(out, *ev.Event.Payment)
		}
	}
	return out
}

// DeliverPayments delivers the queued payment outcomes to the app as
// payment events of the order's person, the way the platform does, and
// returns the messages the app sent in answer.
func (p *Platform) DeliverPayments() []host.Message {
	p.t.Helper()
	msgs, _ := p.deliver(p.events.Take(host.EventPayment))
	return msgs
}

// DeliverConsents delivers the queued answers to consent prompts (see
// Person.Grant and Person.Refuse) to the app as consent events of the
// person, in the conversation where the app asked, the way the platform
// does, and returns the messages the app sent and the prompts the platform
// drew in answer.
func (p *Platform) DeliverConsents() ([]host.Message, []host.Outgoing) {
	p.t.Helper()
	return p.deliver(p.events.Take(host.EventConsent))
}

// Deliver delivers the queued events of the given types (host.EventPayment,
// host.EventConsent, host.EventOptOut...; every queued event when none is
// given) to the app, and returns the messages it sent and the prompts the
// platform drew in answer.
func (p *Platform) Deliver(types ...string) ([]host.Message, []host.Outgoing) {
	p.t.Helper()
	return p.deliver(p.events.Take(types...))
}

// DeliverStandings delivers the queued optout and optin events (the
// person sent STOP, STOPALL or START, see Person.Message) to the app, and
// returns the messages it sent in answer (the consent rules refuse those
// to a person who stopped the app).
func (p *Platform) DeliverStandings() []host.Message {
	p.t.Helper()
	msgs, _ := p.deliver(p.events.Take(host.EventOptOut, host.EventOptIn))
	return msgs
}

// FireTimers fires every timer due within d from now and delivers the timer
// events to the app, returning the messages it sent in answer.
func (p *Platform) FireTimers(d time.Duration) []host.Message {
	p.t.Helper()
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { // each Fire waits for its event's delivery below
		_, err := p.Services.Timers.FireDue(ctx, time.Now().Add(d))
		done <- err
	}()
	var msgs []host.Message
	for {
		select {
		case err := <-done:
			if err != nil {
				p.t.Fatal(err)
			}
			return msgs
		case <-p.events.Waiting():
			m, _ := p.deliver(p.events.Take(host.EventTimer))
			msgs = append(msgs, m...)
		}
	}
}

// deliver hands evs to the app, as the events of their person in their
// conversation, and tells their services they were delivered.
func (p *Platform) deliver(evs []services.Event) ([]host.Message, []host.Outgoing) {
	p.t.Helper()
	var (
		msgs    []host.Message
		prompts []host.Outgoing
	)
	for _, ev := range evs {
		if ev.App.Merchant != p.Ref.Merchant || ev.App.App != p.Ref.App {
			p.t.Fatalf("%s event for %v reached %v", ev.Event.Type, ev.App, p.Ref)
		}
		e := ev.Event
		e.Conversation, e.Surface = ev.Conversation, ev.Surface
		m, pr, err := p.dispatch(ev.Person, e, ev.Consume)
		if err != nil {
			p.t.Fatalf("%s event: %v\napp log:\n%s", e.Type, err, strings.Join(p.Log(), "\n"))
		}
		ev.Done(context.Background(), nil)
		msgs = append(msgs, m...)
		prompts = append(prompts, pr...)
	}
	return msgs, prompts
}

// MerchantBalance returns the app's merchant's balance in currency.
func (p *Platform) MerchantBalance(currency string) int64 {
	p.t.Helper()
	b, err := p.Services.Pay.Balance(context.Background(), pay.MerchantAccount(p.Ref.Merchant), currency)
	if err != nil {
		p.t.Fatal(err)
	}
	return b
}

// Balances returns a's and the app's merchant's balances in currency.
func (p *Platform) Balances(a *Person, currency string) (person, merchant int64) {
	p.t.Helper()
	return a.Balance(currency), p.MerchantBalance(currency)
}

func (p *Platform) person(id string) *Person { return &Person{ID: id, p: p} }

// dispatch hands the app one event of person, filling in what the router
// fills in, and returns what the app emitted.
// consume, when not nil, marks a kept event consumed in the commit.
func (p *Platform) dispatch(person string, ev host.Event, consume func(*bbolt.Tx) error) ([]host.Message, []host.Outgoing, error) {
	p.mu.Lock()
	p.seq++
	id := fmt.Sprintf("ev%d", p.seq)
	p.mu.Unlock()
	ev.V, ev.ID, ev.App = 1, id, p.Ref.App
	if ev.Conversation == "" {
		ev.Conversation = p.conversation
	}
	if ev.Surface == "" {
		ev.Surface = p.surface
	}
	ev.User = p.Services.Identity.OpenID(p.Ref, person)
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, nil, err
	}
	p.out.take() // nothing from an earlier event leaks into this one
	ctx := context.Background()
	appEv := host.AppEvent{Person: person, Conversation: ev.Conversation, Surface: ev.Surface, Event: ev}
	reply, err := apps.Screen(ctx, p.Services.Consent, p.Ref, appEv, p.now())
	if err != nil {
		return nil, nil, err
	}
	if reply.Keyword != consent.KeywordNone { // the platform's, as on a server
		if typ, ok := apps.StandingEvent(reply.Keyword); ok && !reply.Duplicate {
			p.events.Push(ctx, services.Event{App: host.AppRef{Merchant: p.Ref.Merchant, App: p.Ref.App}, Person: person,
				Conversation: ev.Conversation, Surface: ev.Surface, Event: host.Event{Type: typ}})
		}
		return []host.Message{{Text: reply.Text}}, nil, nil
	}
	if held, err := apps.Held(ctx, p.Services.Handoffs, appEv); held || err != nil {
		return nil, nil, err // the merchant's staff read it in the inbox
	}
	if m := p.App.Manifest(); !m.Wants(ev.Type) {
		return nil, nil, nil // an opt-in event the app did not ask for: not run, as on a server
	}
	_, err = apps.RunTx(ctx, p.App, &sandbox.Event{
		Payload: payload,
		Caller:  host.Caller{Person: person, Conversation: ev.Conversation, Surface: ev.Surface, EventID: id},
		Out:     &p.out,
	}, p.commit, consume)
	msgs, prompts := p.out.take()
	return msgs, prompts, err
}

// Person is someone using the app.
type Person struct {
	ID   string // platform person id
	Name string
	p    *Platform
}

// OpenID is the person's id as the app sees it (the events' User).
func (a *Person) OpenID() string { return a.p.Services.Identity.OpenID(a.p.Ref, a.ID) }

// Fund adds amount (minor units) of currency to the person's wallet.
func (a *Person) Fund(currency string, amount int64) {
	a.p.t.Helper()
	if err := a.p.Services.Pay.Fund(context.Background(), pay.PersonAccount(a.ID), currency, amount); err != nil {
		a.p.t.Fatal(err)
	}
}

// Balance returns the person's wallet balance in currency.
func (a *Person) Balance(currency string) int64 {
	a.p.t.Helper()
	b, err := a.p.Services.Pay.Balance(context.Background(), pay.PersonAccount(a.ID), currency)
	if err != nil {
		a.p.t.Fatal(err)
	}
	return b
}

// Send delivers ev from the person (V, ID, App and User are filled in; so
// are Conversation and Surface when empty) and returns the messages the app
// sent and the prompts the platform drew. The test fails, with the app's
// log, if the event fails.
func (a *Person) Send(ev host.Event) ([]host.Message, []host.Outgoing) {
	a.p.t.Helper()
	msgs, prompts, err := a.p.dispatch(a.ID, ev, nil)
	if err != nil {
		a.p.t.Fatalf("%s event: %v\napp log:\n%s", ev.Type, err, strings.Join(a.p.Log(), "\n"))
	}
	return msgs, prompts
}

// TrySend is Send returning the event's error (a *sandbox.GuestError, a
// *sandbox.LimitError...) instead of failing the test.
func (a *Person) TrySend(ev host.Event) ([]host.Message, []host.Outgoing, error) {
	return a.p.dispatch(a.ID, ev, nil)
}

// Open opens the app.
func (a *Person) Open() ([]host.Message, []host.Outgoing) {
	a.p.t.Helper()
	return a.Send(host.Event{Type: host.EventOpen})
}

// Message sends text to the app.
func (a *Person) Message(text string) ([]host.Message, []host.Outgoing) {
	a.p.t.Helper()
	return a.Send(host.Event{Type: host.EventMessage, Text: text})
}

// Action sends an action event, e.g. a submitted form or an id the app
// knows without a card.
func (a *Person) Action(act host.Action) ([]host.Message, []host.Outgoing) {
	a.p.t.Helper()
	return a.Send(host.Event{Type: host.EventAction, Action: &act})
}

// Press presses the button (with its value) or picks the list item of card
// with this id, the way the person's client does. The test fails if the
// card has no such choice.
func (a *Person) Press(card *host.Card, id string) ([]host.Message, []host.Outgoing) {
	a.p.t.Helper()
	if card == nil {
		a.p.t.Fatalf("no card to press %q on", id)
	}
	for _, b := range card.Buttons {
		if b.ID == id {
			return a.Action(host.Action{ID: b.ID, Value: b.Value})
		}
	}
	if card.List != nil {
		for _, it := range card.List.Items {
			if it.ID == id {
				return a.Action(host.Action{ID: it.ID})
			}
		}
	}
	a.p.t.Fatalf("card %q has no button or item %q: %s", card.Title, id, JSON(card))
	return nil, nil
}

// Confirm confirms a payment order in the platform's own prompt; its error
// is the platform's answer (e.g. insufficient funds: the order is declined).
func (a *Person) Confirm(order string) error {
	return a.p.Services.Pay.Confirm(context.Background(), a.ID, order)
}

// Decline declines a payment order.
func (a *Person) Decline(order string) error {
	return a.p.Services.Pay.Decline(context.Background(), a.ID, order)
}

// Grant grants a consent prompt. The app learns it from a consent event at
// the next Platform.DeliverConsents.
func (a *Person) Grant(prompt string) error {
	return a.p.Services.Identity.Grant(context.Background(), a.ID, prompt, a.p.surface)
}

// Refuse refuses a consent prompt. The app learns it from a consent event
// at the next Platform.DeliverConsents.
func (a *Person) Refuse(prompt string) error {
	return a.p.Services.Identity.Refuse(context.Background(), a.ID, prompt)
}

// Answer answers a prompt the platform drew (any kind: payment, consent,
// share, subscribe) with choice, one of its kind's answers, as the person's
// client does. An answer to a subscribe prompt reaches the app as a
// consent event at the next Platform.DeliverConsents.
func (a *Person) Answer(pr *host.Prompt, choice string) error {
	a.p.t.Helper()
	if pr == nil || pr.Kind == nil || !pr.Kind.Takes(choice) {
		a.p.t.Fatalf("prompt %+v does not take the answer %q", pr, choice)
	}
	_, err := pr.Kind.Apply(context.Background(), host.Answer{Prompt: pr.ID, Person: a.ID, App: a.p.Ref,
		Conversation: a.p.conversation, Body: pr.Body, Choice: choice, Surface: a.p.surface, Out: &a.p.out})
	return err
}

// OnlyCard returns the card of msgs, failing t unless msgs is one message
// with a card.
func OnlyCard(t testing.TB, msgs []host.Message) *host.Card {
	t.Helper()
	if len(msgs) != 1 || msgs[0].Card == nil {
		t.Fatalf("want one card, got %s", JSON(msgs))
	}
	return msgs[0].Card
}

// OnlyPrompt decodes the body of the one prompt in prompts into into,
// failing t unless there is exactly one and its type is typ ("payment",
// "consent", "share").
func OnlyPrompt(t testing.TB, prompts []host.Outgoing, typ string, into any) {
	t.Helper()
	if len(prompts) != 1 {
		t.Fatalf("want one %s prompt, got %d", typ, len(prompts))
	}
	pr := prompts[0].Prompt
	if pr == nil || pr.Kind == nil || pr.Kind.Name != typ {
		t.Fatalf("prompt %+v, want a %q prompt", prompts[0], typ)
	}
	if err := json.Unmarshal(pr.Body, into); err != nil {
		t.Fatal(err)
	}
}

// JSON returns v as JSON, for failure messages.
func JSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// outbox records what the host APIs emitted: messages into conversations
// and prompts to people.
type outbox struct {
	mu      sync.Mutex
	msgs    []host.Message
	prompts []host.Outgoing
}

func (o *outbox) Emit(_ context.Context, out host.Outgoing) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case out.Message != nil:
		o.msgs = append(o.msgs, *out.Message)
	case out.Prompt != nil:
		o.prompts = append(o.prompts, out)
	}
	return nil
}

func (o *outbox) take() ([]host.Message, []host.Outgoing) {
	o.mu.Lock()
	defer o.mu.Unlock()
	m, p := o.msgs, o.prompts
	o.msgs, o.prompts = nil, nil
	return m, p
}

// appLog keeps the app's log.
type appLog struct {
	mu   sync.Mutex
	recs []string
}

func (l *appLog) AppLog(_ host.AppRef, rec sandbox.LogRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, rec.Source+" "+rec.Level.String()+" "+rec.Message)
}

func (l *appLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.recs...)
}
