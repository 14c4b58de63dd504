package messenger_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

const (
	secret = "page-app-secret"
	token  = "page-verify-token"
)

func openStore(t *testing.T, path string) (*messenger.Store, func()) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s, err := messenger.OpenStore(db, connector.StoreConfig{})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { s.Close(); db.Close() }) }
	t.Cleanup(stop)
	return s, stop
}

func inbox(t *testing.T, s *messenger.Store) []messenger.Entry {
	t.Helper()
	es, err := s.Inbox(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func newWebhook(t *testing.T, rec messenger.Recorder, maxBody int64) *messenger.Webhook {
	t.Helper()
	h, err := messenger.NewWebhook(messenger.WebhookConfig{AppSecret: secret, VerifyToken: token, Recorder: rec, MaxBody: maxBody})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type recorderFunc func(messenger.Event) error

func (f recorderFunc) Record(_ context.Context, e messenger.Event) (bool, error) { return false, f(e) }

func TestWebhookVerification(t *testing.T) {
	h := newWebhook(t, recorderFunc(func(messenger.Event) error { return nil }), 0)
	tests := []struct {
		name  string
		query url.Values
		code  int
		body  string
	}{
		{"ok", url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {token}, "hub.challenge": {"1158201444"}}, 200, "1158201444"},
		{"wrong token", url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"guess"}, "hub.challenge": {"1"}}, 403, "hub.verify_token does not match"},
		{"wrong mode", url.Values{"hub.mode": {"unsubscribe"}, "hub.verify_token": {token}, "hub.challenge": {"1"}}, 403, "hub.mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/webhooks/messenger?"+tt.query.Encode(), nil))
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.body) {
				t.Fatalf("got %d %q, want %d containing %q", w.Code, w.Body.String(), tt.code, tt.body)
			}
		})
	}
}

func TestWebhookPost(t *testing.T) {
	body := readFile(t, "text.json")
	failing := errors.New("disk full")
	tests := []struct {
		name    string
		body    []byte
		sig     string
		maxBody int64
		recErr  error
		code    int
		records int
	}{
		{"signed", body, metasim.Sign([]byte(secret), body), 0, nil, 200, 1},
		{"no signature", body, "", 0, nil, 401, 0},
		{"another app's secret", body, metasim.Sign([]byte("other"), body), 0, nil, 403, 0},
		{"re-encoded body", []byte(strings.ReplaceAll(string(body), ",", ", ")), metasim.Sign([]byte(secret), body), 0, nil, 403, 0},
		{"too large", body, metasim.Sign([]byte(secret), body), 64, nil, 413, 0},
		{"signed but not a notification", []byte(`{"object":"user"}`), metasim.Sign([]byte(secret), []byte(`{"object":"user"}`)), 0, nil, 400, 0},
		{"recording fails", body, metasim.Sign([]byte(secret), body), 0, failing, 503, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			h := newWebhook(t, recorderFunc(func(messenger.Event) error { n++; return tt.recErr }), tt.maxBody)
			r := httptest.NewRequest(http.MethodPost, "/webhooks/messenger", strings.NewReader(string(tt.body)))
			if tt.sig != "" {
				r.Header.Set(connector.SignatureHeader, tt.sig)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.code || n != tt.records {
				t.Fatalf("got %d after %d records, want %d after %d (%s)", w.Code, n, tt.code, tt.records, w.Body.String())
			}
		})
	}
}

// Over a real socket: the simulator signs and delivers as Meta does, the
// webhook records into the store; a redelivery, even after a restart, is
// a duplicate; Messenger and WhatsApp stores share a database file without
// sharing keys.
func TestSimulatorDeliversToWebhookAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	ctx := context.Background()
	deliver := func(s *messenger.Store, file, sec string) int {
		srv := httptest.NewServer(newWebhook(t, s, 0))
		defer srv.Close()
		status, err := metasim.Deliver(ctx, http.DefaultClient, srv.URL, []byte(sec), readFile(t, file))
		if err != nil {
			t.Fatal(err)
		}
		return status
	}
	s, stop := openStore(t, path)
	steps := []struct {
		file, secret string
		status, n    int
	}{
		{"text.json", secret, 200, 1},
		{"text.json", secret, 200, 1},
		{"postback.json", "another-app", 403, 1},
		{"postback.json", secret, 200, 2},
		{"read.json", secret, 200, 3},
		{"instagram_text.json", secret, 200, 4},
	}
	for i, st := range steps {
		if got := deliver(s, st.file, st.secret); got != st.status {
			t.Fatalf("step %d (%s): status %d, want %d", i, st.file, got, st.status)
		}
		if n := len(inbox(t, s)); n != st.n {
			t.Fatalf("step %d (%s): inbox holds %d, want %d", i, st.file, n, st.n)
		}
	}
	stop()
	s, _ = openStore(t, path)
	for _, f := range []string{"text.json", "postback.json", "read.json", "instagram_text.json"} {
		if got := deliver(s, f, secret); got != 200 {
			t.Fatalf("redelivery of %s after a restart: %d", f, got)
		}
	}
	es := inbox(t, s)
	if len(es) != 4 {
		t.Fatalf("after redeliveries across a restart the inbox holds %d, want 4", len(es))
	}
	if es[3].Event.Network != messenger.Instagram || es[1].Event.Kind != messenger.KindPostback {
		t.Fatalf("inbox order or contents wrong: %+v", es)
	}
}
