package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/api"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// tokens is a stand-in Authenticator: fixed tokens for two merchants and a person.
type tokens struct{}

func (tokens) Verify(token string) (string, string, error) {
	switch token {
	case "tok-m1":
		return "m1", "merchant", nil
	case "tok-m2":
		return "m2", "merchant", nil
	case "tok-person":
		return "p1", "person", nil
	}
	return "", "", errors.New("signature invalid")
}

type nobody struct{}

func (nobody) Emit(context.Context, host.Outgoing) error { return nil }

type pseudonyms struct{}

func (pseudonyms) OpenID(ref host.AppRef, person string) string { return "o-" + person }

type env struct {
	srv    *httptest.Server
	h      *api.Handler
	id     *identity.Service
	router *apps.Router
	reg    *registry.Registry
}

func newEnv(t testing.TB, maxUpload int64) *env { return newEnvWith(t, maxUpload, nil) }

// newEnvWith is newEnv with configure, when not nil, changing the API's
// Config.
func newEnvWith(t testing.TB, maxUpload int64, configure func(*api.Config)) *env {
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
	ids, err := identity.Open(db, identity.Config{})
	if err != nil {
		t.Fatal(err)
	}
	chat := host.Func{Op: "chat.send", Permission: host.PermChat,
		Handle: func(context.Context, *host.Call, []byte) ([]byte, error) { return []byte(`{}`), nil }}
	eng, err := sandbox.New(ctx, sandbox.Config{Funcs: []host.Func{chat}, AppLog: apps.LogSink{Registry: reg}})
	if err != nil {
		t.Fatal(err)
	}
	router, err := apps.New(ctx, apps.Config{Registry: reg, Engine: eng, Identity: pseudonyms{}, Outbox: nobody{}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{Auth: tokens{}, Apps: router, MaxUpload: maxUpload, TempDir: dir, Heartbeat: 50 * time.Millisecond}
	if configure != nil {
		configure(&cfg)
	}
	h, err := api.New(cfg)
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
	return &env{srv: srv, h: h, router: router, reg: reg, id: ids}
}

func module(t testing.TB, id, version string, perms ...host.Permission) []byte {
	t.Helper()
	wasm, err := os.ReadFile("../../runtime/apps/testdata/guest.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if perms == nil {
		perms = []host.Permission{host.PermChat}
	}
	out, err := wasmfile.EmbedManifest(wasm, &host.Manifest{ABI: "passerelle_v1", ID: id, Name: "App " + id,
		Version: version, Permissions: perms})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type errorBody struct {
	Error struct {
		Code       string          `json:"code"`
		Message    string          `json:"message"`
		Violations []api.Violation `json:"violations"`
	} `json:"error"`
}

// do sends a request; body may be nil, []byte or a value to encode as JSON.
func (e *env) do(t *testing.T, method, path, token string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func code(data []byte) string {
	var b errorBody
	json.Unmarshal(data, &b)
	return b.Error.Code
}

func (e *env) upload(t *testing.T, token, id, version string) {
	t.Helper()
	resp, data := e.do(t, "POST", "/v1/apps/"+id+"/versions", token, module(t, id, version))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload %s@%s: %d %s", id, version, resp.StatusCode, data)
	}
}

// Every endpoint refuses a missing or bad token, a person's token, and
// another merchant's token, and none of those refusals changes anything.
func TestEveryEndpointRefusesStrangers(t *testing.T) {
	e := newEnv(t, 0)
	e.upload(t, "tok-m1", "shop", "1")
	e.upload(t, "tok-m1", "shop", "2")
	endpoints := []struct {
		method, path string
		body         func() any
		otherCode    string // what another merchant gets
	}{
		{"POST", "/v1/apps/shop/versions", func() any { return module(t, "shop", "3") }, api.CodeAppIDTaken},
		{"GET", "/v1/apps", nil, ""},
		{"GET", "/v1/apps/shop/versions", nil, api.CodeAppNotFound},
		{"POST", "/v1/apps/shop/promote", func() any { return map[string]any{"version": "2", "percent": 50} }, api.CodeAppNotFound},
		{"POST", "/v1/apps/shop/rollback", func() any { return map[string]any{"version": "2"} }, api.CodeAppNotFound},
		{"GET", "/v1/apps/shop/logs", nil, api.CodeAppNotFound},
		{"GET", "/v1/apps/shop/logs?follow=1", nil, api.CodeAppNotFound},
		{"GET", "/v1/apps/shop/stats", nil, api.CodeAppNotFound},
		{"POST", "/v1/apps/shop/replay", func() any { return map[string]any{"version": "2"} }, api.CodeAppNotFound},
		{"GET", "/v1/apps/shop/recordings", nil, api.CodeAppNotFound},
		{"GET", "/v1/apps/shop/messages/msg_1", nil, api.CodeAppNotFound},
		{"POST", "/v1/apps/shop/promote", func() any { return map[string]any{"version": "2", "replay_last": 10} }, api.CodeAppNotFound},
	}
	callers := []struct {
		name   string
		token  string
		status int
		code   string
	}{
		{"no token", "", http.StatusUnauthorized, api.CodeUnauthorized},
		{"bad token", "forged", http.StatusUnauthorized, api.CodeUnauthorized},
		{"person token", "tok-person", http.StatusForbidden, api.CodeMerchantOnly},
		{"other merchant", "tok-m2", 0, ""},
	}
	for _, ep := range endpoints {
		for _, c := range callers {
			t.Run(ep.method+" "+ep.path+" "+c.name, func(t *testing.T) {
				var body any
				if ep.body != nil {
					body = ep.body()
				}
				resp, data := e.do(t, ep.method, ep.path, c.token, body)
				wantStatus, wantCode := c.status, c.code
				if c.token == "tok-m2" {
					if ep.otherCode == "" { // listing: allowed, but shows none of m1's apps
						if resp.StatusCode != http.StatusOK || strings.Contains(string(data), "shop") {
							t.Fatalf("other merchant's list: %d %s", resp.StatusCode, data)
						}
						return
					}
					wantCode = ep.otherCode
					wantStatus = map[string]int{api.CodeAppIDTaken: http.StatusConflict, api.CodeAppNotFound: http.StatusNotFound}[wantCode]
				}
				if resp.StatusCode != wantStatus || code(data) != wantCode {
					t.Fatalf("got %d %s, want %d %s", resp.StatusCode, data, wantStatus, wantCode)
				}
				if strings.Contains(string(data), `"sha256"`) || strings.Contains(string(data), `"live"`) {
					t.Fatalf("refusal leaks app data: %s", data)
				}
			})
		}
	}
	a, err := e.reg.App("shop")
	if err != nil || a.Live != "1" || a.Candidate != "" || len(a.Versions) != 2 {
		t.Fatalf("strangers changed the app: %+v %v", a, err)
	}
}

func TestPublishFlow(t *testing.T) {
	e := newEnv(t, 0)
	steps := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		check  func(t *testing.T, data []byte)
	}{
		{"first upload becomes live", "POST", "/v1/apps/shop/versions", module(t, "shop", "1.0.0"), 201, func(t *testing.T, data []byte) {
			var out struct {
				Version api.VersionView `json:"version"`
				App     registry.App    `json:"app"`
			}
			json.Unmarshal(data, &out)
			if !out.Version.Live || out.Version.Percent != 100 || out.App.Live != "1.0.0" || len(out.Version.SHA256) != 64 {
				t.Fatalf("%s", data)
			}
		}},
		{"second upload waits", "POST", "/v1/apps/shop/versions", module(t, "shop", "1.1.0"), 201, func(t *testing.T, data []byte) {
			var out struct {
				Version api.VersionView `json:"version"`
			}
			json.Unmarshal(data, &out)
			if out.Version.Live || out.Version.Candidate {
				t.Fatalf("%s", data)
			}
		}},
		{"gray release", "POST", "/v1/apps/shop/promote", map[string]any{"version": "1.1.0", "percent": 10}, 200, func(t *testing.T, data []byte) {
			var out struct{ App registry.App }
			json.Unmarshal(data, &out)
			if out.App.Live != "1.0.0" || out.App.Candidate != "1.1.0" || out.App.Percent != 10 {
				t.Fatalf("%s", data)
			}
		}},
		{"versions", "GET", "/v1/apps/shop/versions", nil, 200, func(t *testing.T, data []byte) {
			var out struct{ Versions []api.VersionView }
			json.Unmarshal(data, &out)
			if len(out.Versions) != 2 || !out.Versions[0].Live || out.Versions[0].Percent != 90 ||
				!out.Versions[1].Candidate || out.Versions[1].Percent != 10 {
				t.Fatalf("%s", data)
			}
		}},
		{"list", "GET", "/v1/apps", nil, 200, func(t *testing.T, data []byte) {
			var out struct{ Apps []registry.App }
			json.Unmarshal(data, &out)
			if len(out.Apps) != 1 || out.Apps[0].ID != "shop" {
				t.Fatalf("%s", data)
			}
		}},
		{"stats", "GET", "/v1/apps/shop/stats", nil, 200, func(t *testing.T, data []byte) {
			var out struct {
				Live, Candidate string
				Pools           map[string]sandbox.PoolStats
			}
			json.Unmarshal(data, &out)
			if out.Live != "1.0.0" || out.Candidate != "1.1.0" || len(out.Pools) != 2 {
				t.Fatalf("%s", data)
			}
		}},
		{"rollback drops the candidate", "POST", "/v1/apps/shop/rollback", nil, 200, func(t *testing.T, data []byte) {
			var out struct{ App registry.App }
			json.Unmarshal(data, &out)
			if out.App.Live != "1.0.0" || out.App.Candidate != "" {
				t.Fatalf("%s", data)
			}
		}},
		{"promote fully", "POST", "/v1/apps/shop/promote", map[string]any{"version": "1.1.0"}, 200, func(t *testing.T, data []byte) {
			var out struct{ App registry.App }
			json.Unmarshal(data, &out)
			if out.App.Live != "1.1.0" {
				t.Fatalf("%s", data)
			}
		}},
		{"rollback to a version", "POST", "/v1/apps/shop/rollback", map[string]any{"version": "1.0.0"}, 200, func(t *testing.T, data []byte) {
			var out struct{ App registry.App }
			json.Unmarshal(data, &out)
			if out.App.Live != "1.0.0" {
				t.Fatalf("%s", data)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			resp, data := e.do(t, s.method, s.path, "tok-m1", s.body)
			if resp.StatusCode != s.status {
				t.Fatalf("%d %s", resp.StatusCode, data)
			}
			s.check(t, data)
		})
	}
}

func TestRefusals(t *testing.T) {
	e := newEnv(t, 64<<10)
	e.upload(t, "tok-m1", "shop", "1")
	big := bytes.Repeat([]byte{0}, 65<<10)
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
		check  func(t *testing.T, b errorBody)
	}{
		{"too large with length", "POST", "/v1/apps/shop/versions", big, 413, api.CodeUploadTooLarge, nil},
		{"too large streamed", "POST", "/v1/apps/shop/versions", io.MultiReader(bytes.NewReader(big)), 413, api.CodeUploadTooLarge, nil},
		{"not wasm", "POST", "/v1/apps/shop/versions", []byte("hello"), 422, api.CodeModuleRejected, nil},
		{"empty", "POST", "/v1/apps/shop/versions", []byte{}, 422, api.CodeModuleRejected, nil},
		{"import without permission", "POST", "/v1/apps/shop/versions", module(t, "shop", "2", host.PermStorage), 422, api.CodeModuleRejected,
			func(t *testing.T, b errorBody) {
				found := false
				for _, v := range b.Error.Violations {
					found = found || v.Rule == "import.permission" && v.Fix != "" && strings.Contains(v.Where, "chat_send")
				}
				if !found {
					t.Fatalf("violations %+v", b.Error.Violations)
				}
			}},
		{"manifest names another app", "POST", "/v1/apps/shop/versions", module(t, "ride", "1"), 400, api.CodeAppIDMismatch, nil},
		{"same version", "POST", "/v1/apps/shop/versions", module(t, "shop", "1"), 409, api.CodeVersionExists, nil},
		{"promote unknown version", "POST", "/v1/apps/shop/promote", map[string]any{"version": "9"}, 404, api.CodeVersionNotFound, nil},
		{"promote without version", "POST", "/v1/apps/shop/promote", map[string]any{}, 400, api.CodeBadRequest, nil},
		{"promote live at 50", "POST", "/v1/apps/shop/promote", map[string]any{"version": "1", "percent": 50}, 409, api.CodeRolloutInvalid, nil},
		{"promote bad percent", "POST", "/v1/apps/shop/promote", map[string]any{"version": "1", "percent": 0}, 409, api.CodeRolloutInvalid, nil},
		{"promote bad json", "POST", "/v1/apps/shop/promote", []byte(`{"version":`), 400, api.CodeBadRequest, nil},
		{"promote unknown field", "POST", "/v1/apps/shop/promote", []byte(`{"versoin":"1"}`), 400, api.CodeBadRequest, nil},
		{"nothing to roll back", "POST", "/v1/apps/shop/rollback", nil, 409, api.CodeRolloutInvalid, nil},
		{"bad logs query", "GET", "/v1/apps/shop/logs?after=x", nil, 400, api.CodeBadRequest, nil},
		{"unknown app", "GET", "/v1/apps/nope/stats", nil, 404, api.CodeAppNotFound, nil},
		{"unknown endpoint", "GET", "/v1/nothing", nil, 404, api.CodeNoSuchEndpoint, nil},
		{"wrong method", "DELETE", "/v1/apps/shop/versions", nil, 404, api.CodeNoSuchEndpoint, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := e.do(t, tt.method, tt.path, "tok-m1", tt.body)
			var b errorBody
			if err := json.Unmarshal(data, &b); err != nil {
				t.Fatalf("body not JSON: %s", data)
			}
			if resp.StatusCode != tt.status || b.Error.Code != tt.code || b.Error.Message == "" {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, data, tt.status, tt.code)
			}
			if tt.check != nil {
				tt.check(t, b)
			}
			a, _ := e.reg.App("shop")
			if a.Live != "1" || len(a.Versions) != 1 {
				t.Fatalf("refused request changed the app: %+v", a)
			}
		})
	}
	// The app still serves after every refusal.
	if err := e.router.Deliver(context.Background(), "shop", host.AppEvent{Person: "p", Conversation: "c",
		Event: host.Event{Type: host.EventMessage, Text: "hi"}}); err != nil {
		t.Fatal(err)
	}
}

