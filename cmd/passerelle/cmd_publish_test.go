package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/api"
	"github.com/passerelle/passerelle/gateway/msgstate"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

type publishTokens struct{}

func (publishTokens) Verify(token string) (string, string, error) {
	switch token {
	case "tok-m1":
		return "m1", "merchant", nil
	case "tok-person":
		return "p1", "person", nil
	}
	return "", "", errors.New("signature invalid")
}

type publishOutbox struct{}

func (publishOutbox) Emit(context.Context, host.Outgoing) error { return nil }

type publishIDs struct{}

func (publishIDs) OpenID(_ host.AppRef, person string) string { return "o-" + person }

// publishServer runs the real /v1 API over a real store and engine.
func publishServer(t *testing.T) (*httptest.Server, *apps.Router) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "p.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := registry.Open(db, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	chat := host.Func{Op: "chat.send", Permission: host.PermChat,
		Handle: func(context.Context, *host.Call, []byte) ([]byte, error) { return []byte(`{}`), nil }}
	eng, err := sandbox.New(ctx, sandbox.Config{Funcs: []host.Func{chat}, AppLog: apps.LogSink{Registry: reg}})
	if err != nil {
		t.Fatal(err)
	}
	router, err := apps.New(ctx, apps.Config{Registry: reg, Engine: eng, Identity: publishIDs{}, Outbox: publishOutbox{}})
	if err != nil {
		t.Fatal(err)
	}
	// What became of two of shop's messages on WhatsApp: one read, one
	// refused outside the window.
	states, err := msgstate.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(states.Close)
	for _, mv := range []msgstate.Move{
		{Message: "msg_1", App: "shop", Surface: "whatsapp", State: host.StateRead, At: time.Now()},
		{Message: "msg_2", App: "shop", Surface: "whatsapp", State: host.StateFailed, Code: "window_closed", NetworkCode: 131047, At: time.Now()},
	} {
		if _, err := states.Record(ctx, mv, nil); err != nil {
			t.Fatal(err)
		}
	}
	h, err := api.New(api.Config{Auth: publishTokens{}, Apps: router, TempDir: dir, Heartbeat: 20 * time.Millisecond, Messages: states})
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
	return srv, router
}

