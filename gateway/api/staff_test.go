package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/api"
	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/gateway/staff"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/handoff"
)

// staffEnv is an API with a merchant inbox and staff accounts on one
// bbolt file, and one handoff of merchant m1 in conversation cv1.
type staffEnv struct {
	srv     *httptest.Server
	log     *convlog.Log
	handoff string
}

func newStaffEnv(t *testing.T) *staffEnv {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t, 0)
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "inbox.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hs, err := handoff.Open(db, handoff.Config{Pseudonyms: pseudonyms{}})
	if err != nil {
		t.Fatal(err)
	}
	log, err := convlog.Open(db, convlog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	if _, _, err := log.Ensure(ctx, convlog.Conv{ID: "cv1", Kind: "app", App: "shop", Members: []string{"p1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := log.Append(ctx, "cv1", &convlog.Message{Time: time.Now().UnixMilli(), From: convlog.Sender{Kind: "person", ID: "p1", Name: "Ana"},
		Msg: host.Message{Text: "where is my parcel"}, Surface: "web", Client: "c1"}); err != nil {
		t.Fatal(err)
	}
	b, err := hs.Start(ctx, host.AppRef{Merchant: "m1", App: "shop", Version: "1"}, "cv1", "p1", "web", handoff.Request{Reason: "asked for a person"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := staff.Open(db, staff.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Auth: tokens{}, Apps: e.router, Handoffs: hs, Conversations: conversations{log}, Staff: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &staffEnv{srv: srv, log: log, handoff: b.Handoff.ID}
}

// browser is a member's browser: a cookie jar.
type browser struct {
	c   *http.Client
	url string
}

func (e *staffEnv) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{c: &http.Client{Jar: jar}, url: e.srv.URL}
}

// do sends a request: with the merchant's token when token is set, else
// with the browser's cookies; hdr adds headers.
func (b *browser) do(t *testing.T, method, path, token string, body any, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, b.url+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func want(t *testing.T, what string, resp *http.Response, body []byte, status int, errCode string) {
	t.Helper()
	if resp.StatusCode != status || code(body) != errCode {
		t.Fatalf("%s: %d %s, want %d %q", what, resp.StatusCode, body, status, errCode)
	}
}

type added struct {
	Member staff.Member `json:"member"`
	SignIn struct {
		URL  string `json:"url"`
		Code string `json:"code"`
	} `json:"signin"`
}

func (b *browser) add(t *testing.T, name string) added {
	t.Helper()
	resp, body := b.do(t, "POST", "/v1/staff", "tok-m1", map[string]string{"name": name})
	want(t, "add "+name, resp, body, http.StatusCreated, "")
	var a added
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestStaffSignInOpensTheInboxOnly walks a member from the link the
// merchant made to an answer carrying their name, and checks that the
// session opens the handoff endpoints and nothing else of /v1.
func TestStaffSignInOpensTheInboxOnly(t *testing.T) {
	e := newStaffEnv(t)
	owner := e.browser(t)
	alice := owner.add(t, "Alice")
	if !strings.HasPrefix(alice.SignIn.URL, e.srv.URL+"/inbox#signin=si_") || !strings.HasSuffix(alice.SignIn.URL, alice.SignIn.Code) {
		t.Fatalf("sign-in link %q", alice.SignIn.URL)
	}
	resp, body := owner.do(t, "POST", "/v1/staff", "tok-m1", map[string]string{"name": "alice"})
	want(t, "a second alice", resp, body, http.StatusConflict, "member_exists")

	b := e.browser(t)
	resp, body = b.do(t, "GET", "/v1/handoffs", "", nil)
	want(t, "before signing in", resp, body, http.StatusUnauthorized, "unauthorized")
	resp, body = b.do(t, "POST", "/v1/staff/session", "", map[string]string{"code": alice.SignIn.Code})
	want(t, "sign in", resp, body, http.StatusOK, "")
	for _, c := range resp.Cookies() {
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Value == "" {
			t.Fatalf("cookie %s is not HttpOnly, SameSite=Strict: %+v", c.Name, c)
		}
		if c.Name == api.CookieRefresh && c.Path != "/v1/staff/session" {
			t.Fatalf("the refresh cookie goes to %q", c.Path)
		}
	}
	if len(resp.Cookies()) != 2 {
		t.Fatalf("cookies %+v", resp.Cookies())
	}
	resp, body = e.browser(t).do(t, "POST", "/v1/staff/session", "", map[string]string{"code": alice.SignIn.Code})
	want(t, "the link again", resp, body, http.StatusUnauthorized, "signin_refused")

	resp, body = b.do(t, "GET", "/v1/handoffs", "", nil)
	want(t, "the list", resp, body, http.StatusOK, "")
	if !strings.Contains(string(body), e.handoff) {
		t.Fatalf("the list lacks the handoff: %s", body)
	}
	resp, body = b.do(t, "GET", "/v1/staff/session", "", nil)
	want(t, "who am I", resp, body, http.StatusOK, "")
	if !strings.Contains(string(body), `"name":"Alice"`) {
		t.Fatalf("who am I: %s", body)
	}

	// Nothing else of /v1.
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/apps"}, {"POST", "/v1/apps/shop/versions"}, {"GET", "/v1/staff"}, {"POST", "/v1/staff"},
		{"POST", "/v1/broadcasts"}, {"GET", "/v1/connections"}, {"DELETE", "/v1/staff/" + alice.Member.ID},
	} {
		resp, body := b.do(t, r.method, r.path, "", map[string]string{"name": "Mallory"})
		want(t, r.method+" "+r.path, resp, body, http.StatusForbidden, "staff_only")
	}
	// Another site's page cannot use the session.
	resp, body = b.do(t, "POST", "/v1/handoffs/"+e.handoff+"/reply", "", map[string]string{"text": "hi"}, "Sec-Fetch-Site", "cross-site")
	want(t, "a cross-site answer", resp, body, http.StatusForbidden, "forbidden")
	resp, body = b.do(t, "POST", "/v1/handoffs/"+e.handoff+"/reply", "", map[string]string{"agent": "Bob", "text": "hi"})
	want(t, "answering as someone else", resp, body, http.StatusBadRequest, "bad_request")

	resp, body = b.do(t, "POST", "/v1/handoffs/"+e.handoff+"/reply", "", map[string]string{"text": "Alice here, looking"}, "Sec-Fetch-Site", "same-origin")
	want(t, "the answer", resp, body, http.StatusOK, "")
	var out struct {
		Handoff struct {
			Agent    string          `json:"agent"`
			AgentID  string          `json:"agent_id"`
			Answered []handoff.Agent `json:"answered"`
		} `json:"handoff"`
	}
	json.Unmarshal(body, &out)
	if out.Handoff.Agent != "Alice" || out.Handoff.AgentID != alice.Member.ID || len(out.Handoff.Answered) != 1 || out.Handoff.Answered[0].ID != alice.Member.ID {
		t.Fatalf("the handoff after Alice's answer: %s", body)
	}
	msgs, err := e.log.Range(context.Background(), "cv1", 0, 10)
	if err != nil || len(msgs) != 2 || msgs[1].From.Agent != "Alice" || msgs[1].Msg.Text != "Alice here, looking" {
		t.Fatalf("the conversation: %+v %v", msgs, err)
	}

	// The merchant's token still opens the inbox, as the owner.
	resp, body = owner.do(t, "POST", "/v1/handoffs/"+e.handoff+"/take", "tok-m1", map[string]string{"agent": "Owner"})
	want(t, "the owner takes over", resp, body, http.StatusOK, "")
	if !strings.Contains(string(body), `"agent":"Owner"`) || strings.Contains(string(body), `"agent_id"`) {
		t.Fatalf("the owner's take: %s", body)
	}
	resp, body = owner.do(t, "GET", "/v1/staff", "tok-m1", nil)
	want(t, "the staff", resp, body, http.StatusOK, "")
	if !strings.Contains(string(body), `"sessions":1`) {
		t.Fatalf("staff list: %s", body)
	}
	// Alice hands back: the handoff names her.
	resp, body = b.do(t, "POST", "/v1/handoffs/"+e.handoff+"/handback", "", map[string]string{"note": "table booked"})
	want(t, "Alice hands back", resp, body, http.StatusOK, "")
	json.Unmarshal(body, &out)
	if out.Handoff.Agent != "Alice" || out.Handoff.AgentID != alice.Member.ID || !strings.Contains(string(body), `"status":"returned"`) {
		t.Fatalf("the handback: %s", body)
	}
}

// TestRemovedMemberIsSignedOutAtOnce checks that removing a member ends
// its session for the very next request, while its access token would
// still be good for minutes, and that refreshing does not bring it back.
func TestRemovedMemberIsSignedOutAtOnce(t *testing.T) {
	e := newStaffEnv(t)
	owner := e.browser(t)
	bob := owner.add(t, "Bob")
	b := e.browser(t)
	resp, body := b.do(t, "POST", "/v1/staff/session", "", map[string]string{"code": bob.SignIn.Code})
	want(t, "sign in", resp, body, http.StatusOK, "")
	resp, body = b.do(t, "POST", "/v1/staff/session/refresh", "", nil)
	want(t, "refresh", resp, body, http.StatusOK, "")
	resp, body = b.do(t, "GET", "/v1/handoffs", "", nil)
	want(t, "after the refresh", resp, body, http.StatusOK, "")

	resp, body = owner.do(t, "DELETE", "/v1/staff/"+bob.Member.ID, "tok-m2", nil)
	want(t, "another merchant removes Bob", resp, body, http.StatusNotFound, "member_not_found")
	resp, body = owner.do(t, "DELETE", "/v1/staff/"+bob.Member.ID, "tok-m1", nil)
	want(t, "remove Bob", resp, body, http.StatusOK, "")

	resp, body = b.do(t, "GET", "/v1/handoffs", "", nil)
	want(t, "a removed member's list", resp, body, http.StatusUnauthorized, "session_expired")
	resp, body = b.do(t, "POST", "/v1/handoffs/"+e.handoff+"/reply", "", map[string]string{"text": "still here"})
	want(t, "a removed member's answer", resp, body, http.StatusUnauthorized, "session_expired")
	resp, body = b.do(t, "POST", "/v1/staff/session/refresh", "", nil)
	want(t, "a removed member's refresh", resp, body, http.StatusUnauthorized, "session_expired")
	if msgs, _ := e.log.Range(context.Background(), "cv1", 0, 10); len(msgs) != 1 {
		t.Fatalf("%d messages, want the person's only", len(msgs))
	}
}

// TestSignOutEndsTheSession checks sign-out and a link replaced by a new
// one.
func TestSignOutEndsTheSession(t *testing.T) {
	e := newStaffEnv(t)
	owner := e.browser(t)
	carol := owner.add(t, "Carol")
	resp, body := owner.do(t, "POST", "/v1/staff/"+carol.Member.ID+"/link", "tok-m1", nil)
	want(t, "a new link", resp, body, http.StatusOK, "")
	var fresh added
	json.Unmarshal(body, &fresh)
	b := e.browser(t)
	resp, body = b.do(t, "POST", "/v1/staff/session", "", map[string]string{"code": carol.SignIn.Code})
	want(t, "the replaced link", resp, body, http.StatusUnauthorized, "signin_refused")
	resp, body = b.do(t, "POST", "/v1/staff/session", "", map[string]string{"code": fresh.SignIn.Code})
	want(t, "the new link", resp, body, http.StatusOK, "")
	var kept string
	for _, c := range resp.Cookies() {
		if c.Name == api.CookieAccess {
			kept = c.Name + "=" + c.Value
		}
	}
	resp, body = b.do(t, "DELETE", "/v1/staff/session", "", nil)
	want(t, "sign out", resp, body, http.StatusNoContent, "")
	resp, body = b.do(t, "GET", "/v1/handoffs", "", nil)
	want(t, "after signing out", resp, body, http.StatusUnauthorized, "unauthorized")
	resp, body = e.browser(t).do(t, "GET", "/v1/handoffs", "", nil, "Cookie", kept)
	want(t, "a copy of the signed-out access cookie", resp, body, http.StatusUnauthorized, "session_expired")
	resp, body = b.do(t, "POST", "/v1/staff/session/refresh", "", nil)
	want(t, "refresh after signing out", resp, body, http.StatusUnauthorized, "session_expired")
}
