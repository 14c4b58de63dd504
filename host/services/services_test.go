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
	"github.com/passerelle/passerelle/host/timer"
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

type outcomes struct {
	mu     sync.Mutex
	orders []pay.Order
}

func (o *outcomes) PaymentOutcome(_ context.Context, ord pay.Order) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.orders = append(o.orders, ord)
}

func TestFuncs(t *testing.T) {
	s, err := services.Open(openDB(t), services.Config{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]host.Permission{
		"chat.send": host.PermChat, "chat.share": host.PermChat,
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

// TestWiring checks the hooks: payment outcomes reach Payments, due timers
// reach FireTimer from Run, and storage knows people through identity.
func TestWiring(t *testing.T) {
	ctx := context.Background()
	paid := &outcomes{}
	fired := make(chan timer.Timer, 1)
	s, err := services.Open(openDB(t), services.Config{
		Payments:  paid,
		FireTimer: func(_ context.Context, tm timer.Timer) error { fired <- tm; return nil },
	})
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
	paid.mu.Lock()
	if len(paid.orders) != 1 || paid.orders[0].ID != o.ID || paid.orders[0].State != pay.StatePaid {
		t.Errorf("outcomes %+v, want order %s paid", paid.orders, o.ID)
	}
	paid.mu.Unlock()

	if _, err := s.KV.PersonNamespace(shop, alice.ID); err != nil {
		t.Errorf("person storage: %v", err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(runCtx); close(done) }()
	tm, err := s.Timers.After(ctx, host.Caller{App: shop, Person: alice.ID, Conversation: "cv_1"}, time.Millisecond, []byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := <-fired; got.ID != tm.ID || string(got.Payload) != `{"n":1}` {
		t.Errorf("fired %+v, want timer %s", got, tm.ID)
	}
	cancel()
	<-done // Run returns once its loops have stopped
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
	if len(out.out) != 1 || out.out[0].Kind != "prompt" || out.out[0].Person != "p_1" {
		t.Fatalf("emitted %+v, want one prompt to p_1", out.out)
	}
	var body pay.PromptBody
	if err := json.Unmarshal(out.out[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Merchant != "acme" || body.MerchantName != "Acme Outfitters" {
		t.Fatalf("prompt names merchant %q (%q), want acme (Acme Outfitters)", body.Merchant, body.MerchantName)
	}
}

// TestConsentHook: an answer to a consent prompt reaches Consent with the
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
		Consent: func(_ context.Context, ref host.AppRef, person, conv string, ev host.ConsentEvent) {
			got = append(got, answered{ref, person, conv, ev})
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
		if len(out.out) != 1 || json.Unmarshal(out.out[0].Body, &body) != nil {
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
