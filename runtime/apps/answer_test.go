package apps_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/handoff"
	"github.com/passerelle/passerelle/host/services"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/hostevents"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/replay"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// keptBucket stands in for the gateway's store of persons' events
// (gateway/eventstore): an event is kept there from its acceptance and
// deleted by its Consume, inside the runtime's commit.
var keptBucket = []byte("test.kept")

// keptEvent is an event kept in keptBucket.
type keptEvent struct {
	Person, Conversation, Surface string
	Event                         host.Event
}

// keepEvent keeps ev, as the gateway does when it accepts it.
func keepEvent(t testing.TB, db *bbolt.DB, ev host.AppEvent) {
	t.Helper()
	v, err := json.Marshal(keptEvent{ev.Person, ev.Conversation, ev.Surface, ev.Event})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(keptBucket)
		if err != nil {
			return err
		}
		seq, _ := b.NextSequence()
		return b.Put(binary.BigEndian.AppendUint64(nil, seq), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// keptEvents returns the events kept, oldest first, each with the Consume
// that deletes it, as the gateway's Resume hands them on.
func keptEvents(t testing.TB, db *bbolt.DB) []host.AppEvent {
	t.Helper()
	var out []host.AppEvent
	err := db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(keptBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var e keptEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			key := append([]byte(nil), k...)
			out = append(out, host.AppEvent{Person: e.Person, Conversation: e.Conversation, Surface: e.Surface, Event: e.Event,
				Consume: func(tx *bbolt.Tx) error { return tx.Bucket(keptBucket).Delete(key) }})
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// answerNode is a node whose router also has the consent rules, the
// handoffs, the standing events and the recordings, as cmd/passerelle
// wires them.
type answerNode struct {
	*node
	rec *replay.Store
}

// standings counts the standing events the routers of a test told, by
// person, across restarts.
type standings struct {
	mu   sync.Mutex
	told map[string]int
}

func (s *standings) tell(_ context.Context, _ host.AppRef, ev host.AppEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.told[ev.Person+" "+ev.Event.Type]++
}

func (s *standings) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.told[key]
}

func startAnswerNode(t testing.TB, dir string, st *standings) *answerNode {
	t.Helper()
	ctx := context.Background()
	n := &answerNode{node: &node{events: hostevents.New()}}
	var err error
	if n.db, err = bbolt.Open(filepath.Join(dir, "p.db"), 0o600, &bbolt.Options{Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	n.out = &txOutbox{db: n.db}
	if n.svc, err = services.Open(n.db, services.Config{Events: n.events.Push, Consent: &consent.Config{}}); err != nil {
		t.Fatal(err)
	}
	if n.reg, err = registry.Open(n.db, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	if n.rec, err = replay.Open(n.db, replay.Config{Retention: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if n.eng, err = sandbox.New(ctx, sandbox.Config{CacheDir: filepath.Join(dir, "cache"), Funcs: n.svc.Funcs(),
		PoolSize: 1, Defaults: host.Limits{EventTimeoutMS: 10_000}, AppLog: apps.LogSink{Registry: n.reg}}); err != nil {
		t.Fatal(err)
	}
	n.commit = bolt.NewCommitter(n.db, bolt.Config{})
	if n.router, err = apps.New(ctx, apps.Config{Registry: n.reg, Engine: n.eng, Identity: n.svc.Identity, Outbox: n.out,
		Commit: n.commit, PerApp: 1, Consent: n.svc.Consent, Handoffs: n.svc.Handoffs, Standing: st.tell, Recordings: n.rec}); err != nil {
		t.Fatal(err)
	}
	return n
}

// An event the platform answers itself, across a crash at every step of
// its commit, on the real store: a STOP (the ledger record, the
// confirmation, the apps told), a person's message in a conversation
// handed to the merchant's staff (held from the app), and an event the
// app failed (a trap, told to the person; an error the guest returned,
// recorded). Before the commit nothing is written and the event is
// handed over again after the restart; after it, it is gone. Either way
// the STOP is recorded and confirmed once, the held message never reaches
// the app, the failure is told once and recorded once, and no event is
// left kept.
func TestPlatformAnswerExactlyOnceAcrossACrash(t *testing.T) {
	wasm := buildTxGuest(t)
	dir := t.TempDir()
	ctx := context.Background()
	st := &standings{told: map[string]int{}}
	n := startAnswerNode(t, dir, st)
	if _, _, err := n.router.Upload(ctx, "m1", "m1", "counter", wasm); err != nil {
		t.Fatal(err)
	}
	n.stop()
	ref := host.AppRef{Merchant: "m1", App: "counter", Version: "1.0.0"}

	cases := []struct {
		name, text string
		handedOff  bool
	}{
		{"stop", "STOP", false},
		{"held", "inc", true},
		{"trap", "trap", false},
		{"guest error", "fail", false},
	}
	for _, tc := range cases {
		for _, stage := range []string{"before-commit", "after-commit", "committed-hook", ""} {
			name := tc.name + " crash " + stage
			if stage == "" {
				name = tc.name + " without a crash"
			}
			t.Run(name, func(t *testing.T) {
				slug := strings.ReplaceAll(name, " ", "-")
				person, conv, id := "p-"+slug, "c-"+slug, "e-"+slug
				n := startAnswerNode(t, dir, st)
				if tc.handedOff {
					b, err := n.svc.Handoffs.Start(ctx, ref, conv, person, "web", handoff.Request{Reason: "asked for a person"})
					if err != nil {
						t.Fatal(err)
					}
					if err := b.Commit(); err != nil {
						t.Fatal(err)
					}
				}
				sentBefore := len(stored(t, n.db))
				keepEvent(t, n.db, host.AppEvent{Person: person, Conversation: conv, Surface: "web",
					Event: host.Event{Type: host.EventMessage, ID: id, Text: tc.text}})

				// Deliver it and crash at stage.
				apps.SetCrashHook(n.router, func(s string) {
					if s == stage {
						panic(crashed(s))
					}
				})
				func() {
					defer func() {
						r := recover()
						if _, ok := r.(crashed); r != nil && !ok {
							panic(r)
						}
						if (r != nil) != (stage != "") {
							t.Fatalf("crash hook: %v, want a crash at %q", r, stage)
						}
					}()
					for _, ev := range keptEvents(t, n.db) {
						n.router.Deliver(ctx, "counter", ev)
					}
				}()
				n.db.Close() // the process dies: nothing else reaches the store
				n.stop()

				// Restart and hand on what was kept, as the gateway's Resume.
				n = startAnswerNode(t, dir, st)
				defer n.stop()
				again := keptEvents(t, n.db)
				if want := map[bool]int{true: 1, false: 0}[stage == "before-commit"]; len(again) != want {
					t.Fatalf("%d events kept after the restart, want %d", len(again), want)
				}
				for _, ev := range again {
					err := n.router.Deliver(ctx, "counter", ev)
					if tc.name == "stop" || tc.name == "held" {
						if err != nil {
							t.Fatalf("delivered again: %v", err)
						}
					} else if err == nil {
						t.Fatal("the failing event succeeded when delivered again")
					}
				}
				if left := keptEvents(t, n.db); len(left) != 0 {
					t.Fatalf("%d events still kept", len(left))
				}

				sent := stored(t, n.db)[sentBefore:]
				var want []string
				switch tc.name {
				case "stop":
					want = []string{consent.StopText("m1")}
				case "trap":
					want = []string{"Counter had a problem and could not answer. Please try again in a moment."}
				}
				if !slices.Equal(sent, want) {
					t.Fatalf("sent %q, want %q", sent, want)
				}

				recs, err := n.svc.Consent.Records(ctx, 1, 0)
				if err != nil {
					t.Fatal(err)
				}
				var stops int
				for _, r := range recs {
					if r.Person == person && r.Kind == consent.KindOptOut {
						stops++
					}
				}
				if want := map[bool]int{true: 1, false: 0}[tc.name == "stop"]; stops != want {
					t.Fatalf("%d opt-out records, want %d", stops, want)
				}
				if _, err := n.svc.Consent.Verify(ctx); err != nil {
					t.Fatal(err)
				}
				// The apps are told once the STOP committed, from memory: a
				// crash right after the commit loses it (not after a restart).
				told := st.count(person + " " + host.EventOptOut)
				switch {
				case tc.name != "stop" && told != 0,
					tc.name == "stop" && (stage == "" || stage == "before-commit") && told != 1,
					told > 1:
					t.Fatalf("the apps were told %d times of the STOP", told)
				}

				if v, ok := n.get(t, "n"); ok {
					t.Fatalf("the app ran the held message: n = %q", v)
				}
				if v, ok := n.get(t, "t"); ok {
					t.Fatalf("the trapped event's write is in the store: %q", v)
				}
				if tc.handedOff {
					open, err := n.svc.Handoffs.List(ctx, "m1", true, 0)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.ContainsFunc(open, func(h handoff.Handoff) bool { return h.Conversation == conv }) {
						t.Fatalf("the handoff of %s is not open: %+v", conv, open)
					}
				}

				recorded, err := n.rec.Events("m1", "counter", replay.Query{})
				if err != nil {
					t.Fatal(err)
				}
				var mine int
				for _, r := range recorded {
					if r.Event == id {
						mine++
						if r.Status == 0 {
							t.Fatalf("recorded %+v with status 0", r)
						}
					}
				}
				if want := map[bool]int{true: 1, false: 0}[tc.name == "guest error"]; mine != want {
					t.Fatalf("%d recordings of the event, want %d", mine, want)
				}

				// The app's log lives in memory and is flushed now and then:
				// what the crashed process logged is gone, the failure of a
				// run after the restart is there once.
				logs, _ := n.reg.Logs("counter", 0, 1000)
				var failures int
				for _, l := range logs {
					if l.Source == "failure" && l.EventID == id {
						failures++
					}
				}
				failing := tc.name == "trap" || tc.name == "guest error"
				if want := map[bool]int{true: 1, false: 0}[failing && stage == "before-commit"]; failures != want {
					t.Fatalf("%d failure lines for the event after the restart, want %d: %+v", failures, want, logs)
				}
			})
		}
	}
}

// conflictOnce is a Handoffs whose first HoldsTx stages a check that
// fails as a handoff handed back meanwhile does.
type conflictOnce struct {
	*handoff.Service
	mu    sync.Mutex
	tries int
}

func (c *conflictOnce) HoldsTx(ctx context.Context, tx *host.Tx, conversation string) (bool, error) {
	c.mu.Lock()
	c.tries++
	first := c.tries == 1
	c.mu.Unlock()
	if first {
		tx.Stage(host.Effect{Apply: func(*bbolt.Tx) error { return host.Wrapf(host.ErrTxConflict, "handed back meanwhile") }})
		return true, nil
	}
	return c.Service.HoldsTx(ctx, tx, conversation)
}

// A held event whose commit finds the handoff changed is decided again:
// nothing of the first decision is kept, the event is consumed once.
func TestHeldEventDecidedAgainAfterAConflict(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.upload(t, "m1", "shop", "1")
	hs, err := handoff.Open(e.db, handoff.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := hs.Start(ctx, host.AppRef{Merchant: "m1", App: "shop", Version: "1"}, "c1", "p", "web", handoff.Request{Reason: "asked for a person"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	h := &conflictOnce{Service: hs}
	c := bolt.NewCommitter(e.db, bolt.Config{})
	defer c.Close()
	router, err := apps.New(ctx, apps.Config{Registry: e.reg, Engine: e.eng, Identity: pseudonyms{}, Outbox: e.out, Handoffs: h, Commit: c})
	if err != nil {
		t.Fatal(err)
	}
	defer router.Close(ctx)
	keepEvent(t, e.db, host.AppEvent{Person: "p", Conversation: "c1", Event: host.Event{Type: host.EventMessage, ID: "m1", Text: "hello"}})
	for _, ev := range keptEvents(t, e.db) {
		if err := router.Deliver(ctx, "shop", ev); err != nil {
			t.Fatal(err)
		}
	}
	if h.tries != 2 {
		t.Fatalf("decided %d times, want 2", h.tries)
	}
	if left := keptEvents(t, e.db); len(left) != 0 {
		t.Fatalf("%d events still kept", len(left))
	}
	for _, st := range e.reg.Stats("shop") {
		if st.Events != 0 {
			t.Fatalf("the app got the held event: %+v", st)
		}
	}
}

// An event a host service caused (DeliverFor) that fails is not consumed
// with the platform's answer: its service decides from Done whether to
// deliver it again (a timer is tried again). The person is told all the
// same, once.
func TestHostEventFailureLeftToItsService(t *testing.T) {
	wasm := buildTxGuest(t)
	ctx := context.Background()
	n := startAnswerNode(t, t.TempDir(), &standings{told: map[string]int{}})
	defer n.stop()
	if _, _, err := n.router.Upload(ctx, "m1", "m1", "counter", wasm); err != nil {
		t.Fatal(err)
	}
	keepEvent(t, n.db, host.AppEvent{Person: "p1", Conversation: "c1", Event: host.Event{Type: host.EventMessage, ID: "e1", Text: "trap"}})
	for _, ev := range keptEvents(t, n.db) {
		if err := n.router.DeliverFor(ctx, host.AppRef{Merchant: "m1", App: "counter"}, ev); sandbox.FailureKind(err) != "trap" {
			t.Fatalf("err = %v, want a trap", err)
		}
	}
	if kept := keptEvents(t, n.db); len(kept) != 1 {
		t.Fatalf("%d events kept, want the failed one, for its service", len(kept))
	}
	if sent := stored(t, n.db); len(sent) != 1 || !strings.Contains(sent[0], "had a problem") {
		t.Fatalf("sent %q, want the notice once", sent)
	}
}
