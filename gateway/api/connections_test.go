package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/api"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/connstore"
)

// connEnv is newEnv's API with a connection store, under a public URL.
type connEnv struct {
	*env
	conns *connstore.Store
}

func newConnEnv(t *testing.T, keyed bool) *connEnv {
	t.Helper()
	e := newEnv(t, 0)
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "conns.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := connstore.Config{}
	if keyed {
		if cfg.Keys, err = connstore.ParseKeyring(connstore.GenerateKey()); err != nil {
			t.Fatal(err)
		}
	}
	conns, err := connstore.Open(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Auth: tokens{}, Apps: e.router, Connections: conns, PublicURL: "https://chat.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return &connEnv{env: e, conns: conns}
}

type connBody struct {
	Connection api.ConnectionView   `json:"connection"`
	Created    bool                 `json:"created"`
	List       []api.ConnectionView `json:"connections"`
}

// The secrets of these tests; no answer may hold any of them.
var testSecrets = []string{"EAAGtokenONE", "appsecretONE", "verifyONE", "EAAGtokenTWO", "appsecretTWO", "verifyTWO"}

func (e *connEnv) call(t *testing.T, method, path, token string, body any, wantStatus int) connBody {
	t.Helper()
	resp, data := e.do(t, method, path, token, body)
	for _, s := range testSecrets {
		if bytes.Contains(data, []byte(s)) {
			t.Fatalf("%s %s answered a secret (%s): %s", method, path, s, data)
		}
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, data, wantStatus)
	}
	var out connBody
	json.Unmarshal(data, &out)
	return out
}

func waRequest(app, account, n string) map[string]any {
	return map[string]any{"network": "whatsapp", "account": account, "app": app,
		"secrets": map[string]string{"access_token": "EAAGtoken" + n, "app_secret": "appsecret" + n, "verify_token": "verify" + n}}
}

func TestConnectionsFlow(t *testing.T) {
	ctx := context.Background()
	e := newConnEnv(t, true)
	e.upload(t, "tok-m1", "lunch", "1")
	e.upload(t, "tok-m1", "shop", "1")

	got := e.call(t, "POST", "/v1/connections", "tok-m1", waRequest("lunch", "106540352242922", "ONE"), http.StatusCreated)
	c := got.Connection
	if !got.Created || c.ID == "" || c.Network != "whatsapp" || c.Account != "106540352242922" || c.App != "lunch" || c.Merchant != "m1" {
		t.Fatalf("created: %+v", got)
	}
	if c.WebhookURL != "https://chat.example.com/webhooks/whatsapp/"+c.ID {
		t.Errorf("webhook URL %q", c.WebhookURL)
	}
	if s := c.Secrets; !s.AccessToken.Set || !s.AppSecret.Set || !s.VerifyToken.Set || s.AppSecret.Rotated.IsZero() {
		t.Errorf("secrets shown: %+v", s)
	}

	list := e.call(t, "GET", "/v1/connections", "tok-m1", nil, http.StatusOK).List
	if len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("list: %+v", list)
	}
	if e.call(t, "GET", "/v1/connections/"+c.ID, "tok-m1", nil, http.StatusOK).Connection.ID != c.ID {
		t.Fatal("show")
	}

	// Connecting the same account again replaces it under the same id.
	again := e.call(t, "POST", "/v1/connections", "tok-m1", waRequest("shop", "106540352242922", "ONE"), http.StatusOK)
	if again.Created || again.Connection.ID != c.ID || again.Connection.App != "shop" {
		t.Fatalf("replaced: %+v", again)
	}

	e.call(t, "PATCH", "/v1/connections/"+c.ID, "tok-m1", map[string]any{"secrets": map[string]string{"app_secret": "appsecretTWO"}}, http.StatusOK)
	e.call(t, "POST", "/v1/connections/"+c.ID+"/rotate", "tok-m1", map[string]any{"secrets": map[string]string{"access_token": "EAAGtokenTWO"}}, http.StatusOK)
	stored, err := e.conns.Get(ctx, c.ID)
	if err != nil || stored.Secrets != (connector.Secrets{AccessToken: "EAAGtokenTWO", AppSecret: "appsecretTWO", VerifyToken: "verifyONE"}) {
		t.Fatalf("after rotations: %+v, %v", stored.Secrets, err)
	}

	e.call(t, "DELETE", "/v1/connections/"+c.ID, "tok-m1", nil, http.StatusOK)
	e.call(t, "GET", "/v1/connections/"+c.ID, "tok-m1", nil, http.StatusNotFound)
	if list := e.call(t, "GET", "/v1/connections", "tok-m1", nil, http.StatusOK).List; list == nil || len(list) != 0 {
		t.Fatalf("list after delete: %+v (want an empty list, not null)", list)
	}
}

