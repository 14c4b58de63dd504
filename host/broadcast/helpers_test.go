package broadcast_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/broadcast"
	"github.com/passerelle/passerelle/host/consent"
)

var ctx = context.Background()

// clock is a settable clock shared by the consent service and the engine.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// ids are the pseudonyms of the tests: reversible, never the platform id
// itself.
type ids struct{}

func (ids) OpenID(ref host.AppRef, person string) string { return "o-" + ref.App + "-" + person }
func (ids) UnionID(merchant, person string) string       { return "u-" + merchant + "-" + person }

func personOf(openID string) string { return openID[strings.LastIndexByte(openID, '-')+1:] }

var errCrash = errors.New("the process stopped here")

var bucketInbox = []byte("test.inbox") // conversation NUL message id → person

// inbox stands in for the gateway's conversation log in the same bbolt
// file: Send stores a message once per id, durably, so a restart sees what
// was stored before it. It counts every message stored twice and checks,
// at the moment a message is stored, that its person may get it (allowed).
type inbox struct {
	mu      sync.Mutex
	db      *bbolt.DB
	allowed func(out host.Outgoing, person string) error // nil allows everyone
	// crash makes the next Send stop the "process": before storing the
	// message ("before") or after ("after").
	crash   string
	twice   []string
	refused []string // messages stored although allowed said no
	sends   int
	refuse  map[string]bool // conversations that refuse every message
}

func (b *inbox) Conversation(_ context.Context, app host.AppRef, person string) (string, error) {
	return "a-" + app.App + "-" + person, nil
}

func (b *inbox) Send(_ context.Context, out host.Outgoing) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refuse[out.Conversation] {
		return host.Errorf(host.StatusNotFound, "no conversation %q", out.Conversation)
	}
	crash := b.crash
	b.crash = ""
	if crash == "before" {
		return errCrash
	}
	person := out.Conversation[strings.LastIndexByte(out.Conversation, '-')+1:]
	if b.allowed != nil {
		if err := b.allowed(out, person); err != nil {
			b.refused = append(b.refused, fmt.Sprintf("%s to %s: %v", out.ID, person, err))
		}
	}
	err := b.db.Update(func(tx *bbolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucketInbox)
		if err != nil {
			return err
		}
		k := bolt.Key(out.Conversation, out.ID)
		if bk.Get(k) != nil {
			b.twice = append(b.twice, out.ID+" to "+person)
		}
		return bk.Put(k, []byte(person))
	})
	if err != nil {
		return err
	}
	b.sends++
	if crash == "after" {
		return errCrash
	}
	return nil
}

func (b *inbox) Sent(_ context.Context, out host.Outgoing, _ time.Time) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ok bool
	err := b.db.View(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(bucketInbox)
		ok = bk != nil && bk.Get(bolt.Key(out.Conversation, out.ID)) != nil
		return nil
	})
	return ok, err
}

// stored returns the message ids stored, by person.
func (b *inbox) stored(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := b.db.View(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(bucketInbox)
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			_, id, _ := strings.Cut(string(k), "\x00")
			out[string(v)] = append(out[string(v)], id)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// env is a consent service and an engine on one bbolt file that a test may
// close and open again, as a restarted process would.
type env struct {
	t     *testing.T
	path  string
	clk   *clock
	ccfg  consent.Config
	db    *bbolt.DB
	svc   *consent.Service
	eng   *broadcast.Engine
	box   *inbox
	met   *broadcast.Metrics
	retry time.Duration
}

func newEnv(t *testing.T, ccfg consent.Config) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "b.db"), clk: &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)},
		ccfg: ccfg, box: &inbox{}, met: broadcast.NewMetrics(), retry: 20 * time.Millisecond}
	e.ccfg.Now = e.clk.Now
	e.ccfg.Pseudonyms = ids{}
	e.open()
	t.Cleanup(func() {
		if e.db != nil {
			e.eng.Close()
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
	e.box.db = db
	if e.svc, err = consent.Open(db, e.ccfg); err != nil {
		e.t.Fatal(err)
	}
	if e.eng, err = broadcast.Open(db, broadcast.Config{Consent: e.svc, Sender: e.box, Pseudonyms: ids{}, Metrics: e.met,
		Now: e.clk.Now, Retry: e.retry}); err != nil {
		e.t.Fatal(err)
	}
}

// restart stops the engine, closes the store and opens both again.
func (e *env) restart() {
	e.t.Helper()
	e.eng.Close()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

// optIn records person's opt-in to purpose, asked by app in the person's
// conversation with it.
func (e *env) optIn(person, business, app, purpose string) consent.Record {
	e.t.Helper()
	r, err := e.svc.OptIn(ctx, consent.Grant{Person: person, Business: business, App: app, Purpose: purpose, Surface: "web",
		Conversation: "a-" + app + "-" + person, Prompt: consent.OptInPrompt(business, purpose)})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) subscribe(person, business, app, template string) consent.Record {
	e.t.Helper()
	r, err := e.svc.Subscribe(ctx, consent.Grant{Person: person, Business: business, App: app, Template: template, Surface: "web",
		Conversation: "a-" + app + "-" + person, Prompt: consent.SubscriptionPrompt(business, template)})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// say is a message the person sends the business (STOP, START, or any).
func (e *env) say(person, business, text string) {
	e.t.Helper()
	if _, err := e.svc.Inbound(ctx, consent.Inbound{Person: person, Business: business, App: "shop", Surface: "web",
		Conversation: "a-shop-" + person, Text: text}); err != nil {
		e.t.Fatal(err)
	}
}

// drain steps the broadcast until it is done, moving the clock over the
// per-second limit's waits.
func (e *env) drain(merchant, id string) broadcast.Broadcast {
	e.t.Helper()
	for range 100000 {
		b, wait, err := e.eng.Step(ctx, merchant, id)
		if err != nil {
			e.t.Fatal(err)
		}
		if b.State == broadcast.StateDone {
			return b
		}
		e.clk.Add(wait)
	}
	e.t.Fatal("the broadcast never finished")
	return broadcast.Broadcast{}
}

func text(s string) host.Message { return host.Message{Text: s} }
