package apps_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// outbox records what apps emit.
type outbox struct {
	mu  sync.Mutex
	out []host.Outgoing
}

func (o *outbox) Emit(_ context.Context, out host.Outgoing) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.out = append(o.out, out)
	return nil
}

func (o *outbox) take() []host.Outgoing {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.out
	o.out = nil
	return out
}

// pseudonyms is a stand-in identity service: a visible, distinct id per app.
type pseudonyms struct{}

func (pseudonyms) OpenID(ref host.AppRef, person string) string {
	return "openid-" + ref.Merchant + "-" + ref.App + "-" + person
}

// sent is what the fixture guest sends: the event it saw, plus the version
// that served it (added by the test's chat.send).
type sent struct {
	Version string
	Event   host.Event
}

func chatSend() host.Func {
	return host.Func{Op: "chat.send", Permission: host.PermChat,
		Handle: func(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
			body, _ := json.Marshal(sent{Version: c.Caller.App.Version, Event: mustEvent(req)})
			err := c.Out.Emit(ctx, host.Outgoing{App: c.Caller.App, Conversation: c.Caller.Conversation, Message: &host.Message{Text: string(body)}})
			return []byte(`{"id":"m1"}`), err
		}}
}

func mustEvent(b []byte) host.Event {
	var e host.Event
	json.Unmarshal(b, &e)
	return e
}

type env struct {
	db     *bbolt.DB
	reg    *registry.Registry
	eng    *sandbox.Engine
	router *apps.Router
	out    *outbox
	cache  string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "p.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, out: &outbox{}, cache: filepath.Join(dir, "cache")}
	e.start(t)
	return e
}

