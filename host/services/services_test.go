package services_test

import (
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/host/services"
)

var shop = host.AppRef{Merchant: "acme", App: "shop", Version: "1.0.0"}

func openDB(t *testing.T) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "passerelle.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// caused records the events the services cause; timers are acknowledged
// at once, everything else when the test says so.
type caused struct {
	mu     sync.Mutex
	events []services.Event
	timers chan services.Event
}

func (c *caused) push(ctx context.Context, ev services.Event) {
	if ev.Event.Timer != nil {
		c.timers <- ev
		ev.Done(ctx, nil)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
}

func (c *caused) take() []services.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	evs := c.events
	c.events = nil
	return evs
}

func TestFuncs(t *testing.T) {
	s, err := services.Open(openDB(t), services.Config{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]host.Permission{
		"chat.send": host.PermChat, "chat.share": host.PermChat, "chat.notify": host.PermChat, "chat.handoff": host.PermChat,
		"consent.request_optin": host.PermChat, "consent.request_subscription": host.PermChat,
		"identity.profile": host.PermIdentityProfile,
		"kv.delete":        host.PermStorage, "kv.get": host.PermStorage, "kv.list": host.PermStorage, "kv.set": host.PermStorage,
		"pay.refund": host.PermPay, "pay.request": host.PermPay, "pay.status": host.PermPay,
		"timer.after": host.PermTimer, "timer.cancel": host.PermTimer,
	}
	got := map[string]host.Permission{}
	for _, f := range s.Funcs() {
		if _, dup := got[f.Op]; dup {
			t.Errorf("operation %s offered twice", f.Op)
		}
		if f.Handle == nil {
			t.Errorf("operation %s has no handler", f.Op)
		}
		got[f.Op] = f.Permission
	}
	for op, perm := range want {
		if got[op] != perm {
			t.Errorf("%s: permission %q, want %q", op, got[op], perm)
		}
	}
	if len(got) != len(want) {
		t.Errorf("operations %v, want %d", slices.Sorted(maps.Keys(got)), len(want))
	}
}

// TestWiring checks the Events hook: a payment outcome becomes a payment
// event of the order's app, person and conversation, kept by the payment
// service until it is Done; with Background, a due timer becomes a timer
// event on the services' own goroutine; and storage knows people through
// identity.
func TestWiring(t *testing.T) {
	ctx := context.Background()
	got := &caused{timers: make(chan services.Event, 1)}
	db := openDB(t)
	s, err := services.Open(db, services.Config{Events: got.push})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := s.Identity.CreatePerson(ctx, "Alice", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Pay.Fund(ctx, pay.PersonAccount(alice.ID), "EUR", 1000); err != nil {
		t.Fatal(err)
	}
	o, _, err := s.Pay.NewOrder(ctx, shop, alice.ID, "cv_1", "web", pay.Request{Amount: 400, Currency: "EUR", Description: "tee", IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Pay.Confirm(ctx, alice.ID, o.ID); err != nil {
		t.Fatal(err)
	}
	evs := got.take()
	if len(evs) != 1 || evs[0].App != shop || evs[0].Person != alice.ID || evs[0].Conversation != "cv_1" ||
		evs[0].Event.Type != host.EventPayment || evs[0].Event.Payment.Order != o.ID || evs[0].Event.Payment.Status != "paid" {
		t.Fatalf("events %+v, want order %s paid", evs, o.ID)
	}
	if n, _ := s.Pay.Undelivered(ctx); n != 1 {
		t.Errorf("%d outcomes kept before Done, want 1", n)
	}
	evs[0].Done(ctx, nil)
	if _, err := s.Pay.Sweep(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Pay.Undelivered(ctx); n != 0 {
		t.Errorf("%d outcomes kept after Done, want 0", n)
	}

	if _, err := s.KV.PersonNamespace(shop, alice.ID); err != nil {
		t.Errorf("person storage: %v", err)
	}

	s.Close()
	if s, err = services.Open(db, services.Config{Events: got.push, Background: true}); err != nil {
		t.Fatal(err)
	}
	tm, err := s.Timers.After(ctx, host.Caller{App: shop, Person: alice.ID, Conversation: "cv_1"}, time.Millisecond, []byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-got.timers; ev.Event.Timer.ID != tm.ID || string(ev.Event.Timer.Payload) != `{"n":1}` || ev.Person != alice.ID {
		t.Errorf("fired %+v, want timer %s", ev, tm.ID)
	}
	s.Close() // returns once its loops have stopped
}

// TestTimerDueAtOpen: a timer already due when the services open again
// fires from the timer's loop while Open is still wiring the services;
// its event is handed over (under -race, the hand-over once read the
// timer service before Open had set it).
func TestTimerDueAtOpen(t *testing.T) {
	ctx := context.Background()
	got := &caused{timers: make(chan services.Event, 1)}
	db := openDB(t)
	s, err := services.Open(db, services.Config{Events: got.push})
	if err != nil {
		t.Fatal(err)
	}
	tm, err := s.Timers.After(ctx, host.Caller{App: shop, Person: "p1", Conversation: "cv_1"}, time.Millisecond, []byte(`{"n":2}`))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for !time.Now().After(tm.Due) { // due before the next opening
		time.Sleep(time.Millisecond)
	}
	if s, err = services.Open(db, services.Config{Events: got.push, Background: true}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	select {
	case ev := <-got.timers:
		if ev.Event.Timer.ID != tm.ID {
			t.Fatalf("fired %+v, want timer %s", ev, tm.ID)
		}
	case <-time.After(time.Minute):
		t.Fatal("the due timer did not fire after the services opened")
	}
}

// TestReopen opens the services twice on the same database: the data of
// the first opening is there.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	s, err := services.Open(db, services.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Identity.CreatePerson(ctx, "Bob", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Pay.Fund(ctx, pay.PersonAccount(p.ID), "EUR", 700); err != nil {
		t.Fatal(err)
	}
	again, err := services.Open(db, services.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := again.Pay.Balance(ctx, pay.PersonAccount(p.ID), "EUR"); err != nil || b != 700 {
		t.Fatalf("balance after reopening %d, %v; want 700", b, err)
	}
	if again.Identity.OpenID(shop, p.ID) != s.Identity.OpenID(shop, p.ID) {
		t.Fatal("the pseudonym secret changed on reopening")
	}
}

// prompts collects what the services emit.
type prompts struct {
	mu  sync.Mutex
	out []host.Outgoing
}

func (p *prompts) Emit(_ context.Context, o host.Outgoing) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = append(p.out, o)
	return nil
}

func TestPaymentPromptNamesTheMerchant(t *testing.T) {
	ctx := context.Background()
	s, err := services.Open(openDB(t), services.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity.CreateMerchant(ctx, "acme", "Acme Outfitters"); err != nil {
		t.Fatal(err)
	}
	var request host.Func
	for _, f := range s.Funcs() {
		if f.Op == "pay.request" {
			request = f
		}
	}
	out := &prompts{}
	call := &host.Call{Caller: host.Caller{App: shop, Permissions: []host.Permission{host.PermPay}, Person: "p_1", Conversation: "c_1"}, Out: out}
	if _, err := request.Handle(ctx, call, []byte(`{"amount":1250,"currency":"EUR","description":"Blue shirt","idempotency_key":"k1"}`)); err != nil {
		t.Fatal(err)
	}
	if len(out.out) != 1 || out.out[0].Prompt == nil || out.out[0].Prompt.Person != "p_1" {
		t.Fatalf("emitted %+v, want one prompt to p_1", out.out)
	}
	var body pay.PromptBody
	if err := json.Unmarshal(out.out[0].Prompt.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Merchant != "acme" || body.MerchantName != "Acme Outfitters" {
		t.Fatalf("prompt names merchant %q (%q), want acme (Acme Outfitters)", body.Merchant, body.MerchantName)
	}
}

// TestConsentHook: an answer to a consent prompt reaches Events with the
// app, the person, the conversation where the app asked and the event.
func TestConsentHook(t *testing.T) {
	ctx := context.Background()
	type answered struct {
		ref          host.AppRef
		person, conv string
		ev           host.ConsentEvent
	}
	var got []answered
	s, err := services.Open(openDB(t), services.Config{
		Events: func(_ context.Context, ev services.Event) {
			got = append(got, answered{ev.App, ev.Person, ev.Conversation, *ev.Event.Consent})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := s.Identity.CreatePerson(ctx, "Alice", "")
	if err != nil {
		t.Fatal(err)
	}
	var profile host.Func
	for _, f := range s.Funcs() {
		if f.Op == "identity.profile" {
			profile = f
		}
	}
	for _, grant := range []bool{true, false} {
		out := &prompts{}
		app := host.AppRef{Merchant: "acme", App: "shop", Version: "1.0.0"}
		if !grant {
			app.App = "ride" // no grant yet for this one
		}
		call := &host.Call{Caller: host.Caller{App: app, Permissions: []host.Permission{host.PermIdentityProfile},
			Person: alice.ID, Conversation: "cv_7", Surface: "web"}, Out: out}
		if _, err := profile.Handle(ctx, call, []byte(`{}`)); host.StatusOf(err) != host.StatusConsentRequired {
			t.Fatalf("profile without a grant: %v", err)
		}
		var body struct{ ID string }
		if len(out.out) != 1 || out.out[0].Prompt == nil || json.Unmarshal(out.out[0].Prompt.Body, &body) != nil {
			t.Fatalf("emitted %+v, want one consent prompt", out.out)
		}
		got = nil
		if grant {
			err = s.Identity.Grant(ctx, alice.ID, body.ID, "web")
		} else {
			err = s.Identity.Refuse(ctx, alice.ID, body.ID)
		}
		if err != nil {
			t.Fatal(err)
		}
		want := answered{host.AppRef{Merchant: "acme", App: app.App}, alice.ID, "cv_7",
			host.ConsentEvent{Prompt: body.ID, Scopes: []string{"identity.profile"}, Granted: grant}}
		if len(got) != 1 || got[0].ref != want.ref || got[0].person != want.person || got[0].conv != want.conv ||
			got[0].ev.Prompt != want.ev.Prompt || !slices.Equal(got[0].ev.Scopes, want.ev.Scopes) || got[0].ev.Granted != grant {
			t.Fatalf("Consent got %+v, want %+v", got, want)
		}
	}
}
