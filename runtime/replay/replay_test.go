package replay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/appbuild"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/replay"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

var (
	buildOnce sync.Once
	built     map[string][]byte
	buildErr  error
)

// clockApp returns testdata/clockapp built with the given variant and
// manifest version. The toolchain builds it (once per test binary):
//
//	cd testdata/clockapp && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -ldflags "-X main.variant=V"
//
// in a module that points at this repository's SDK.
func clockApp(t testing.TB, variant, version string) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Go guest with the toolchain")
	}
	buildOnce.Do(func() { built, buildErr = buildClockApps() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	wasm, err := wasmfile.EmbedManifest(built[variant], &host.Manifest{ABI: host.ABIVersion, ID: "clock", Name: "Clock",
		Version: version, Permissions: []host.Permission{host.PermChat}})
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

func buildClockApps() (map[string][]byte, error) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "clockapp")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src, err := os.ReadFile(filepath.Join("testdata", "clockapp", "main.go"))
	if err != nil {
		return nil, err
	}
	gomod := "module clockapp\n\ngo 1.26\n\nrequire github.com/passerelle/passerelle/sdk/go v0.0.0\n\nreplace github.com/passerelle/passerelle/sdk/go => " + filepath.Join(repo, "sdk", "go") + "\n"
	sum, _ := os.ReadFile(filepath.Join(repo, "go.sum"))
	for name, data := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum, "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return nil, err
		}
	}
	out := map[string][]byte{}
	for _, v := range []string{"", "loud", "trap"} {
		file := filepath.Join(dir, "clock"+v+".wasm")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-buildmode=c-shared", "-trimpath",
			"-ldflags=-s -w -X main.variant="+v, "-o", file, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", v, err, msg)
		}
		if out[v], err = os.ReadFile(file); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// outbox keeps what the apps send.
type outbox struct {
	mu  sync.Mutex
	out []string
}

func (o *outbox) Emit(_ context.Context, out host.Outgoing) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.out = append(o.out, out.Message.Text)
	return nil
}

type pseudonyms struct{}

func (pseudonyms) OpenID(ref host.AppRef, person string) string {
	return "openid-" + ref.App + "-" + person
}

// chatSend emits the request's text and answers a message id.
func chatSend() host.Func {
	n := 0
	return host.Func{Op: "chat.send", Permission: host.PermChat,
		Handle: func(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
			var m host.Message
			if err := json.Unmarshal(req, &m); err != nil {
				return nil, host.Errorf(host.StatusBadRequest, "%v", err)
			}
			n++
			return fmt.Appendf(nil, `{"id":"m%d"}`, n), c.Out.Emit(ctx, host.Outgoing{App: c.Caller.App, Conversation: c.Caller.Conversation, Message: &m})
		}}
}

type env struct {
	db     *bbolt.DB
	store  *replay.Store
	router *apps.Router
	out    *outbox
	now    time.Time
}