// start opens the registry, engine and router over e.db (again).
func (e *env) start(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	var err error
	if e.reg, err = registry.Open(e.db, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	e.eng, err = sandbox.New(ctx, sandbox.Config{CacheDir: e.cache, Funcs: []host.Func{chatSend()},
		PoolSize: 2, AppLog: apps.LogSink{Registry: e.reg}})
	if err != nil {
		t.Fatal(err)
	}
	e.router, err = apps.New(ctx, apps.Config{Registry: e.reg, Engine: e.eng, Identity: pseudonyms{}, Outbox: e.out})
	if err != nil {
		t.Fatal(err)
	}
	r, eng := e.router, e.eng
	t.Cleanup(func() {
		r.Close(ctx)
		eng.Close(ctx)
	})
}

func (e *env) stop(t *testing.T) {
	ctx := context.Background()
	if err := e.router.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// module returns the fixture guest with a manifest for id@version.
func module(t testing.TB, id, version string, perms ...host.Permission) []byte {
	t.Helper()
	wasm, err := os.ReadFile("testdata/guest.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if perms == nil {
		perms = []host.Permission{host.PermChat}
	}
	out, err := wasmfile.EmbedManifest(wasm, &host.Manifest{ABI: "passerelle_v1", ID: id, Name: "App " + id,
		Version: version, Permissions: perms})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) upload(t *testing.T, merchant, id, version string) {
	t.Helper()
	if _, _, err := e.router.Upload(context.Background(), merchant, merchant, id, module(t, id, version)); err != nil {
		t.Fatalf("upload %s@%s: %v", id, version, err)
	}
}

// deliver sends a message event and returns the version that answered.
func (e *env) deliver(t *testing.T, app, person, conv, text string) (string, error) {
	t.Helper()
	err := e.router.Deliver(context.Background(), app, host.AppEvent{Person: person, Conversation: conv, Surface: "web",
		Event: host.Event{Type: host.EventMessage, Text: text}})
	outs := e.out.take()
	if err != nil {
		return "", err
	}
	if len(outs) != 1 {
		t.Fatalf("app sent %d messages, want 1", len(outs))
	}
	var s sent
	if err := json.Unmarshal([]byte(outs[0].Message.Text), &s); err != nil {
		t.Fatal(err)
	}
	if s.Version != outs[0].App.Version {
		t.Fatalf("caller version %s, outgoing %s", s.Version, outs[0].App.Version)
	}
	return s.Version, nil
}

func TestDeliverBuildsTheGuestEvent(t *testing.T) {
	e := newEnv(t)
	e.upload(t, "m1", "shop", "1.0.0")
	err := e.router.Deliver(context.Background(), "shop", host.AppEvent{Person: "p-alice", Conversation: "c1", Surface: "whatsapp",
		Event: host.Event{Type: host.EventMessage, Text: "hi", User: "spoofed", App: "spoofed"}})
	if err != nil {
		t.Fatal(err)
	}
	outs := e.out.take()
	if len(outs) != 1 {
		t.Fatalf("got %d outgoing", len(outs))
	}
	var s sent
	json.Unmarshal([]byte(outs[0].Message.Text), &s)
	want := host.Event{V: 1, Type: "message", ID: s.Event.ID, App: "shop", Conversation: "c1",
		User: "openid-m1-shop-p-alice", Surface: "whatsapp", Text: "hi"}
	if s.Event.ID == "" || fmt.Sprint(s.Event) != fmt.Sprint(want) {
		t.Fatalf("guest saw %+v\nwant %+v", s.Event, want)
	}
	if outs[0].Conversation != "c1" || outs[0].App != (host.AppRef{Merchant: "m1", App: "shop", Version: "1.0.0"}) {
		t.Fatalf("outgoing %+v", outs[0])
	}
	st := e.reg.Stats("shop")
	if len(st) != 1 || st[0].Events != 1 || st[0].Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUploadRefusals(t *testing.T) {
	e := newEnv(t)
	e.upload(t, "m1", "shop", "1.0.0")
	tests := []struct {
		name     string
		merchant string
		appID    string
		wasm     []byte
		check    func(error) bool
	}{
		{"not wasm", "m1", "shop", []byte("hello"), func(err error) bool { var ce *sandbox.CheckError; return errors.As(err, &ce) }},
		{"import without permission", "m1", "shop", module(t, "shop", "2.0.0", host.PermStorage), func(err error) bool {
			var ce *sandbox.CheckError
			if !errors.As(err, &ce) {
				return false
			}
			for _, v := range ce.Report.Violations {
				if v.Rule == "import.permission" {
					return true
				}
			}
			return false
		}},
		{"another merchant's id", "m2", "shop", module(t, "shop", "2.0.0"), func(err error) bool { return errors.Is(err, registry.ErrNotOwner) }},
		{"url names another app", "m1", "ride", module(t, "shop", "2.0.0"), func(err error) bool { return errors.Is(err, apps.ErrAppMismatch) }},
		{"same version again", "m1", "shop", module(t, "shop", "1.0.0"), func(err error) bool { return errors.Is(err, registry.ErrVersionExists) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.router.Upload(context.Background(), tt.merchant, tt.merchant, tt.appID, tt.wasm)
			if err == nil || !tt.check(err) {
				t.Fatalf("Upload = %v", err)
			}
			a, _ := e.reg.App("shop")
			if a.Live != "1.0.0" || len(a.Versions) != 1 {
				t.Fatalf("a refused upload changed the app: %+v", a)
			}
			if v, err := e.deliver(t, "shop", "p", "c", "hi"); err != nil || v != "1.0.0" {
				t.Fatalf("live app after refused upload: %s %v", v, err)
			}
		})
	}
}

func TestGrayReleaseAndRollback(t *testing.T) {
	e := newEnv(t)
	e.upload(t, "m1", "shop", "1")
	e.upload(t, "m1", "shop", "2")
	if v, _ := e.deliver(t, "shop", "p0", "", "hi"); v != "1" {
		t.Fatalf("before promote got %s", v)
	}
	if _, err := e.router.Promote(context.Background(), "shop", "2", 50); err != nil {
		t.Fatal(err)
	}
	if pools := e.router.Pools("shop"); len(pools) != 2 {
		t.Fatalf("loaded versions %v, want 1 and 2", pools)
	}
	on2 := 0
	const people = 200
	for i := range people {
		p := fmt.Sprint("p", i)
		want := "1"
		if registry.Bucket("shop", p) < 50 {
			want = "2"
			on2++
		}
		got, err := e.deliver(t, "shop", p, "conv-"+p, "hi")
		if err != nil || got != want {
			t.Fatalf("%s got %s (%v), want %s", p, got, err, want)
		}
	}
	if on2 < people*35/100 || on2 > people*65/100 {
		t.Fatalf("%d of %d on the candidate at 50%%", on2, people)
	}
	if _, err := e.router.Rollback(context.Background(), "shop", ""); err != nil {
		t.Fatal(err)
	}
	if pools := e.router.Pools("shop"); len(pools) != 1 {
		t.Fatalf("after rollback loaded %v, want only 1", pools)
	}
	for i := range 20 {
		p := fmt.Sprint("p", i)
		if got, err := e.deliver(t, "shop", p, "conv-"+p, "hi"); err != nil || got != "1" {
			t.Fatalf("after rollback %s got %s %v", p, got, err)
		}
	}
	if _, err := e.router.Promote(context.Background(), "shop", "2", 100); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.deliver(t, "shop", "p1", "conv-p1", "hi"); got != "2" {
		t.Fatalf("after full promote got %s", got)
	}
	if _, err := e.router.Promote(context.Background(), "shop", "9", 100); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("promote unknown = %v", err)
	}
}

func TestFailures(t *testing.T) {
	e := newEnv(t)
	e.upload(t, "m1", "shop", "1")
	tests := []struct {
		text    string
		kind    string
		as      func(error) bool
		toldHim bool
	}{
		{"crash!", "trap", func(err error) bool { var x *sandbox.TrapError; return errors.As(err, &x) }, true},
		{"spin~", "deadline", func(err error) bool { var x *sandbox.LimitError; return errors.As(err, &x) && x.Limit == "deadline" }, true},
		{"why?", "guest", func(err error) bool { var x *sandbox.GuestError; return errors.As(err, &x) && x.Status == 7 }, false},
	}
	for i, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			err := e.router.Deliver(context.Background(), "shop", host.AppEvent{Person: "p", Conversation: "c",
				Event: host.Event{Type: host.EventMessage, Text: tt.text, ID: "ev-" + tt.kind}})
			if !tt.as(err) || sandbox.FailureKind(err) != tt.kind {
				t.Fatalf("Deliver = %v (kind %q)", err, sandbox.FailureKind(err))
			}
			outs := e.out.take()
			if tt.toldHim != (len(outs) == 1) {
				t.Fatalf("outgoing %+v, want a problem message: %v", outs, tt.toldHim)
			}
			if tt.toldHim && (outs[0].Conversation != "c" || outs[0].Message == nil) {
				t.Fatalf("problem message %+v", outs[0])
			}
			recs, _ := e.reg.Logs("shop", 0, 0)
			last := recs[len(recs)-1]
			if last.Source != "failure" || last.Kind != tt.kind || last.EventID != "ev-"+tt.kind || last.Event != "message" || last.Version != "1" {
				t.Fatalf("log %+v", last)
			}
			st := e.reg.Stats("shop")
			if st[0].Errors != uint64(i+1) || st[0].Failures[tt.kind] != 1 {
				t.Fatalf("stats %+v", st[0])
			}
			// The app still serves.
			if v, err := e.deliver(t, "shop", "p", "c", "hi"); err != nil || v != "1" {
				t.Fatalf("after failure: %s %v", v, err)
			}
		})
	}
}

