package consent_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
)

// clock is a settable clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// pseudonyms names a person for a merchant the way identity.UnionID does:
// never the platform id.
type pseudonyms struct{}

func (pseudonyms) UnionID(merchant, person string) string {
	return "u-" + merchant + "-" + person[len("p_"):]
}

// env is a service on a bbolt file that a test may close and open again.
type env struct {
	t    *testing.T
	path string
	db   *bbolt.DB
	svc  *consent.Service
	clk  *clock
	cfg  consent.Config
}

func newEnv(t *testing.T, cfg consent.Config) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "consent.db"), clk: newClock(), cfg: cfg}
	e.cfg.Now = e.clk.Now
	if e.cfg.Pseudonyms == nil {
		e.cfg.Pseudonyms = pseudonyms{}
	}
	e.open()
	t.Cleanup(func() {
		if e.db != nil {
			e.db.Close()
		}
	})
	return e
}

func (e *env) open() {
	e.t.Helper()
	db, err := bbolt.Open(e.path, 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
	if e.svc, err = consent.Open(db, e.cfg); err != nil {
		e.t.Fatal(err)
	}
}

// restart closes the store and opens it again, as a new process would.
func (e *env) restart() {
	e.t.Helper()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.db = nil
	e.open()
}

var ctx = context.Background()

func (e *env) touch(person, business string) {
	e.t.Helper()
	if err := e.svc.Touch(ctx, person, business, e.clk.Now()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) optIn(person, business, purpose string) consent.Record {
	e.t.Helper()
	return e.grant(e.svc.OptIn, consent.Grant{Person: person, Business: business, Purpose: purpose, Prompt: consent.OptInPrompt(business, purpose), Answer: "ans_" + purpose})
}

func (e *env) subscribe(person, business, template string) consent.Record {
	e.t.Helper()
	return e.grant(e.svc.Subscribe, consent.Grant{Person: person, Business: business, Template: template, Prompt: consent.SubscriptionPrompt(business, template), Answer: "ans_" + template})
}

// grant records g, asked by app "app" in conversation cv_1 on the web.
func (e *env) grant(record func(context.Context, consent.Grant) (consent.Record, error), g consent.Grant) consent.Record {
	e.t.Helper()
	g.App, g.Surface, g.Conversation = "app", "web", "cv_1"
	r, err := record(ctx, g)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) say(person, business, surface, text string) consent.Reply {
	e.t.Helper()
	r, err := e.svc.Inbound(ctx, consent.Inbound{Person: person, Business: business, BusinessName: "The " + business,
		App: "app", Surface: surface, Conversation: "cv_" + surface, Text: text})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// status is the ABI status of err, as the guest would see it.
func status(err error) host.Status { return host.StatusOf(err) }
