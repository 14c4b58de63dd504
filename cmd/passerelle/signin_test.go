package main

import (
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
