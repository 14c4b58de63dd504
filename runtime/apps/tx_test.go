package apps_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/kv"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/host/services"
	"github.com/passerelle/passerelle/runtime/appbuild"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/hostevents"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// txGuest is a mini-app written with the Go SDK whose every effect the
// tests count: "inc" adds one to the counter "n"; "trap" writes "t" and
// then crashes; "fail" logs a line and returns an error; "timer" sets a
// timer and "pay <key>" requests a payment; a timer or a payment outcome
// adds one to a counter named after it and sends a message naming it.
const txGuest = `//go:build wasip1

package main

import (
	"errors"
	"strconv"
	"strings"
	"time"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

func incr(c *passerelle.Context, key string) (int, error) {
	v, err := c.Store().Get(key)
	if err != nil && !errors.Is(err, passerelle.ErrNotFound) {
		return 0, err
	}
	n, _ := strconv.Atoi(v)
	n++
	return n, c.Store().Set(key, strconv.Itoa(n))
}

func init() {
	app := passerelle.NewApp()
	app.OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
		switch ev.Text {
		case "inc":
			_, err := incr(c, "n")
			return err
		case "echo":
			_, err := c.SendText("echo")
			return err
		case "inc echo":
			n, err := incr(c, "n")
			if err != nil {
				return err
			}
			_, err = c.SendText("n=" + strconv.Itoa(n))
			return err
		case "trap":
			if err := c.Store().Set("t", "written"); err != nil {
				return err
			}
			c.Log(passerelle.LevelInfo, "about to crash")
			var m map[string]int
			m["crash"] = 1
		case "fail":
			c.Log(passerelle.LevelWarn, "refusing on purpose")
			return errors.New("refused on purpose")
		case "timer":
			_, err := c.After(time.Millisecond, "t1")
			return err
		case "ask":
			// As lunch does: ask for the name, then note what waits for it.
			if _, err := c.Profile(passerelle.FieldName); !errors.Is(err, passerelle.ErrConsentRequired) {
				return errors.New("profile without consent")
			}
			return c.PersonStore().Set("waiting", "order-1")
		}
		if key, ok := strings.CutPrefix(ev.Text, "pay "); ok {
			_, err := c.RequestPayment(passerelle.PaymentRequest{Amount: 500, Currency: "EUR", Description: "lunch", IdempotencyKey: key})
			return err
		}
		return nil
	})
	app.OnTimer(func(c *passerelle.Context, ev *passerelle.Event) error {
		n, err := incr(c, "timer:"+ev.Timer.ID)
		if err != nil {
			return err
		}
		_, err = c.SendText("timer " + ev.Timer.ID + " #" + strconv.Itoa(n))
		return err
	})
	app.OnPayment(func(c *passerelle.Context, ev *passerelle.Event) error {
		n, err := incr(c, "paid:"+ev.Payment.Order)
		if err != nil {
			return err
		}
		_, err = c.SendText("receipt " + ev.Payment.Order + " #" + strconv.Itoa(n))
		return err
	})
	passerelle.Serve(app)
}

func main() {}
`

var (
	txWasmOnce sync.Once
	txWasm     []byte
	txWasmErr  error
)

// buildTxGuest builds txGuest once per test binary.
func buildTxGuest(t testing.TB) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Go guest with the toolchain")
	}
	txWasmOnce.Do(func() { txWasm, txWasmErr = buildGuest(t.TempDir(), txGuest) })
	if txWasmErr != nil {
		t.Fatal(txWasmErr)
	}
	wasm, err := wasmfile.EmbedManifest(txWasm, &host.Manifest{ABI: "passerelle_v1", ID: "counter", Name: "Counter",
		Version: "1.0.0", Permissions: []host.Permission{host.PermChat, host.PermStorage, host.PermTimer, host.PermPay, host.PermIdentityProfile}})
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

func buildGuest(dir, src string) ([]byte, error) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		return nil, err
	}
	gomod := "module guest\n\ngo 1.26\n\nrequire github.com/passerelle/passerelle/sdk/go v0.0.0\n\nreplace github.com/passerelle/passerelle/sdk/go => " + filepath.Join(repo, "sdk", "go") + "\n"
	sum, _ := os.ReadFile(filepath.Join(repo, "go.sum"))
	for name, data := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum, "main.go": []byte(src)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(dir, "guest.wasm")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, msg)
	}
	return os.ReadFile(out)
}

