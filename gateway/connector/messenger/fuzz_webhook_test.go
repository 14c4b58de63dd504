package messenger_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

// FuzzWebhook: whatever body and signature arrive, the webhook answers
// 200 only for a body signed with the app secret that Parse reads, and
// then has recorded its events; a wrong signature is 403; never a panic.
func FuzzWebhook(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true, "")
		f.Add(b, false, "sha256=00")
	}
	f.Add([]byte(`{"object":"instagram"}`), false, metasim.Sign([]byte("other"), []byte(`{}`)))
	f.Fuzz(func(t *testing.T, body []byte, signed bool, sig string) {
		if signed {
			sig = metasim.Sign([]byte(secret), body)
		}
		var got []messenger.Event
		h := newWebhook(t, recorderFunc(func(e messenger.Event) error { got = append(got, e); return nil }), 0)
		r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
		if sig != "" {
			r.Header.Set("X-Hub-Signature-256", sig)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		valid := metasim.Sign([]byte(secret), body) == sig
		evs, perr := messenger.Parse(body)
		switch {
		case sig == "" && w.Code != 401:
			t.Fatalf("no signature: %d", w.Code)
		case sig != "" && !valid && w.Code != 403:
			t.Fatalf("signature %q that does not match: %d", sig, w.Code)
		case valid && perr == nil && w.Code != 200:
			t.Fatalf("signed notification refused: %d %s", w.Code, w.Body)
		case valid && perr != nil && w.Code != 400:
			t.Fatalf("signed body that is no notification: %d", w.Code)
		}
		if w.Code == 200 && len(got) != len(evs) || w.Code != 200 && len(got) != 0 {
			t.Fatalf("status %d with %d events recorded of %d", w.Code, len(got), len(evs))
		}
	})
}
