package api_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"
)

// Rollout bodies and log queries come from outside: whatever they hold, the
// answer is a success or a coded JSON error, never a panic or a 500.
func FuzzRequests(f *testing.F) {
	e := newEnv(f, 0)
	upload := httptest.NewRequest("POST", "/v1/apps/shop/versions", bytes.NewReader(module(f, "shop", "1")))
	upload.Header.Set("Authorization", "Bearer tok-m1")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, upload)
	if rec.Code != 201 {
		f.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	f.Add(uint8(0), []byte(`{"version":"1","percent":100}`), "")
	f.Add(uint8(1), []byte(`{"version":"1"}`), "")
	f.Add(uint8(1), []byte(`{}`), "")
	f.Add(uint8(2), []byte{}, "after=3&limit=2")
	f.Add(uint8(0), []byte(`{"version":"1","percent":-1e99}`), "")
	f.Fuzz(func(t *testing.T, which uint8, body []byte, query string) {
		var method, path string
		switch which % 3 {
		case 0:
			method, path = "POST", "/v1/apps/shop/promote"
		case 1:
			method, path = "POST", "/v1/apps/shop/rollback"
		default:
			if _, err := url.ParseQuery(query); err != nil {
				return
			}
			method, path = "GET", "/v1/apps/shop/logs?"+url.Values{"after": {query}}.Encode()
		}
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok-m1")
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var b errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
				t.Fatalf("error body %q", rec.Body)
			}
		}
	})
}