func TestRestartLoadsServingVersions(t *testing.T) {
	e := newEnv(t)
	e.upload(t, "m1", "shop", "1")
	e.upload(t, "m1", "shop", "2")
	e.upload(t, "m2", "ride", "1")
	if _, err := e.router.Promote(context.Background(), "shop", "2", 10); err != nil {
		t.Fatal(err)
	}
	e.stop(t)
	if files, err := os.ReadDir(e.cache); err != nil || len(files) == 0 {
		t.Fatalf("no compilation cache on disk in %s: %v", e.cache, err)
	}
	e.start(t)
	tests := []struct {
		app  string
		want []string
	}{{"shop", []string{"1", "2"}}, {"ride", []string{"1"}}}
	for _, tt := range tests {
		t.Run(tt.app, func(t *testing.T) {
			pools := e.router.Pools(tt.app)
			if len(pools) != len(tt.want) {
				t.Fatalf("loaded %v, want %v", pools, tt.want)
			}
			for _, v := range tt.want {
				if _, ok := pools[v]; !ok {
					t.Fatalf("version %s not loaded", v)
				}
			}
			if _, err := e.deliver(t, tt.app, "p", "c", "hi"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// hookEvent is an event the host services caused for person "p" in
// conversation "c".
func hookEvent(ev host.Event) host.AppEvent {
	return host.AppEvent{Person: "p", Conversation: "c", Event: ev}
}

func TestHooksAndCatalog(t *testing.T) {
	e := newEnv(t)
	e.upload(t, "m1", "shop", "1")
	e.upload(t, "m2", "ride", "1")
	ctx := context.Background()
	tests := []struct {
		name    string
		deliver func() error
		want    error
		typ     string
	}{
		{"payment", func() error {
			return e.router.DeliverFor(ctx, host.AppRef{Merchant: "m1", App: "shop"}, hookEvent(host.Event{Type: host.EventPayment,
				Payment: &host.PaymentEvent{Order: "o1", Status: "paid", Amount: 1200, Currency: "EUR"}}))
		}, nil, host.EventPayment},
		{"timer", func() error {
			return e.router.DeliverFor(ctx, host.AppRef{Merchant: "m1", App: "shop", Version: "1"}, hookEvent(host.Event{Type: host.EventTimer,
				Timer: &host.TimerEvent{ID: "t1", Payload: json.RawMessage(`{"n":1}`)}}))
		}, nil, host.EventTimer},
		{"consent", func() error {
			return e.router.DeliverFor(ctx, host.AppRef{Merchant: "m1", App: "shop"}, hookEvent(host.Event{Type: host.EventConsent,
				Consent: &host.ConsentEvent{Prompt: "cp_1", Scopes: []string{"identity.profile"}, Granted: true}}))
		}, nil, host.EventConsent},
		{"consent for another merchant's app", func() error {
			return e.router.DeliverFor(ctx, host.AppRef{Merchant: "m2", App: "shop"}, hookEvent(host.Event{Type: host.EventConsent, Consent: &host.ConsentEvent{Prompt: "cp_1"}}))
		}, apps.ErrWrongOwner, ""},
		{"payment for another merchant's app", func() error {
			return e.router.DeliverFor(ctx, host.AppRef{Merchant: "m2", App: "shop"}, hookEvent(host.Event{Type: host.EventPayment, Payment: &host.PaymentEvent{Order: "o1"}}))
		}, apps.ErrWrongOwner, ""},
		{"unknown app", func() error {
			return e.router.DeliverFor(ctx, host.AppRef{Merchant: "m1", App: "nope"}, hookEvent(host.Event{Type: host.EventTimer, Timer: &host.TimerEvent{ID: "t"}}))
		}, apps.ErrNotAvailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.deliver()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			outs := e.out.take()
			if tt.want != nil {
				if len(outs) != 0 {
					t.Fatalf("delivered anyway: %+v", outs)
				}
				return
			}
			var s sent
			json.Unmarshal([]byte(outs[0].Message.Text), &s)
			if s.Event.Type != tt.typ || s.Event.User != "openid-m1-shop-p" || s.Event.Conversation != "c" {
				t.Fatalf("guest saw %+v", s.Event)
			}
			if c := s.Event.Consent; tt.typ == host.EventConsent &&
				(c == nil || c.Prompt != "cp_1" || len(c.Scopes) != 1 || c.Scopes[0] != "identity.profile" || !c.Granted) {
				t.Fatalf("guest saw consent %+v", c)
			}
		})
	}
	cat, err := e.router.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat) != 2 || cat[0].ID != "ride" || cat[1].ID != "shop" || cat[1].Name != "App shop" {
		t.Fatalf("catalog %+v", cat)
	}
}

// Many events to two apps while versions are promoted and rolled back:
// every event is served by a serving version, none is lost.
func TestHammerRollouts(t *testing.T) {
	e := newEnv(t)
	e.upload(t, "m1", "shop", "1")
	e.upload(t, "m1", "shop", "2")
	e.upload(t, "m2", "ride", "1")
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				app := []string{"shop", "ride"}[i%2]
				err := e.router.Deliver(ctx, app, host.AppEvent{Person: fmt.Sprint("p", g, i), Conversation: fmt.Sprint("c", g, i%5),
					Event: host.Event{Type: host.EventMessage, Text: "hi"}})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 6 {
		var err error
		if i%2 == 0 {
			_, err = e.router.Promote(ctx, "shop", "2", 30)
		} else {
			_, err = e.router.Rollback(ctx, "shop", "")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(e.out.take()); n != 160 {
		t.Fatalf("%d messages, want 160", n)
	}
}
