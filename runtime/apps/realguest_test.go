package apps_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// goGuest is a mini-app written with the Go SDK; it answers every message.
const goGuest = `//go:build wasip1

package main

import passerelle "github.com/passerelle/passerelle/sdk/go"

func init() {
	app := passerelle.NewApp()
	app.OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendText("echo " + ev.Text + " to " + ev.User)
		return err
	})
	passerelle.Serve(app)
}

func main() {}
`

// buildGoGuest builds goGuest with the real toolchain in a temporary module
// that points at this repository's SDK.
func buildGoGuest(t *testing.T) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Go guest with the toolchain")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := "module guest\n\ngo 1.26\n\nrequire github.com/passerelle/passerelle/sdk/go v0.0.0\n\nreplace github.com/passerelle/passerelle/sdk/go => " + filepath.Join(repo, "sdk", "go") + "\n"
	sum, _ := os.ReadFile(filepath.Join(repo, "go.sum"))
	for name, data := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum, "main.go": []byte(goGuest)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "guest.wasm")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	wasm, err = wasmfile.EmbedManifest(wasm, &host.Manifest{ABI: "passerelle_v1", ID: "echo", Name: "Echo",
		Version: "1.0.0", Permissions: []host.Permission{host.PermChat}})
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// The router serves a real Go SDK app: upload, deliver, restart (from the
// compilation cache), deliver again.
func TestRealGoGuest(t *testing.T) {
	wasm := buildGoGuest(t)
	e := newEnv(t)
	ctx := context.Background()
	if _, _, err := e.router.Upload(ctx, "m1", "m1", "echo", wasm); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if round == 1 {
			e.stop(t)
			e.start(t)
		}
		err := e.router.Deliver(ctx, "echo", host.AppEvent{Person: "p-bob", Conversation: "c1", Surface: "web",
			Event: host.Event{Type: host.EventMessage, Text: "ping"}})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		outs := e.out.take()
		if len(outs) != 1 {
			t.Fatalf("round %d: %d messages", round, len(outs))
		}
		// The test's chat.send decodes the request as an event; the SDK's
		// request is a host.Message, whose "text" lands in Event.Text.
		var m sent
		json.Unmarshal([]byte(outs[0].Message.Text), &m)
		if !strings.Contains(m.Event.Text, "echo ping to openid-m1-echo-p-bob") {
			t.Fatalf("round %d: app said %s", round, outs[0].Message.Text)
		}
	}
}