func publishModule(t *testing.T, dir, id, version string, perms ...host.Permission) string {
	t.Helper()
	wasm, err := os.ReadFile("../../runtime/apps/testdata/guest.wasm")
	if err != nil {
		t.Fatal(err)
	}
	out, err := wasmfile.EmbedManifest(wasm, &host.Manifest{ABI: "passerelle_v1", ID: id, Name: "App " + id, Version: version, Permissions: perms})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, id+"-"+version+".wasm")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncBuffer is a bytes.Buffer safe to read while a command writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPublishCommands(t *testing.T) {
	srv, router := publishServer(t)
	dir := t.TempDir()
	v1 := publishModule(t, dir, "shop", "1", host.PermChat)
	v2 := publishModule(t, dir, "shop", "2", host.PermChat)
	noPerm := publishModule(t, dir, "shop", "3")
	notWasm := filepath.Join(dir, "x.wasm")
	os.WriteFile(notWasm, []byte("hello"), 0o644)
	t.Setenv("PASSERELLE_SERVER", srv.URL)
	t.Setenv("PASSERELLE_TOKEN", "tok-m1")

	tests := []struct {
		name   string
		args   []string
		before func()
		code   int
		stdout []string // substrings
		stderr []string
	}{
		{"upload first", []string{"app", "upload", v1}, nil, 0, []string{"uploaded shop 1", "shop: live 1"}, nil},
		{"upload second, flags after the file", []string{"app", "upload", v2, "--server", srv.URL, "--token", "tok-m1"}, nil, 0,
			[]string{"uploaded shop 2", "passerelle app promote shop 2 --percent 10"}, nil},
		{"rejected upload lists violations", []string{"app", "upload", noPerm}, nil, 1, nil,
			[]string{"module_rejected", "\n  [import.permission]", "fix:"}},
		{"not a module", []string{"app", "upload", notWasm}, nil, 1, nil, []string{"not a WebAssembly module"}},
		{"person token", []string{"app", "versions", "shop", "--token", "tok-person"}, nil, 1, nil, []string{"merchant_only:"}},
		{"no token", []string{"app", "list", "--token", ""}, func() { t.Setenv("PASSERELLE_TOKEN", "") }, 2, nil, []string{"PASSERELLE_TOKEN"}},
		{"list", []string{"app", "list"}, func() { t.Setenv("PASSERELLE_TOKEN", "tok-m1") }, 0, []string{"shop", "App shop"}, nil},
		{"gray release", []string{"app", "promote", "shop", "2", "--percent", "10"}, nil, 0, []string{"shop: live 1, candidate 2 at 10%"}, nil},
		{"versions", []string{"app", "versions", "shop"}, nil, 0, []string{"live 90%", "candidate 10%"}, nil},
		{"promote unknown", []string{"app", "promote", "shop", "9"}, nil, 1, nil, []string{"version_not_found:"}},
		{"stats", []string{"app", "stats", "shop"}, func() {
			router.Deliver(context.Background(), "shop", host.AppEvent{Person: "p", Conversation: "c",
				Event: host.Event{ID: "ev-9", Type: host.EventMessage, Text: "boom!"}})
		}, 0, []string{"VERSION", "trap=1", "SURFACE", "DELIVERY", "whatsapp  2     1          1     1       50.0%     50.0%      window_closed=1"}, nil},
		{"logs", []string{"app", "logs", "shop"}, nil, 0, []string{"failure", "guest trapped", "(event message ev-9, trap)"}, nil},
		{"rollback drops the candidate", []string{"app", "rollback", "shop"}, nil, 0, []string{"shop: live 1\n"}, nil},
		{"rollback to a version", []string{"app", "rollback", "shop", "2"}, nil, 0, []string{"shop: live 2\n"}, nil},
		{"usage", []string{"app", "promote", "shop"}, nil, 2, nil, []string{"usage: passerelle app promote APP VERSION"}},
		{"bad server", []string{"app", "list", "--server", "ftp://x"}, nil, 2, nil, []string{"not an http(s) URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout.String(), stderr.String())
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
		})
	}

	t.Run("logs follow", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stdout, stderr syncBuffer
		done := make(chan int)
		go func() { done <- run(ctx, []string{"app", "logs", "shop", "--follow", "-n", "1"}, &stdout, &stderr) }()
		waitFor := func(s string) {
			t.Helper()
			for range 500 {
				if strings.Contains(stdout.String(), s) {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Fatalf("no %q in %q", s, stdout.String())
		}
		waitFor("ev-9")
		router.Deliver(context.Background(), "shop", host.AppEvent{Person: "p", Conversation: "c",
			Event: host.Event{ID: "ev-10", Type: host.EventMessage, Text: "boom!"}})
		waitFor("ev-10")
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	})
}

// moduleAppID reads files from disk before upload: it must never panic or
// loop on a malformed module.
func FuzzModuleAppID(f *testing.F) {
	wasm, err := os.ReadFile("../../runtime/apps/testdata/guest.wasm")
	if err != nil {
		f.Fatal(err)
	}
	good, err := wasmfile.EmbedManifest(wasm, &host.Manifest{ABI: "passerelle_v1", ID: "shop", Name: "Shop", Version: "1"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(wasm)
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x00\xff\xff\xff\xff\x0f"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := moduleAppID(bytes.NewReader(data))
		if err == nil && id == "" {
			t.Fatal("no error and no id")
		}
		if m, merr := wasmfile.ReadManifest(data); merr == nil && m.ID != "" && err == nil && id != m.ID {
			t.Fatalf("moduleAppID %q, wasmfile %q", id, m.ID)
		}
	})
}
