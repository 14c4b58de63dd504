package replay_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/replay"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// echoGuest is runtime/apps/testdata/guest.wasm: it sends the event it
// got back with one chat.send.
func echoGuest(t testing.TB) []byte {
	t.Helper()
	wasm, err := os.ReadFile("../apps/testdata/guest.wasm")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err = wasmfile.EmbedManifest(wasm, &host.Manifest{ABI: host.ABIVersion, ID: "echo", Name: "Echo", Version: "1",
		Permissions: []host.Permission{host.PermChat}})
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// echoNode is a router over a real store that commits every event, with
// recording as mode says: "off", "commit" (the record is written in the
// event's commit) or "async" (queued after the commit, written in
// batches).
type echoNode struct {
	router *apps.Router
	store  *replay.Store
	out    *outbox
}

func newEchoNode(t testing.TB, mode string, noSync bool) *echoNode {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "p.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: noSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := registry.Open(db, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	retention := 24 * time.Hour
	if mode == "off" {
		retention = 0
	}
	n := &echoNode{out: &outbox{}}
	if n.store, err = replay.Open(db, replay.Config{Retention: retention, Async: mode == "async",
		Errors: func(err error) { t.Error(err) }}); err != nil {
		t.Fatal(err)
	}
	eng, err := sandbox.New(ctx, sandbox.Config{Funcs: []host.Func{chatSendRaw()}, PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if n.router, err = apps.New(ctx, apps.Config{Registry: reg, Engine: eng, Identity: pseudonyms{}, Outbox: n.out,
		Commit: bolt.NewCommitter(db, bolt.Config{}), Recordings: n.store}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.router.Close(ctx)
		n.store.Close()
		eng.Close(ctx)
	})
	if _, _, err := n.router.Upload(ctx, "m1", "m1", "echo", echoGuest(t)); err != nil {
		t.Fatal(err)
	}
	return n
}

// chatSendRaw answers every chat.send and emits nothing: the guest's
// request is an event, not a message.
func chatSendRaw() host.Func {
	return host.Func{Op: "chat.send", Permission: host.PermChat,
		Handle: func(context.Context, *host.Call, []byte) ([]byte, error) { return []byte(`{"id":"m1"}`), nil }}
}

func (n *echoNode) say(t testing.TB, i int) {
	err := n.router.Deliver(context.Background(), "echo", host.AppEvent{Person: fmt.Sprintf("p%d", i%50), Conversation: "c1",
		Event: host.Event{Type: host.EventMessage, Text: fmt.Sprintf("message %d", i)}})
	if err != nil {
		t.Fatal(err)
	}
}

// Asynchronous recording keeps every committed event once the store
// closes, and a replay of them finds them the same.
func TestAsyncRecording(t *testing.T) {
	n := newEchoNode(t, "async", true)
	for i := range 300 {
		n.say(t, i)
	}
	n.store.Close()
	recs, err := n.store.Events("m1", "echo", replay.Query{})
	if err != nil || len(recs) != 300 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	rep, err := n.router.Replay(context.Background(), "echo", "1", replay.Query{Last: 300}, nil)
	if err != nil || rep.Same != 300 {
		t.Fatalf("replay: %+v, %v", rep, err)
	}
	n.say(t, 300) // after Close: written at once
	if recs, _ := n.store.Events("m1", "echo", replay.Query{}); len(recs) != 301 {
		t.Fatalf("%d records after a write past Close", len(recs))
	}
}

// BenchmarkRecording measures an echo round trip through the router on a
// real store (pick the version, run the guest's one chat.send, commit)
// without recording, with the record written in the event's commit, and
// with it queued after the commit and written in batches; sync=off skips
// the store's fsync.
func BenchmarkRecording(b *testing.B) {
	for _, sync := range []string{"on", "off"} {
		for _, mode := range []string{"off", "commit", "async"} {
			b.Run("sync="+sync+"/record="+mode, func(b *testing.B) {
				n := newEchoNode(b, mode, sync == "off")
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					n.say(b, i)
					i++
				}
				b.StopTimer()
				n.store.Close()
			})
		}
	}
}

// BenchmarkReplay measures the replay of 1000 recorded echo events
// against their version (loaded for the replay): events per second.
func BenchmarkReplay(b *testing.B) {
	n := newEchoNode(b, "commit", true)
	for i := range 1000 {
		n.say(b, i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		rep, err := n.router.Replay(ctx, "echo", "1", replay.Query{}, nil)
		if err != nil || rep.Same != 1000 {
			b.Fatalf("replay: %d same, %v", rep.Same, err)
		}
		events += len(rep.Events)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