func TestLogs(t *testing.T) {
	e := newEnv(t, 0)
	e.upload(t, "tok-m1", "shop", "1")
	ctx := context.Background()
	fail := func(id string) {
		e.router.Deliver(ctx, "shop", host.AppEvent{Person: "p", Conversation: "c",
			Event: host.Event{ID: id, Type: host.EventMessage, Text: "boom!"}})
	}
	fail("e1")
	fail("e2")
	resp, data := e.do(t, "GET", "/v1/apps/shop/logs", "tok-m1", nil)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" || len(lines) != 2 {
		t.Fatalf("%d %q", resp.StatusCode, data)
	}
	var rec registry.LogRecord
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil || rec.EventID != "e2" || rec.Kind != "trap" || rec.Source != "failure" {
		t.Fatalf("record %+v %v", rec, err)
	}
	_, data = e.do(t, "GET", fmt.Sprintf("/v1/apps/shop/logs?after=%d", rec.Seq-1), "tok-m1", nil)
	if n := strings.Count(string(data), "\n"); n != 1 {
		t.Fatalf("after: %d lines", n)
	}

	// Follow: the existing records, then new ones as they come.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(fctx, "GET", e.srv.URL+"/v1/apps/shop/logs?follow=1&limit=1", nil)
	req.Header.Set("Authorization", "Bearer tok-m1")
	fresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer fresp.Body.Close()
	sc := bufio.NewScanner(fresp.Body)
	next := func() registry.LogRecord {
		t.Helper()
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue // heartbeat
			}
			var r registry.LogRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%q: %v", sc.Text(), err)
			}
			return r
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return registry.LogRecord{}
	}
	if r := next(); r.EventID != "e2" {
		t.Fatalf("first followed record %+v", r)
	}
	fail("e3")
	if r := next(); r.EventID != "e3" {
		t.Fatalf("new record %+v", r)
	}
	// Close ends the follower.
	e.h.Close()
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) != 0 {
			t.Fatalf("unexpected %q", sc.Text())
		}
	}
}