func newEnv(t testing.TB, retention time.Duration) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "p.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: db, out: &outbox{}, now: time.Now()}
	reg, err := registry.Open(db, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e.store, err = replay.Open(db, replay.Config{Retention: retention, Now: func() time.Time { return e.now }}); err != nil {
		t.Fatal(err)
	}
	eng, err := sandbox.New(ctx, sandbox.Config{CacheDir: appbuild.CompileCacheDir(), Funcs: []host.Func{chatSend()}, PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.router, err = apps.New(ctx, apps.Config{Registry: reg, Engine: eng, Identity: pseudonyms{}, Outbox: e.out,
		Commit: bolt.NewCommitter(db, bolt.Config{}), Recordings: e.store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.router.Close(ctx)
		eng.Close(ctx)
	})
	return e
}

func (e *env) upload(t testing.TB, variant, version string) {
	t.Helper()
	if _, _, err := e.router.Upload(context.Background(), "m1", "m1", "clock", clockApp(t, variant, version)); err != nil {
		t.Fatal(err)
	}
}

func (e *env) say(t testing.TB, person, conv, text string) {
	t.Helper()
	err := e.router.Deliver(context.Background(), "clock", host.AppEvent{Person: person, Conversation: conv, Surface: "web",
		Event: host.Event{Type: host.EventMessage, Text: text}})
	if err != nil {
		t.Fatal(err)
	}
}

// The platform records what a version did, and replaying it against the
// same version gives the same calls (same time, same random number);
// against a version that changed its text it diverges at chat.send; a
// version that traps is refused promotion.
func TestRecordAndReplay(t *testing.T) {
	e := newEnv(t, 24*time.Hour)
	ctx := context.Background()
	e.upload(t, "", "1.0.0")
	e.say(t, "p-ann", "c1", "hello")
	e.say(t, "p-bob", "c2", "hi")
	e.say(t, "p-ann", "c1", "again")

	recs, err := e.store.Events("m1", "clock", replay.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	for i, r := range recs {
		if r.Version != "1.0.0" || r.Seed == 0 || len(r.Calls) != 1 || r.Calls[0].Op != "chat.send" || r.Effects != 0 && r.Effects > 1 {
			t.Fatalf("record %d: %+v", i, r)
		}
		// The guest read the event's clock, fixed at its start.
		if want := fmt.Sprintf("at %d rand ", r.Clock.UnixNano()); !strings.Contains(string(r.Calls[0].Request), want) {
			t.Fatalf("record %d: request %s does not carry the clock %q", i, r.Calls[0].Request, want)
		}
	}
	if e.out.out[0] == e.out.out[2] {
		t.Fatal("two events read the same time and random number")
	}

	for round := range 2 {
		rep, err := e.router.Replay(ctx, "clock", "1.0.0", replay.Query{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Same != 3 || rep.Refused() {
			t.Fatalf("round %d: replaying the same version: %+v", round, rep)
		}
	}
	if len(e.out.out) != 3 {
		t.Fatalf("a replay sent messages: %q", e.out.out[3:])
	}

	e.upload(t, "loud", "2.0.0")
	rep, err := e.router.Replay(ctx, "clock", "2.0.0", replay.Query{Session: "c1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Events) != 2 || rep.Diverged != 2 || !rep.Refused() {
		t.Fatalf("replaying a changed version: %+v", rep)
	}
	d := rep.Events[0].Divergence
	if d.Op != "chat.send" || d.Index != 0 || d.Recorded == nil || d.Replayed == nil ||
		!strings.Contains(string(d.Recorded.Request), "said hello") || !strings.Contains(string(d.Replayed.Request), "SAID HELLO") {
		t.Fatalf("divergence %+v recorded %s replayed %s", d, d.Recorded.Request, d.Replayed.Request)
	}
	// The time and random number are those recorded, only louder.
	if strings.ToUpper(string(d.Recorded.Request)) != strings.ToUpper(string(d.Replayed.Request)) {
		t.Fatalf("recorded %s, replayed %s: the clock or randomness differ", d.Recorded.Request, d.Replayed.Request)
	}
	rep, err = e.router.Replay(ctx, "clock", "2.0.0", replay.Query{Last: 1}, []string{"chat.send"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Events) != 1 || rep.Events[0].Event != recs[2].Event || rep.Accepted != 1 || rep.Refused() {
		t.Fatalf("accepted chat.send: %+v", rep)
	}

	e.upload(t, "trap", "3.0.0")
	_, rep, err = e.router.PromoteReplayed(ctx, "clock", "3.0.0", 100, 1000, []string{"chat.send"})
	if !errors.Is(err, apps.ErrReplayRefused) || rep == nil || rep.Trapped != 3 {
		t.Fatalf("promoting a trapping version: err %v, report %+v", err, rep)
	}
	a, err := e.router.Registry().App("clock")
	if err != nil || a.Live != "1.0.0" || a.Candidate != "" {
		t.Fatalf("after the refusal: %+v, %v", a, err)
	}
	a, _, err = e.router.PromoteReplayed(ctx, "clock", "2.0.0", 100, 1000, []string{"chat.send"})
	if err != nil || a.Live != "2.0.0" {
		t.Fatalf("promoting with chat.send accepted: %+v, %v", a, err)
	}
}

// A person's deletion request removes their recorded events; others stay.
func TestForgetRemovesAPersonsEvents(t *testing.T) {
	e := newEnv(t, 24*time.Hour)
	e.upload(t, "", "1.0.0")
	e.say(t, "p-ann", "c1", "hello")
	e.say(t, "p-bob", "c2", "hi")
	e.say(t, "p-ann", "c1", "again")
	n, err := e.store.Forget("p-ann")
	if err != nil || n != 2 {
		t.Fatalf("Forget: %d, %v", n, err)
	}
	recs, err := e.store.Events("m1", "clock", replay.Query{})
	if err != nil || len(recs) != 1 || recs[0].Person != "p-bob" {
		t.Fatalf("left: %+v, %v", recs, err)
	}
	if n, err := e.store.Forget("p-ann"); err != nil || n != 0 {
		t.Fatalf("Forget again: %d, %v", n, err)
	}
}

// With a retention of 0 nothing is recorded.
func TestRecordingOff(t *testing.T) {
	e := newEnv(t, 0)
	e.upload(t, "", "1.0.0")
	e.say(t, "p-ann", "c1", "hello")
	recs, err := e.store.Events("m1", "clock", replay.Query{})
	if err != nil || len(recs) != 0 {
		t.Fatalf("recorded with retention 0: %+v, %v", recs, err)
	}
	if len(e.out.out) != 1 {
		t.Fatalf("sent %q", e.out.out)
	}
}
