package api_test

import (
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
	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/handoff"
)

// conversations serves the inbox from a real conversation log: what the
// gateway's Server does, without the WebSockets to fan out to.
type conversations struct{ log *convlog.Log }

func (c conversations) Messages(ctx context.Context, conv string, after uint64, limit int) ([]convlog.Message, error) {
	return c.log.Range(ctx, conv, after, limit)
}

func (c conversations) Emit(ctx context.Context, out host.Outgoing) error {
	_, err := c.log.Append(ctx, out.Conversation, &convlog.Message{ID: out.ID, Time: time.Now().UnixMilli(),
		From: convlog.Sender{Kind: "app", ID: out.App.App, Name: out.App.App, Agent: out.Agent}, Msg: *out.Message})
	return err
}

// TestHandoffEndpoints checks what /v1/handoffs refuses and why, and that
// an answer lands in the conversation with the agent's name and a handoff
// that is another merchant's does not exist.
func TestHandoffEndpoints(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 0)
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "inbox.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hs, err := handoff.Open(db, handoff.Config{Pseudonyms: pseudonyms{}})
	if err != nil {
		t.Fatal(err)
	}
	log, err := convlog.Open(db, convlog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if _, _, err := log.Ensure(ctx, convlog.Conv{ID: "cv1", Kind: "app", App: "shop", Members: []string{"p1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := log.Append(ctx, "cv1", &convlog.Message{Time: 1, From: convlog.Sender{Kind: "person", ID: "p1", Name: "Ana Secret"},
		Msg: host.Message{Text: "where is my parcel"}, Surface: "messenger", Client: "c1"}); err != nil {
		t.Fatal(err)
	}
	b, err := hs.Start(ctx, host.AppRef{Merchant: "m1", App: "shop", Version: "1"}, "cv1", "p1", "messenger", handoff.Request{Reason: "asked for a person"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	id := b.Handoff.ID
	rules, err := consent.Open(db, consent.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Auth: tokens{}, Apps: e.router, Handoffs: hs, Conversations: conversations{log}, Standings: rules})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	inbox := &env{srv: srv}
	none := e // the env's handler has no inbox

	tests := []struct {
		name         string
		env          *env
		method, path string
		token        string
		body         any
		status       int
		code, msg    string
	}{
		{"no inbox on this server", none, "GET", "/v1/handoffs", "tok-m1", nil, 503, "unavailable", "no merchant inbox"},
		{"a person's token", inbox, "GET", "/v1/handoffs", "tok-person", nil, 403, "merchant_only", ""},
		{"a bad status", inbox, "GET", "/v1/handoffs?status=closed", "tok-m1", nil, 400, "bad_request", `"open"`},
		{"a bad wait", inbox, "GET", "/v1/handoffs?wait=soon", "tok-m1", nil, 400, "bad_request", "version"},
		{"a bad after", inbox, "GET", "/v1/handoffs/" + id + "?after=-1", "tok-m1", nil, 400, "bad_request", "seq"},
		{"another merchant's", inbox, "GET", "/v1/handoffs/" + id, "tok-m2", nil, 404, "handoff_not_found", "GET /v1/handoffs"},
		{"another merchant answers", inbox, "POST", "/v1/handoffs/" + id + "/reply", "tok-m2", map[string]string{"agent": "Eve", "text": "hi"}, 404, "handoff_not_found", ""},
		{"no agent", inbox, "POST", "/v1/handoffs/" + id + "/reply", "tok-m1", map[string]string{"text": "hi"}, 400, "bad_request", "agent"},
		{"no text", inbox, "POST", "/v1/handoffs/" + id + "/reply", "tok-m1", map[string]string{"agent": "Sam"}, 400, "bad_request", "text"},
		{"a long text", inbox, "POST", "/v1/handoffs/" + id + "/reply", "tok-m1", map[string]string{"agent": "Sam", "text": strings.Repeat("x", 4097)}, 400, "bad_request", "4096"},
		{"an unknown field", inbox, "POST", "/v1/handoffs/" + id + "/take", "tok-m1", map[string]string{"agent": "Sam", "colour": "red"}, 400, "bad_request", "colour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.env.do(t, tt.method, tt.path, tt.token, tt.body)
			var eb errorBody
			json.Unmarshal(body, &eb)
			if resp.StatusCode != tt.status || eb.Error.Code != tt.code || !strings.Contains(eb.Error.Message, tt.msg) {
				t.Fatalf("%d %s, want %d %s containing %q", resp.StatusCode, body, tt.status, tt.code, tt.msg)
			}
		})
	}
	if held, _ := hs.Holds(ctx, "cv1"); !held {
		t.Fatal("a refused request changed the handoff")
	}

	resp, body := inbox.do(t, "POST", "/v1/handoffs/"+id+"/reply", "tok-m1", map[string]string{"agent": "Sam", "text": "Sam here"})
	if resp.StatusCode != 200 {
		t.Fatalf("reply: %d %s", resp.StatusCode, body)
	}
	resp, body = inbox.do(t, "GET", "/v1/handoffs/"+id, "tok-m1", nil)
	var read struct {
		Handoff     map[string]any   `json:"handoff"`
		Messages    []map[string]any `json:"messages"`
		AnswerUntil int64            `json:"answer_until"`
	}
	if err := json.Unmarshal(body, &read); err != nil || resp.StatusCode != 200 {
		t.Fatalf("read: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "Ana Secret") || strings.Contains(string(body), `"p1"`) {
		t.Fatalf("the inbox shows the person's name or platform id: %s", body)
	}
	if len(read.Messages) != 2 || read.Messages[0]["from"] != "person" || read.Messages[1]["from"] != "agent" || read.Messages[1]["agent"] != "Sam" ||
		read.Handoff["status"] != "taken" || read.Handoff["user"] != "o-p1" || read.AnswerUntil != 1+api.HumanAgentWindow.Milliseconds() {
		t.Fatalf("read %s", body)
	}
	// A person who sent STOP hears nothing more from the business's staff.
	if _, err := rules.Inbound(ctx, consent.Inbound{Person: "p1", Business: "m1", Surface: "messenger", Text: "STOP"}); err != nil {
		t.Fatal(err)
	}
	resp, body = inbox.do(t, "POST", "/v1/handoffs/"+id+"/reply", "tok-m1", map[string]string{"agent": "Sam", "text": "still there?"})
	var stop errorBody
	json.Unmarshal(body, &stop)
	if resp.StatusCode != http.StatusForbidden || stop.Error.Code != "opted_out" || !strings.Contains(stop.Error.Message, "START") {
		t.Fatalf("an answer after STOP: %d %s", resp.StatusCode, body)
	}
	if msgs, _ := log.Range(ctx, "cv1", 0, 10); len(msgs) != 2 {
		t.Fatalf("%d messages in the conversation after a refused answer, want 2", len(msgs))
	}
	if resp, body := inbox.do(t, "POST", "/v1/handoffs/"+id+"/handback", "tok-m1", map[string]string{"agent": "Sam", "note": "done"}); resp.StatusCode != 200 {
		t.Fatalf("handback: %d %s", resp.StatusCode, body)
	}
	resp, body = inbox.do(t, "POST", "/v1/handoffs/"+id+"/take", "tok-m1", map[string]string{"agent": "Sam"})
	var eb errorBody
	json.Unmarshal(body, &eb)
	if resp.StatusCode != http.StatusConflict || eb.Error.Code != "handoff_returned" {
		t.Fatalf("take after the handback: %d %s", resp.StatusCode, body)
	}
}
