package whatsapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
)

const (
	secret = "app-secret-of-the-connection"
	token  = "verify-token-of-the-connection"
)

// memRecorder records in memory, for the handler's own tests; the store's
// tests use the real one.
type memRecorder struct {
	mu     sync.Mutex
	events []whatsapp.Event
	seen   map[string]bool
	fail   error
}

func (m *memRecorder) Record(_ context.Context, e whatsapp.Event) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return false, m.fail
	}
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	if m.seen[e.Key] {
		return true, nil
	}
	m.seen[e.Key] = true
	m.events = append(m.events, e)
	return false, nil
}

func newWebhook(t *testing.T, rec whatsapp.Recorder, maxBody int64) http.Handler {
	t.Helper()
	h, err := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret, VerifyToken: token, Recorder: rec, MaxBody: maxBody})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func post(h http.Handler, body []byte, sig string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if sig != "" {
		r.Header.Set(whatsapp.SignatureHeader, sig)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestNewWebhookRefusesMissingConfig(t *testing.T) {
	rec := &memRecorder{}
	tests := []struct {
		name string
		cfg  whatsapp.WebhookConfig
		want error
	}{
		{"no secret", whatsapp.WebhookConfig{VerifyToken: token, Recorder: rec}, whatsapp.ErrNoSecret},
		{"no token", whatsapp.WebhookConfig{AppSecret: secret, Recorder: rec}, whatsapp.ErrNoToken},
		{"no recorder", whatsapp.WebhookConfig{AppSecret: secret, VerifyToken: token}, whatsapp.ErrNoRecorder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := whatsapp.NewWebhook(tt.cfg); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWebhookVerification(t *testing.T) {
	h := newWebhook(t, &memRecorder{}, 0)
	tests := []struct {
		name  string
		query url.Values
		code  int
		body  string
	}{
		{"ok", url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {token}, "hub.challenge": {"1158201444"}}, 200, "1158201444"},
		{"wrong token", url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"guess"}, "hub.challenge": {"1"}}, 403, "hub.verify_token does not match"},
		{"token prefix", url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {token[:5]}, "hub.challenge": {"1"}}, 403, "hub.verify_token"},
		{"no token", url.Values{"hub.mode": {"subscribe"}, "hub.challenge": {"1"}}, 403, "hub.verify_token"},
		{"wrong mode", url.Values{"hub.mode": {"unsubscribe"}, "hub.verify_token": {token}, "hub.challenge": {"1"}}, 403, "hub.mode must be subscribe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/webhook?"+tt.query.Encode(), nil))
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.body) {
				t.Fatalf("got %d %q, want %d containing %q", w.Code, w.Body, tt.code, tt.body)
			}
		})
	}
}

func TestWebhookSignature(t *testing.T) {
	body := readFile(t, "text.json")
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	compact, _ := json.Marshal(v) // the same notification, re-encoded
	tests := []struct {
		name string
		body []byte
		sig  string
		code int
		want string
	}{
		{"signed", body, metasim.Sign([]byte(secret), body), 200, ""},
		{"missing", body, "", 401, "missing X-Hub-Signature-256"},
		{"other secret", body, metasim.Sign([]byte("another-app"), body), 403, "does not match the body"},
		{"re-encoded body", compact, metasim.Sign([]byte(secret), body), 403, "does not match the body"},
		{"sha1 scheme", body, "sha1=" + strings.TrimPrefix(metasim.Sign([]byte(secret), body), "sha256="), 403, "does not match"},
		{"not hex", body, "sha256=zz", 403, "does not match"},
		{"short", body, metasim.Sign([]byte(secret), body)[:40], 403, "does not match"},
		{"upper-case prefix", body, "SHA256=" + strings.TrimPrefix(metasim.Sign([]byte(secret), body), "sha256="), 403, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &memRecorder{}
			w := post(newWebhook(t, rec, 0), tt.body, tt.sig)
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.want) {
				t.Fatalf("got %d %q, want %d containing %q", w.Code, w.Body, tt.code, tt.want)
			}
			if recorded := len(rec.events); (tt.code == 200) != (recorded == 1) {
				t.Fatalf("%d events recorded for a %d answer", recorded, w.Code)
			}
		})
	}
}

func TestWebhookRefusals(t *testing.T) {
	big := append(readFile(t, "text.json"), bytes.Repeat([]byte(" "), 2048)...)
	notJSON := []byte("hello")
	failing := &memRecorder{fail: errors.New("disk full")}
	tests := []struct {
		name string
		rec  *memRecorder
		max  int64
		body []byte
		code int
		want string
	}{
		{"too large", &memRecorder{}, 1024, big, 413, "larger than 1024 bytes"},
		{"signed but not a notification", &memRecorder{}, 0, notJSON, 400, "not a webhook notification"},
		{"recorder fails", failing, 0, readFile(t, "text.json"), 503, "deliver again later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := post(newWebhook(t, tt.rec, tt.max), tt.body, metasim.Sign([]byte(secret), tt.body))
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.want) {
				t.Fatalf("got %d %q, want %d containing %q", w.Code, w.Body, tt.code, tt.want)
			}
		})
	}
	t.Run("method", func(t *testing.T) {
		w := httptest.NewRecorder()
		newWebhook(t, &memRecorder{}, 0).ServeHTTP(w, httptest.NewRequest(http.MethodPut, "/webhook", nil))
		if w.Code != 405 || w.Header().Get("Allow") != "GET, POST" {
			t.Fatalf("got %d Allow %q", w.Code, w.Header().Get("Allow"))
		}
	})
}

// blockingRecorder holds Record until released, to show the answer waits
// for the record.
type blockingRecorder struct {
	entered, release chan struct{}
}

func (b *blockingRecorder) Record(context.Context, whatsapp.Event) (bool, error) {
	b.entered <- struct{}{}
	<-b.release
	return false, nil
}

func TestWebhookAnswersAfterRecording(t *testing.T) {
	rec := &blockingRecorder{entered: make(chan struct{}), release: make(chan struct{})}
	h := newWebhook(t, rec, 0)
	body := readFile(t, "text.json")
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- post(h, body, metasim.Sign([]byte(secret), body)) }()
	<-rec.entered
	select {
	case w := <-done:
		t.Fatalf("answered %d before the event was recorded", w.Code)
	default:
	}
	close(rec.release)
	if w := <-done; w.Code != 200 {
		t.Fatalf("got %d after recording", w.Code)
	}
}