// With the real identity service: signed tokens of another merchant, a
// person and an operator are refused by every endpoint; the owner's works.
func TestRealTokens(t *testing.T) {
	e := newEnv(t, 0)
	h, err := api.New(api.Config{Auth: e.id, Apps: e.router})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()
	issue := func(subject, role string) string {
		tok, err := e.id.Issue(subject, role, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	owner, other := issue("m1", identity.RoleMerchant), issue("m2", identity.RoleMerchant)
	flip := "A"
	if owner[len(owner)-6] == 'A' {
		flip = "B"
	}
	forged := owner[:len(owner)-6] + flip + owner[len(owner)-5:]
	e.srv = srv
	e.upload(t, owner, "shop", "1")
	endpoints := []struct{ method, path string }{
		{"POST", "/v1/apps/shop/versions"},
		{"GET", "/v1/apps/shop/versions"},
		{"POST", "/v1/apps/shop/promote"},
		{"POST", "/v1/apps/shop/rollback"},
		{"GET", "/v1/apps/shop/logs"},
		{"GET", "/v1/apps/shop/stats"},
	}
	callers := []struct {
		name, token, code string
	}{
		{"other merchant", other, ""},
		{"person", issue("p1", identity.RolePerson), api.CodeMerchantOnly},
		{"operator", issue("op", identity.RoleOperator), api.CodeMerchantOnly},
		{"owner token with a flipped byte", forged, api.CodeUnauthorized},
	}
	for _, ep := range endpoints {
		for _, c := range callers {
			t.Run(ep.method+" "+ep.path+" "+c.name, func(t *testing.T) {
				var body any
				if ep.method == "POST" && ep.path == "/v1/apps/shop/versions" {
					body = module(t, "shop", "2")
				} else if ep.method == "POST" {
					body = map[string]string{"version": "1"}
				}
				resp, data := e.do(t, ep.method, ep.path, c.token, body)
				want := c.code
				if want == "" {
					want = api.CodeAppNotFound
					if ep.path == "/v1/apps/shop/versions" && ep.method == "POST" {
						want = api.CodeAppIDTaken
					}
				}
				if resp.StatusCode < 400 || code(data) != want {
					t.Fatalf("got %d %s, want %s", resp.StatusCode, data, want)
				}
			})
		}
	}
	resp, data := e.do(t, "GET", "/v1/apps/shop/versions", owner, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(data), `"version":"1"`) {
		t.Fatalf("owner: %d %s", resp.StatusCode, data)
	}
}
