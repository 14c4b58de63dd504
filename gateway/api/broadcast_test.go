package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/api"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/broadcast"
	"github.com/passerelle/passerelle/host/consent"
)

// outbox keeps the messages a broadcast sends, by id.
type outbox struct {
	mu   sync.Mutex
	sent map[string]host.Outgoing
}

func (o *outbox) Conversation(_ context.Context, app host.AppRef, person string) (string, error) {
	return "a-" + app.App + "-" + person, nil
}

func (o *outbox) Send(_ context.Context, out host.Outgoing) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent[out.ID] = out
	return nil
}

func (o *outbox) Sent(_ context.Context, out host.Outgoing, _ time.Time) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.sent[out.ID]
	return ok, nil
}

// broadcastAPI returns a handler of e's apps serving broadcasts from a real
// engine and consent ledger on a bbolt file of their own.
func broadcastAPI(tb testing.TB, e *env) (*api.Handler, *broadcast.Engine, *consent.Service, *outbox) {
	tb.Helper()
	db, err := bbolt.Open(filepath.Join(tb.TempDir(), "b.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	svc, err := consent.Open(db, consent.Config{Pseudonyms: e.id})
	if err != nil {
		tb.Fatal(err)
	}
	box := &outbox{sent: map[string]host.Outgoing{}}
	eng, err := broadcast.Open(db, broadcast.Config{Consent: svc, Sender: box, Pseudonyms: e.id})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(eng.Close)
	h, err := api.New(api.Config{Auth: tokens{}, Apps: e.router, Broadcasts: eng})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.Close)
	return h, eng, svc, box
}

// FuzzBroadcastBody: whatever a POST /v1/broadcasts body holds, the answer
// is the broadcast or a coded JSON error that says what to do, never a
// panic or a 500.
func FuzzBroadcastBody(f *testing.F) {
	e := newEnv(f, 0)
	upload := httptest.NewRequest("POST", "/v1/apps/shop/versions", bytes.NewReader(module(f, "shop", "1")))
	upload.Header.Set("Authorization", "Bearer tok-m1")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, upload)
	if rec.Code != 201 {
		f.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	h, _, svc, _ := broadcastAPI(f, e)
	if _, err := svc.OptIn(context.Background(), consent.Grant{Person: "p_ana", Business: "m1", App: "shop", Purpose: "news", Prompt: "yes?"}); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"id":"w","app":"shop","purpose":"news","message":{"text":"hi"}}`))
	f.Add([]byte(`{"id":"w","app":"shop","template":"drop","message":{"card":{"title":"x","buttons":[{"id":"a","title":"A"}]}}}`))
	f.Add([]byte(`{"id":"","app":"shop","purpose":"News","message":{}}`))
	f.Add([]byte(`{"id":"w","app":"ride","purpose":"news","message":{"text":"hi"}}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/v1/broadcasts", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok-m1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body)
		case rec.Code >= 400:
			var b errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
				t.Fatalf("error body %q", rec.Body)
			}
		default:
			var b broadcast.Broadcast
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.ID == "" || b.Merchant != "m1" {
				t.Fatalf("%q: %d %s", body, rec.Code, rec.Body)
			}
		}
	})
}