func TestConnectionsRefusals(t *testing.T) {
	e := newConnEnv(t, true)
	e.upload(t, "tok-m1", "lunch", "1")
	e.upload(t, "tok-m2", "rival", "1")
	mine := e.call(t, "POST", "/v1/connections", "tok-m1", waRequest("lunch", "106540352242922", "ONE"), http.StatusCreated).Connection

	noSecret := waRequest("lunch", "123", "ONE")
	noSecret["secrets"] = map[string]string{"access_token": "EAAGtokenONE"}
	tests := []struct {
		name         string
		method, path string
		token        string
		body         any
		status       int
		code         string
		says         string
	}{
		{"another merchant's app", "POST", "/v1/connections", "tok-m1", waRequest("rival", "123", "ONE"), 404, api.CodeAppNotFound, "upload it first"},
		{"no app", "POST", "/v1/connections", "tok-m1", waRequest("", "123", "ONE"), 400, api.CodeBadRequest, "name the app"},
		{"unknown network", "POST", "/v1/connections", "tok-m1", map[string]any{"network": "sms", "account": "1", "app": "lunch"}, 400, api.CodeBadRequest, "not one of whatsapp"},
		{"missing app secret", "POST", "/v1/connections", "tok-m1", noSecret, 400, api.CodeBadRequest, "app_secret is empty"},
		{"unknown field", "POST", "/v1/connections", "tok-m1", map[string]any{"network": "whatsapp", "token": "x"}, 400, api.CodeBadRequest, "unknown field"},
		{"claiming another merchant's account", "POST", "/v1/connections", "tok-m2", waRequest("rival", "106540352242922", "TWO"), 409, api.CodeAccountTaken, "another merchant"},
		{"reading another merchant's", "GET", "/v1/connections/" + mine.ID, "tok-m2", nil, 404, api.CodeConnectionNotFound, ""},
		{"rotating another merchant's", "PATCH", "/v1/connections/" + mine.ID, "tok-m2", map[string]any{"secrets": map[string]string{"app_secret": "appsecretTWO"}}, 404, api.CodeConnectionNotFound, ""},
		{"deleting another merchant's", "DELETE", "/v1/connections/" + mine.ID, "tok-m2", nil, 404, api.CodeConnectionNotFound, ""},
		{"rotating nothing", "POST", "/v1/connections/" + mine.ID + "/rotate", "tok-m1", map[string]any{"secrets": map[string]string{}}, 400, api.CodeBadRequest, "at least one secret"},
		{"a person", "GET", "/v1/connections", "tok-person", nil, 403, api.CodeMerchantOnly, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := e.do(t, tt.method, tt.path, tt.token, tt.body)
			if resp.StatusCode != tt.status || code(data) != tt.code || !strings.Contains(string(data), tt.says) {
				t.Fatalf("%d %s; want %d %s saying %q", resp.StatusCode, data, tt.status, tt.code, tt.says)
			}
			for _, s := range testSecrets {
				if strings.Contains(string(data), s) {
					t.Fatalf("the refusal quotes a secret: %s", data)
				}
			}
		})
	}
	if list := e.call(t, "GET", "/v1/connections", "tok-m2", nil, http.StatusOK).List; len(list) != 0 {
		t.Fatalf("m2 sees %+v", list)
	}
	if c, err := e.conns.Get(context.Background(), mine.ID); err != nil || c.Secrets.AppSecret != "appsecretONE" {
		t.Fatalf("the refusals changed m1's connection: %+v, %v", c, err)
	}
}

// A server without a secret key refuses to connect, saying what the
// operator must do, and stores nothing.
func TestConnectionsWithoutKey(t *testing.T) {
	e := newConnEnv(t, false)
	e.upload(t, "tok-m1", "lunch", "1")
	resp, data := e.do(t, "POST", "/v1/connections", "tok-m1", waRequest("lunch", "106540352242922", "ONE"))
	if resp.StatusCode != 503 || code(data) != api.CodeNoSecretKey || !strings.Contains(string(data), "passerelle secret-key") {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	if list, _ := e.conns.Infos(context.Background(), ""); len(list) != 0 {
		t.Fatalf("stored %+v", list)
	}
}
