package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host/identity"
)

func TestTokenCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tokenFor := func(t *testing.T, args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(ctx, append([]string{"token", "--data", dir}, args...), &out, &errb); code != 0 {
			t.Fatalf("token %v: exit %d: %s", args, code, errb.String())
		}
		return strings.TrimSpace(out.String()), errb.String()
	}
	verify := func(t *testing.T, tok string) (string, string) {
		t.Helper()
		db, err := openStore(dir, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ids, err := identity.Open(db, identity.Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		sub, role, err := ids.Verify(tok)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		return sub, role
	}
	for _, tc := range []struct {
		name     string
		args     []string
		role     string
		sub      string // "" for a generated person id
		stateMsg string
	}{
		{"new person", []string{"person", "alice", "--surface", "web", "--ttl", "1h"}, "person", "", "created"},
		{"same person", []string{"person", "alice"}, "person", "", "existing"},
		{"merchant", []string{"merchant", "acme"}, "merchant", "acme", "created"},
		{"operator", []string{"operator", "ops"}, "operator", "ops", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, msg := tokenFor(t, tc.args...)
			sub, role := verify(t, tok)
			if role != tc.role || (tc.sub != "" && sub != tc.sub) || !strings.Contains(msg, tc.stateMsg) {
				t.Fatalf("subject %q role %q msg %q", sub, role, msg)
			}
		})
	}
	// The same surface account maps to the same person.
	a, _ := tokenFor(t, "person", "alice")
	b, _ := tokenFor(t, "person", "alice")
	if sa, _ := verify(t, a); sa != func() string { s, _ := verify(t, b); return s }() {
		t.Fatal("two tokens for alice name different people")
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"unknown kind", []string{"token", "--data", dir, "robot", "x"}, 2},
		{"missing name", []string{"token", "--data", dir, "person"}, 2},
		{"bad merchant id", []string{"token", "--data", dir, "merchant", "Not Valid"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(ctx, tc.args, &out, &errb); code != tc.code || out.Len() != 0 {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %q", code, tc.code, out.String(), errb.String())
			}
		})
	}

	// While another process (here: another handle) holds the store, the
	// command fails with a clear message instead of hanging.
	db, err := openStore(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"token", "--data", dir, "person", "bob"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "locked") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}