// TestBroadcasts: a merchant makes a broadcast of one of its apps to the
// people opted in to a purpose, reads its progress and each person's
// outcome under the app's id for them; the same id and content again is
// the same broadcast, other content a conflict; another merchant's app,
// broadcast and outcomes are not found; malformed bodies say what to send.
func TestBroadcasts(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 0)
	e.upload(t, "tok-m1", "shop", "1")
	e.upload(t, "tok-m2", "ride", "1")
	h, eng, svc, box := broadcastAPI(t, e)
	for _, g := range []consent.Grant{
		{Person: "p_ana", Business: "m1", App: "shop", Purpose: "news"},
		{Person: "p_bo", Business: "m1", App: "shop", Purpose: "news"},
		{Person: "p_cy", Business: "m2", App: "ride", Purpose: "news"},
	} {
		g.Prompt = consent.OptInPrompt(g.Business, g.Purpose)
		if _, err := svc.OptIn(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b := &env{srv: srv}

	winter := map[string]any{"id": "winter", "app": "shop", "purpose": "news", "message": map[string]any{"text": "The winter collection is in"}}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		token  string
		body   any
		status int
		code   string
	}{
		{"made", "POST", "/v1/broadcasts", "tok-m1", winter, 201, ""},
		{"the same again", "POST", "/v1/broadcasts", "tok-m1", winter, 200, ""},
		{"the id with other content", "POST", "/v1/broadcasts", "tok-m1", map[string]any{"id": "winter", "app": "shop", "purpose": "news", "message": map[string]any{"text": "Other"}}, 409, "conflict"},
		{"another merchant's app", "POST", "/v1/broadcasts", "tok-m1", map[string]any{"id": "w2", "app": "ride", "purpose": "news", "message": map[string]any{"text": "x"}}, 404, "app_not_found"},
		{"a misspelt field", "POST", "/v1/broadcasts", "tok-m1", []byte(`{"id":"w3","app":"shop","purpse":"news","message":{"text":"x"}}`), 400, "bad_request"},
		{"two objects", "POST", "/v1/broadcasts", "tok-m1", []byte(`{"id":"w3","app":"shop","purpose":"news","message":{"text":"x"}} {}`), 400, "bad_request"},
		{"no purpose nor template", "POST", "/v1/broadcasts", "tok-m1", map[string]any{"id": "w4", "app": "shop", "message": map[string]any{"text": "x"}}, 400, "bad_request"},
		{"an empty message", "POST", "/v1/broadcasts", "tok-m1", map[string]any{"id": "w5", "app": "shop", "purpose": "news", "message": map[string]any{}}, 400, "bad_request"},
		{"a body too big", "POST", "/v1/broadcasts", "tok-m1", bytes.Repeat([]byte(" "), 70<<10), 400, "bad_request"},
		{"a person's token", "POST", "/v1/broadcasts", "tok-person", winter, 403, "merchant_only"},
		{"no token", "GET", "/v1/broadcasts", "", nil, 401, "unauthorized"},
		{"read by its merchant", "GET", "/v1/broadcasts/winter", "tok-m1", nil, 200, ""},
		{"read by another merchant", "GET", "/v1/broadcasts/winter", "tok-m2", nil, 404, "broadcast_not_found"},
		{"outcomes read by another merchant", "GET", "/v1/broadcasts/winter/outcomes", "tok-m2", nil, 404, "broadcast_not_found"},
		{"a bad limit", "GET", "/v1/broadcasts/winter/outcomes?limit=0", "tok-m1", nil, 400, "bad_request"},
		{"a bad after", "GET", "/v1/broadcasts/winter/outcomes?after=x", "tok-m1", nil, 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := b.do(t, tc.method, tc.path, tc.token, tc.body)
			if resp.StatusCode != tc.status || code(data) != tc.code {
				t.Fatalf("%d %s, want %d %q", resp.StatusCode, data, tc.status, tc.code)
			}
			var eb errorBody
			if tc.code != "" && (json.Unmarshal(data, &eb) != nil || len(eb.Error.Message) < 20) {
				t.Fatalf("a refusal that does not say what to do: %s", data)
			}
		})
	}
	if _, data := b.do(t, "GET", "/v1/broadcasts", "tok-m2", nil); string(bytes.TrimSpace(data)) != `{"broadcasts":[]}` {
		t.Fatalf("m2's list: %s", data)
	}

	eng.Start()
	var got broadcast.Broadcast
	deadline := time.Now().Add(20 * time.Second)
	for got.State != broadcast.StateDone {
		if time.Now().After(deadline) {
			t.Fatalf("the broadcast did not finish: %+v", got)
		}
		time.Sleep(5 * time.Millisecond)
		_, data := b.do(t, "GET", "/v1/broadcasts/winter", "tok-m1", nil)
		got = broadcast.Broadcast{}
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
	}
	if got.Total != 2 || got.Sent != 2 || got.Skipped != 0 || got.Merchant != "m1" {
		t.Fatalf("progress %+v", got)
	}
	if _, data := b.do(t, "GET", "/v1/broadcasts", "tok-m1", nil); !strings.Contains(string(data), `"id":"winter"`) {
		t.Fatalf("m1's list: %s", data)
	}
	resp, data := b.do(t, "GET", "/v1/broadcasts/winter/outcomes?after=1", "tok-m1", nil)
	var page struct {
		After, Next int
		Outcomes    []broadcast.Outcome
	}
	if err := json.Unmarshal(data, &page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	ref := host.AppRef{Merchant: "m1", App: "shop"}
	if page.Next != 2 || len(page.Outcomes) != 1 || page.Outcomes[0].ID != e.id.OpenID(ref, "p_bo") || page.Outcomes[0].State != "sent" ||
		page.Outcomes[0].Message != broadcast.MessageID("m1", "winter", "p_bo") || page.Outcomes[0].Record == 0 {
		t.Fatalf("page after 1: %s", data)
	}
	if strings.Contains(string(data), "p_bo") {
		t.Fatalf("the outcomes show the platform id: %s", data)
	}
	if len(box.sent) != 2 {
		t.Fatalf("%d messages sent, want 2", len(box.sent))
	}
	if resp, data := e.do(t, "GET", "/v1/broadcasts", "tok-m1", nil); resp.StatusCode != 503 || code(data) != "unavailable" {
		t.Fatalf("a server without broadcasts: %d %s", resp.StatusCode, data)
	}
}