// sentBucket is where txOutbox keeps the messages it was given.
var sentBucket = []byte("test.sent")

// txOutbox stands in for the gateway's outbox: a message staged in an
// event's transaction is stored in the same bbolt transaction (Apply) and
// handed to the members once committed (Committed); one emitted outside a
// transaction is stored at once.
type txOutbox struct {
	db       *bbolt.DB
	onPrompt func(host.Outgoing) // called as a prompt reaches its person

	mu        sync.Mutex
	delivered []string
}

func (o *txOutbox) store(tx *bbolt.Tx, out host.Outgoing) error {
	b, err := tx.CreateBucketIfNotExists(sentBucket)
	if err != nil {
		return err
	}
	seq, _ := b.NextSequence()
	k := binary.BigEndian.AppendUint64(nil, seq)
	text := "prompt"
	if out.Message != nil {
		text = out.Message.Text
	}
	return b.Put(k, []byte(text))
}

func (o *txOutbox) Emit(_ context.Context, out host.Outgoing) error {
	if err := o.db.Update(func(tx *bbolt.Tx) error { return o.store(tx, out) }); err != nil {
		return err
	}
	o.deliver(out)
	return nil
}

func (o *txOutbox) Stage(_ context.Context, out host.Outgoing) (host.Effect, error) {
	return host.Effect{
		Apply:     func(tx *bbolt.Tx) error { return o.store(tx, out) },
		Committed: func() { o.deliver(out) },
	}, nil
}

