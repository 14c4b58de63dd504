package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/gateway/api"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/replay"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// replayServer is publishServer with recordings kept and events committed.
func replayServer(t *testing.T) (*httptest.Server, *apps.Router, *replay.Store) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "p.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := registry.Open(db, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := replay.Open(db, replay.Config{Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	chat := host.Func{Op: "chat.send", Permission: host.PermChat,
		Handle: func(context.Context, *host.Call, []byte) ([]byte, error) { return []byte(`{"id":"m1"}`), nil }}
	eng, err := sandbox.New(ctx, sandbox.Config{Funcs: []host.Func{chat}})
	if err != nil {
		t.Fatal(err)
	}
	router, err := apps.New(ctx, apps.Config{Registry: reg, Engine: eng, Identity: publishIDs{}, Outbox: publishOutbox{},
		Commit: bolt.NewCommitter(db, bolt.Config{}), Recordings: recs})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Auth: publishTokens{}, Apps: router, TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
		router.Close(ctx)
		eng.Close(ctx)
	})
	return srv, router, recs
}

// guestVariant writes runtime/apps/testdata/guest.wasm (see guest.wat)
// with the byte the guest tests for changed from `from` to `to`: the
// guest traps on '!' and returns status 7 without sending on '?'; testing
// for '"' instead makes it do so on every event.
func guestVariant(t *testing.T, dir, version string, from, to byte) string {
	t.Helper()
	wasm, err := os.ReadFile("../../runtime/apps/testdata/guest.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if from != to {
		old := []byte{0x41, from} // i32.const from
		if bytes.Count(wasm, old) != 1 {
			t.Fatalf("guest.wasm has %d i32.const %d; update the test", bytes.Count(wasm, old), from)
		}
		wasm = bytes.Replace(wasm, old, []byte{0x41, to}, 1)
	}
	wasm, err = wasmfile.EmbedManifest(wasm, &host.Manifest{ABI: "passerelle_v1", ID: "shop", Name: "Shop", Version: version,
		Permissions: []host.Permission{host.PermChat}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "shop-"+version+".wasm")
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// app replay prints the report; app promote --replay-last refuses a
// version that traps on recorded events, and one that diverges unless
// the operation is accepted.
func TestAppReplayCommands(t *testing.T) {
	srv, router, recs := replayServer(t)
	dir := t.TempDir()
	t.Setenv("PASSERELLE_SERVER", srv.URL)
	t.Setenv("PASSERELLE_TOKEN", "tok-m1")
	cli := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		return out.String() + errb.String(), code
	}
	if out, code := cli("app", "upload", guestVariant(t, dir, "1", '!', '!')); code != 0 {
		t.Fatalf("upload: %s", out)
	}
	for _, text := range []string{"one", "two", "three"} {
		err := router.Deliver(context.Background(), "shop", host.AppEvent{Person: "p1", Conversation: "c1",
			Event: host.Event{Type: host.EventMessage, Text: text}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := recs.Events("m1", "shop", replay.Query{}); len(got) != 3 {
		t.Fatalf("%d events recorded", len(got))
	}
	for _, v := range []struct {
		version  string
		from, to byte
	}{{"2", '?', '"'}, {"3", '!', '"'}} {
		if out, code := cli("app", "upload", guestVariant(t, dir, v.version, v.from, v.to)); code != 0 {
			t.Fatalf("upload %s: %s", v.version, out)
		}
	}

	out, code := cli("app", "replay", "shop", "--version", "1")
	if code != 0 || !strings.Contains(out, "3 events against 1: 3 same, 0 diverged (0 accepted), 0 trapped") {
		t.Fatalf("replay of the same version (%d):\n%s", code, out)
	}
	out, code = cli("app", "replay", "shop", "--version", "2", "--last", "2")
	if code != 0 || !strings.Contains(out, "2 events against 2: 0 same, 2 diverged") ||
		!strings.Contains(out, "diverged at call 0 (chat.send)") || !strings.Contains(out, "recorded  chat.send {") ||
		!strings.Contains(out, "replayed  (no call)") || !strings.Contains(out, "would be refused") {
		t.Fatalf("replay of a diverging version (%d):\n%s", code, out)
	}
	out, code = cli("app", "replay", "shop", "--version", "2", "--json", "--session", "c9")
	var rep replay.Report
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Events) != 0 {
		t.Fatalf("replay of another conversation (%d):\n%s", code, out)
	}

	// On this machine, against module files: the server sends the records only.
	out, code = cli("app", "replay", "shop", "--wasm", guestVariant(t, dir, "1", '!', '!'))
	if code != 0 || !strings.Contains(out, "3 events against 1: 3 same") {
		t.Fatalf("local replay of the same module (%d):\n%s", code, out)
	}
	out, code = cli("app", "replay", "shop", "--wasm", guestVariant(t, dir, "4", '!', '"'), "--session", "c1", "--last", "2")
	if code != 0 || !strings.Contains(out, "2 events against 4: 0 same, 0 diverged (0 accepted), 2 trapped") {
		t.Fatalf("local replay of a trapping module (%d):\n%s", code, out)
	}
	if out, code = cli("app", "replay", "shop", "--wasm", filepath.Join(dir, "none.wasm")); code != 1 {
		t.Fatalf("local replay of a missing file (%d):\n%s", code, out)
	}

	out, code = cli("app", "promote", "shop", "3", "--replay-last", "1000", "--accept", "chat.send")
	if code != 1 || !strings.Contains(out, "replay_refused") || !strings.Contains(out, "trapped: ") {
		t.Fatalf("promote of a trapping version (%d):\n%s", code, out)
	}
	out, code = cli("app", "promote", "shop", "2", "--replay-last", "1000")
	if code != 1 || !strings.Contains(out, "replay_refused") {
		t.Fatalf("promote of a diverging version (%d):\n%s", code, out)
	}
	if a, _ := router.Registry().App("shop"); a.Live != "1" {
		t.Fatalf("live %s after refusals", a.Live)
	}
	out, code = cli("app", "promote", "shop", "2", "--replay-last", "1000", "--accept", "chat.send,on_event")
	if code != 0 || !strings.Contains(out, "shop: live 2") {
		t.Fatalf("promote with the divergence accepted (%d):\n%s", code, out)
	}
	for _, bad := range [][]string{{"--from", "yesterday"}, {"--last", "-1"}} {
		out, code = cli(append([]string{"app", "replay", "shop", "--version", "1"}, bad...)...)
		if code != 1 || !strings.Contains(out, "bad_request") {
			t.Fatalf("replay %v (%d):\n%s", bad, code, out)
		}
	}
	if out, code = cli("app", "replay", "shop"); code != 2 || !strings.Contains(out, "--version") {
		t.Fatalf("replay without a version (%d):\n%s", code, out)
	}
}

// person forget removes a person's recorded events from the data
// directory; person revoke redacts their profile answers.
func TestPersonForgetAndRevoke(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := openStore(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(db, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wasm, _ := os.ReadFile(guestVariant(t, t.TempDir(), "1", '!', '!'))
	if _, _, err := reg.Add("m1", "m1", host.Manifest{ABI: "passerelle_v1", ID: "shop", Name: "Shop", Version: "1"}, wasm); err != nil {
		t.Fatal(err)
	}
	ids, err := identity.Open(db, identity.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ann, _, err := ids.EnsurePerson(ctx, identity.Account{Surface: "web", External: "ann"}, "Ann")
	if err != nil {
		t.Fatal(err)
	}
	if err := ids.GrantScopes(ctx, ann.ID, host.AppRef{Merchant: "m1", App: "shop"}, []identity.Scope{identity.ScopeProfile}, "web"); err != nil {
		t.Fatal(err)
	}
	recs, _ := replay.Open(db, replay.Config{Retention: time.Hour})
	profile := replay.Call{Op: replay.ProfileOp, Request: json.RawMessage(`{}`), Response: json.RawMessage(`{"name":"Ann"}`)}
	for i, person := range []string{ann.ID, ann.ID, "p-bob"} {
		r := &replay.Record{Merchant: "m1", App: "shop", Version: "1", Event: fmt.Sprint("e", i), Person: person,
			Clock: time.Now(), Seed: 1, Payload: json.RawMessage(`{}`), Calls: []replay.Call{profile}}
		if err := recs.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	cli := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := run(ctx, args, &out, &errb)
		return out.String() + errb.String(), code
	}
	if out, code := cli("person", "revoke", ann.ID, "shop", "identity.profile", "--data", dir); code != 0 || !strings.Contains(out, "2 recorded events redacted") {
		t.Fatalf("person revoke (%d): %s", code, out)
	}
	if out, code := cli("person", "forget", ann.ID, "--data", dir); code != 0 || !strings.Contains(out, "removed 2 recorded events") {
		t.Fatalf("person forget (%d): %s", code, out)
	}
	if out, code := cli("person", "forget", "--data", dir); code != 2 {
		t.Fatalf("person forget without a person (%d): %s", code, out)
	}
	db, err = openStore(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs, _ = replay.Open(db, replay.Config{})
	left, _ := recs.Events("m1", "shop", replay.Query{})
	if len(left) != 1 || left[0].Person != "p-bob" || string(left[0].Calls[0].Response) != `{"name":"Ann"}` {
		t.Fatalf("left %+v", left)
	}
	if ids, err = identity.Open(db, identity.Config{}); err != nil {
		t.Fatal(err)
	}
	g, _ := ids.Grants(ctx, ann.ID)
	if len(g) != 1 || g[0].Active() {
		t.Fatalf("grants %+v", g)
	}
}
