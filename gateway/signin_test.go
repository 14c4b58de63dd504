package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/gateway"
)

// demoPeople signs in as alice or bob, with the test's tokens.
type demoPeople struct{}

func (demoPeople) People(context.Context) ([]gateway.DemoPerson, error) {
	return []gateway.DemoPerson{{ID: "alice", Name: "Alice", Surface: "web"}, {ID: "bob", Name: "Bob", Surface: "whatsapp"}}, nil
}

func (demoPeople) Token(_ context.Context, person string) (string, error) {
	if person != "alice" && person != "bob" {
		return "", gateway.ErrNotFound
	}
	return "tok-" + person, nil
}

func withDemoSignIn(c *gateway.Config) { c.DemoSignIn = demoPeople{} }

func call(t *testing.T, method, url, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSession(t *testing.T) {
	e := newEnv(t, nil)
	cases := []struct {
		name, token string
		status      int
		body        string
	}{
		{"a person", "tok-alice", 200, `{"name":"Alice","person":"alice"}`},
		{"no token", "", 401, "no token"},
		{"a refused token", "expired", 401, "the token was refused (signature invalid); sign in again"},
		{"not a person", "merchant-bistro", 403, "cannot chat"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := call(t, "GET", e.http.URL+"/session", tc.token, "")
			if status != tc.status || !strings.Contains(body, tc.body) {
				t.Fatalf("%d %s, want %d with %q", status, body, tc.status, tc.body)
			}
		})
	}
}

func TestDemoSignIn(t *testing.T) {
	t.Run("off unless configured", func(t *testing.T) {
		e := newEnv(t, nil)
		for _, m := range []string{"GET", "POST"} {
			if status, body := call(t, m, e.http.URL+"/signin/demo", "", `{"person":"alice"}`); status != 404 && status != 405 || strings.Contains(body, "tok-") {
				t.Fatalf("%s /signin/demo without DemoSignIn: %d %s", m, status, body)
			}
		}
	})
	e := newEnv(t, withDemoSignIn)
	status, body := call(t, "GET", e.http.URL+"/signin/demo", "", "")
	var list struct{ People []gateway.DemoPerson }
	if err := json.Unmarshal([]byte(body), &list); status != 200 || err != nil || len(list.People) != 2 || list.People[1].Surface != "whatsapp" {
		t.Fatalf("GET /signin/demo: %d %s", status, body)
	}
	cases := []struct {
		name, body string
		status     int
		want       string
	}{
		{"a demo person", `{"person":"bob"}`, 200, `{"token":"tok-bob"}`},
		{"someone else", `{"person":"carol"}`, 404, "not one of the demo's people"},
		{"no person", `{}`, 400, "with one of the ids"},
		{"not JSON", `person=alice`, 400, "GET /signin/demo lists"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := call(t, "POST", e.http.URL+"/signin/demo", "", tc.body)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s, want %d with %q", status, body, tc.status, tc.want)
			}
		})
	}
}

func TestWalletHistory(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.connect("alice", "web", nil)
	f := alice.request(map[string]any{"type": "payments", "id": "w1", "limit": 2})
	b, _ := json.Marshal(f["payments"])
	want := `[{"amount":250,"currency":"EUR","time":1764072000000,"title":"Refund: Tomato soup · Green Bowl"},` +
		`{"amount":-1200,"currency":"EUR","state":"partly refunded","time":1764071000000,"title":"Tomato soup · Green Bowl"}]`
	if f["type"] != "payments" || string(b) != want {
		t.Fatalf("payments answer %v", f)
	}
	t.Run("unavailable without a history", func(t *testing.T) {
		e := newEnv(t, func(c *gateway.Config) { c.Payments = balancesOnly{} })
		alice, _ := e.connect("alice", "web", nil)
		if f := alice.request(map[string]any{"type": "payments", "id": "w2"}); f["code"] != "unavailable" {
			t.Fatalf("got %v", f)
		}
	})
}

// balancesOnly is a gateway.Payments without a wallet history.
type balancesOnly struct{}

func (balancesOnly) Confirm(context.Context, string, string) error { return nil }
func (balancesOnly) Decline(context.Context, string, string) error { return nil }
func (balancesOnly) Balances(context.Context, string) (map[string]int64, error) {
	return map[string]int64{}, nil
}