func (o *txOutbox) deliver(out host.Outgoing) {
	if out.Message == nil {
		if o.onPrompt != nil {
			o.onPrompt(out)
		}
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.delivered = append(o.delivered, out.Message.Text)
}

// stored returns the messages the outbox stored, oldest first.
func stored(t testing.TB, db *bbolt.DB) []string {
	t.Helper()
	var out []string
	err := db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(sentBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error { out = append(out, string(v)); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// node is one process of the platform over a bbolt file: the services,
// the sandbox and the router, as cmd/passerelle wires them.
type node struct {
	db     *bbolt.DB
	svc    *services.Services
	events *hostevents.Queue
	reg    *registry.Registry
	eng    *sandbox.Engine
	router *apps.Router
	commit *bolt.Committer
	out    *txOutbox
}

func startNode(t testing.TB, dir string, pool int) *node {
	return startNodeWith(t, dir, pool, true, false)
}

// startNodeWith is startNode; without transactions (tx false) effects are
// written as the host calls are made, as before events were transactions.
// noSync skips the store's fsync, to show the processor's share.
func startNodeWith(t testing.TB, dir string, pool int, tx, noSync bool) *node {
	t.Helper()
	ctx := context.Background()
	n := &node{events: hostevents.New()}
	var err error
	if n.db, err = bbolt.Open(filepath.Join(dir, "p.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: noSync}); err != nil {
		t.Fatal(err)
	}
	n.out = &txOutbox{db: n.db}
	if n.svc, err = services.Open(n.db, services.Config{Events: n.events.Push}); err != nil {
		t.Fatal(err)
	}
	if n.reg, err = registry.Open(n.db, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	if n.eng, err = sandbox.New(ctx, sandbox.Config{CacheDir: appbuild.CompileCacheDir(), Funcs: n.svc.Funcs(),
		PoolSize: pool, Defaults: host.Limits{EventTimeoutMS: 10_000}, AppLog: apps.LogSink{Registry: n.reg}}); err != nil {
		t.Fatal(err)
	}
	n.commit = bolt.NewCommitter(n.db, bolt.Config{})
	cfg := apps.Config{Registry: n.reg, Engine: n.eng, Identity: n.svc.Identity, Outbox: n.out, Commit: n.commit, PerApp: pool}
	if !tx {
		cfg.Commit = nil
	}
	if n.router, err = apps.New(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return n
}

// stop closes the node; after a crash the store may be closed already.
func (n *node) stop() {
	ctx := context.Background()
	n.router.Close(ctx)
	n.eng.Close(ctx)
	n.commit.Close()
	n.svc.Close()
	n.reg.Close()
	n.db.Close()
}

// deliverHostEvents delivers every queued host event as the platform does
// (cmd/passerelle deliverHostEvent), consumed in its commit.
func (n *node) deliverHostEvents(ctx context.Context) error {
	for _, ev := range n.events.Take() {
		err := n.router.DeliverFor(ctx, ev.App, host.AppEvent{Person: ev.Person, Conversation: ev.Conversation,
			Surface: ev.Surface, Event: ev.Event, Consume: ev.Consume})
		ev.Done(ctx, err)
		if err != nil {
			return err
		}
	}
	return nil
}

func (n *node) message(t testing.TB, person, text string) error {
	t.Helper()
	return n.router.Deliver(context.Background(), "counter", host.AppEvent{Person: person, Conversation: "c1", Surface: "web",
		Event: host.Event{Type: host.EventMessage, Text: text}})
}

func (n *node) get(t testing.TB, key string) (string, bool) {
	t.Helper()
	v, err := n.svc.KV.Get(context.Background(), kv.AppNamespace(host.AppRef{Merchant: "m1", App: "counter"}), key)
	if errors.Is(err, kv.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(v.Data), true
}

// Two instances of one app increment one counter 1,000 times each, at
// once: no update is lost, because an event whose read changed before it
// committed runs again.
func TestTxCounterTwoInstances(t *testing.T) {
	wasm := buildTxGuest(t)
	n := startNode(t, t.TempDir(), 2)
	defer n.stop()
	if _, _, err := n.router.Upload(context.Background(), "m1", "m1", "counter", wasm); err != nil {
		t.Fatal(err)
	}
	const each = 1000
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Go(func() {
			for range each {
				if err := n.message(t, fmt.Sprintf("p%d", w), "inc"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if v, _ := n.get(t, "n"); v != "2000" {
		t.Fatalf("counter = %s, want 2000", v)
	}
	st := n.reg.Stats("counter")
	if len(st) != 1 || st[0].Events != 2*each || st[0].Errors != 0 {
		t.Fatalf("figures %+v", st)
	}
	t.Logf("%d events, %d re-runs", st[0].Events, st[0].Reruns)
}

// BenchmarkDeliverTx measures what the transaction costs an event, through
// the router on a real store: an event that sends one message ("echo"),
// one that reads and writes a key ("inc"), and one that does both ("inc
// echo"), with the effects written as the calls are made (tx=off, each
// write its own store transaction, as before events were transactions)
// and staged and committed with the event (tx=on). The outbox stores each
// message in the store, as the gateway does. sync=off skips the store's
// fsync, to show what the processor spends; cpu-ns/op is the process's
// user and system CPU per event.
func BenchmarkDeliverTx(b *testing.B) {
	wasm := buildTxGuest(b)
	onOff := map[bool]string{false: "off", true: "on"}
	for _, sync := range []bool{true, false} {
		for _, text := range []string{"echo", "inc", "inc echo"} {
			for _, tx := range []bool{false, true} {
				b.Run(fmt.Sprintf("sync=%s/%s/tx=%s", onOff[sync], strings.ReplaceAll(text, " ", "+"), onOff[tx]), func(b *testing.B) {
					benchDeliver(b, wasm, text, tx, !sync)
				})
			}
		}
	}
}

func benchDeliver(b *testing.B, wasm []byte, text string, tx, noSync bool) {
	n := startNodeWith(b, b.TempDir(), 1, tx, noSync)
	defer n.stop()
	if _, _, err := n.router.Upload(context.Background(), "m1", "m1", "counter", wasm); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		if err := n.message(b, "p1", text); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the user and system CPU time of the process, in
// nanoseconds: on a shared machine it says more than the wall time.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// A trap after a write leaves the store as it was: nothing of the event
// is kept, and its log says so.
func TestTxTrapAfterWrite(t *testing.T) {
	wasm := buildTxGuest(t)
	n := startNode(t, t.TempDir(), 1)
	defer n.stop()
	if _, _, err := n.router.Upload(context.Background(), "m1", "m1", "counter", wasm); err != nil {
		t.Fatal(err)
	}
	err := n.message(t, "p1", "trap")
	if sandbox.FailureKind(err) != "trap" {
		t.Fatalf("err = %v, want a trap", err)
	}
	if v, ok := n.get(t, "t"); ok {
		t.Fatalf("the trapped event's write is in the store: %q", v)
	}
	logs, _ := n.reg.Logs("counter", 0, 100)
	var text []string
	for _, l := range logs {
		text = append(text, l.Source+": "+l.Message)
	}
	all := strings.Join(text, "\n")
	if !strings.Contains(all, "about to crash") || !strings.Contains(all, "nothing the event did was kept") {
		t.Fatalf("log:\n%s", all)
	}
	// Only the platform's apology was sent.
	if got := stored(t, n.db); len(got) != 1 || !strings.Contains(got[0], "had a problem") {
		t.Fatalf("sent %q", got)
	}
}

// A prompt an event causes reaches the person only once the event's
// writes are committed: an app that asks for consent and then notes what
// waits for the answer cannot be overtaken by the answer.
func TestTxPromptAfterCommit(t *testing.T) {
	wasm := buildTxGuest(t)
	n := startNode(t, t.TempDir(), 1)
	defer n.stop()
	ctx := context.Background()
	if _, _, err := n.router.Upload(ctx, "m1", "m1", "counter", wasm); err != nil {
		t.Fatal(err)
	}
	person, err := n.svc.Identity.CreatePerson(ctx, "Ann", "")
	if err != nil {
		t.Fatal(err)
	}
	ref := host.AppRef{Merchant: "m1", App: "counter"}
	var prompts int
	n.out.onPrompt = func(host.Outgoing) {
		prompts++
		ns, err := n.svc.KV.PersonNamespace(ref, person.ID)
		if err != nil {
			t.Error(err)
			return
		}
		if v, err := n.svc.KV.Get(ctx, ns, "waiting"); err != nil || string(v.Data) != "order-1" {
			t.Errorf("the prompt reached the person before the event's write: %q %v", v.Data, err)
		}
	}
	if err := n.message(t, person.ID, "ask"); err != nil {
		t.Fatal(err)
	}
	if prompts != 1 {
		t.Fatalf("%d prompts, want 1", prompts)
	}
}

// crashed is what the crash hook panics with.
type crashed string

// A crash at every step of an event's life, on the real store, in a loop:
// before the commit the event leaves no trace and is delivered again after
// the restart; after the commit (before or between the Committed hooks)
// it is never delivered again. Either way each effect of a timer event
// and of a payment outcome (a storage write and a message) happens exactly
// once.
func TestTxCrashExactlyOnce(t *testing.T) {
	wasm := buildTxGuest(t)
	dir := t.TempDir()
	ctx := context.Background()
	n := startNode(t, dir, 1)
	if _, _, err := n.router.Upload(ctx, "m1", "m1", "counter", wasm); err != nil {
		t.Fatal(err)
	}
	person, err := n.svc.Identity.CreatePerson(ctx, "Alice", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.svc.Pay.Fund(ctx, pay.PersonAccount(person.ID), "EUR", 100_000); err != nil {
		t.Fatal(err)
	}
	n.stop()

	stages := []string{"before-commit", "after-commit", "committed-hook"}
	for round := range 2 {
		for _, stage := range stages {
			for _, kind := range []string{"timer", "payment"} {
				name := fmt.Sprintf("round %d %s %s", round, kind, stage)
				n := startNode(t, dir, 1)
				// Cause the event: a timer due now, or a paid order.
				var key string
				sentBefore := len(stored(t, n.db))
				var fired chan error
				fireCtx, stopFiring := context.WithCancel(ctx)
				if kind == "timer" {
					if err := n.message(t, person.ID, "timer"); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					ts, _ := n.svc.Timers.Pending(ctx, host.AppRef{Merchant: "m1", App: "counter"})
					if len(ts) != 1 {
						t.Fatalf("%s: %d timers pending", name, len(ts))
					}
					key = "timer:" + ts[0].ID
					fired = make(chan error, 1)
					go func() { // Fire waits for the event's delivery
						_, err := n.svc.Timers.FireDue(fireCtx, time.Now().Add(time.Hour))
						fired <- err
					}()
					<-n.events.Waiting()
				} else {
					idem := fmt.Sprintf("order-%d-%s", round, stage)
					if err := n.message(t, person.ID, "pay "+idem); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					o := awaitingOrder(t, n, person.ID, idem)
					if err := n.svc.Pay.Confirm(ctx, person.ID, o); err != nil {
						t.Fatalf("%s: confirm: %v", name, err)
					}
					key = "paid:" + o
				}
				// Deliver it and crash at stage.
				apps.SetCrashHook(n.router, func(s string) {
					if s == stage {
						panic(crashed(s))
					}
				})
				func() {
					defer func() {
						if r := recover(); r == nil {
							t.Fatalf("%s: no crash", name)
						} else if _, ok := r.(crashed); !ok {
							panic(r)
						}
					}()
					for _, ev := range n.events.Take() {
						n.router.DeliverFor(ctx, ev.App, host.AppEvent{Person: ev.Person, Conversation: ev.Conversation,
							Surface: ev.Surface, Event: ev.Event, Consume: ev.Consume})
					}
				}()
				// The process dies: its store is closed before anything
				// else runs (the timer loop's bookkeeping included).
				n.db.Close()
				stopFiring()
				if fired != nil {
					<-fired
				}
				n.stop()

				// Restart: what was kept is handed over again.
				n = startNode(t, dir, 1)
				if _, err := n.svc.Pay.Sweep(ctx, time.Now()); err != nil {
					t.Fatal(err)
				}
				go func() {
					n.svc.Timers.FireDue(ctx, time.Now().Add(time.Hour))
				}()
				deadline := time.After(time.Minute)
				want := 0
				if stage == "before-commit" {
					want = 1
				}
				for got := 0; got < want; {
					select {
					case <-n.events.Waiting():
						got += len(n.events.Pending())
						if err := n.deliverHostEvents(ctx); err != nil {
							t.Fatalf("%s: redeliver: %v", name, err)
						}
					case <-deadline:
						t.Fatalf("%s: the event was not delivered again", name)
					}
				}
				// Let a wrong redelivery show itself.
				if err := n.deliverHostEvents(ctx); err != nil {
					t.Fatal(err)
				}
				if v, _ := n.get(t, key); v != "1" {
					t.Fatalf("%s: %s = %q, want 1", name, key, v)
				}
				var mine []string
				for _, m := range stored(t, n.db)[sentBefore:] {
					if strings.Contains(m, strings.TrimPrefix(strings.TrimPrefix(key, "timer:"), "paid:")) {
						mine = append(mine, m)
					}
				}
				if len(mine) != 1 || !strings.HasSuffix(mine[0], "#1") {
					t.Fatalf("%s: messages %q, want one", name, mine)
				}
				if k, _ := n.svc.Pay.Undelivered(ctx); k != 0 {
					n.db.View(func(tx *bbolt.Tx) error {
						return tx.Bucket([]byte("pay.outcomes")).ForEach(func(k, v []byte) error { t.Logf("%q %s", k, v); return nil })
					})
					t.Fatalf("%s: %d payment outcomes still kept", name, k)
				}
				if ts, _ := n.svc.Timers.Pending(ctx, host.AppRef{Merchant: "m1", App: "counter"}); len(ts) != 0 {
					t.Fatalf("%s: %d timers still pending", name, len(ts))
				}
				n.stop()
			}
		}
	}
}

// awaitingOrder returns the id of the person's order of idempotency key
// idem, which the app requested: asking again with the same key returns it.
func awaitingOrder(t *testing.T, n *node, person, idem string) string {
	t.Helper()
	o, fresh, err := n.svc.Pay.NewOrder(context.Background(), host.AppRef{Merchant: "m1", App: "counter", Version: "1.0.0"}, person, "c1", "web",
		pay.Request{Amount: 500, Currency: "EUR", Description: "lunch", IdempotencyKey: idem})
	if err != nil || fresh || o.State != pay.StateAwaiting {
		t.Fatalf("the app's order %s: fresh %v, %v", o.State, fresh, err)
	}
	return o.ID
}
