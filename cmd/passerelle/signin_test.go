package main

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
)

// TestServeHasNoDemoSignIn checks that a server started as serve starts it
// offers no password-free sign-in: only the demo sets DemoSignIn.
func TestServeHasNoDemoSignIn(t *testing.T) {
	p := testPlatform(t)
	for _, m := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(m, p.url()+"/signin/demo", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("%s /signin/demo on a served platform: %s", m, resp.Status)
		}
	}
	resp, err := http.Get(p.url() + "/session")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /session without a token: %s", resp.Status)
	}
}

// testPlatform starts a platform as serve does, on a free port and a fresh
// data directory, closed when t ends.
func testPlatform(t *testing.T) *platform {
	t.Helper()
	cfg := defaultConfig()
	cfg.Addr, cfg.Data = "127.0.0.1:0", t.TempDir()
	p, err := startPlatform(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.close(context.Background()) })
	return p
}
