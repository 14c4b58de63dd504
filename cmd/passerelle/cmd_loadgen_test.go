package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/loadgen"
)

// TestLoadgenThroughTheRealPlatform starts what 'loadgen serve' starts (the
// real platform with echo built by the Go toolchain) and loads it person to
// echo and back, and person to person.
func TestLoadgenThroughTheRealPlatform(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the echo app; skipped with -short")
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := startLoadgenServer(ctx, loadgenServer{Addr: "127.0.0.1:0", Data: t.TempDir() + "/data", Apps: "../../miniapps", People: 6, Pool: 2}, log, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.close(context.Background()) })
	logins, err := loadgen.ReadTokens(s.tokens)
	if err != nil {
		t.Fatal(err)
	}
	if len(logins) != 6 {
		t.Fatalf("%d tokens for 6 people", len(logins))
	}
	for _, mode := range []string{loadgen.ModeApp, loadgen.ModeP2P} {
		t.Run(mode, func(t *testing.T) {
			var out bytes.Buffer
			res, err := loadgen.Run(ctx, loadgen.Options{Addr: s.p.listener.Addr().String(), Logins: logins, Conns: 6,
				Duration: 400 * time.Millisecond, Mode: mode}, &out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if res.Sent == 0 || res.Acked != res.Sent || res.Delivered != res.Sent || res.ErrorFrames != 0 {
				t.Fatalf("sent %d acked %d delivered %d refused %d:\n%s", res.Sent, res.Acked, res.Delivered, res.ErrorFrames, out.String())
			}
		})
	}
}

func TestLoadgenCommandRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"run against another machine", []string{"loadgen", "run", "-addr", "10.0.0.1:80", "-secret", "k", "-conns", "2"}, "loopback"},
		{"run without tokens", []string{"loadgen", "run", "-addr", "127.0.0.1:1"}, "exactly one of -tokens"},
		{"run with tokens and secret", []string{"loadgen", "run", "-tokens", "x", "-secret", "k"}, "exactly one of -tokens"},
		{"serve on another address", []string{"loadgen", "serve", "-addr", "192.168.1.2:8087"}, "loopback"},
		{"profiles served to another machine", []string{"loadgen", "serve", "-addr", "127.0.0.1:0", "-pprof", "10.0.0.1:6060"}, "loopback"},
		{"serve too many people", []string{"loadgen", "serve", "-addr", "127.0.0.1:0", "-people", "1000000"}, "-people"},
		{"gateway-only without a secret", []string{"loadgen", "serve", "-gateway-only", "-db", "x"}, "-secret"},
		{"unknown mode", []string{"loadgen", "bench"}, "serve or run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant it to mention %q", code, stderr.String(), tc.want)
			}
		})
	}
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"loadgen"}, &stdout, &bytes.Buffer{}); code != 0 || !strings.Contains(stdout.String(), "passerelle loadgen run") {
		t.Fatalf("loadgen without a mode: exit %d\n%s", code, stdout.String())
	}
}
