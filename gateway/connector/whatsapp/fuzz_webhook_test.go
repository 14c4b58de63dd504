package whatsapp_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
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
	f.Add([]byte(`{"object":"whatsapp_business_account"}`), false, metasim.Sign([]byte("other"), []byte(`{}`)))
	f.Fuzz(func(t *testing.T, body []byte, signed bool, sig string) {
		if signed {
			sig = metasim.Sign([]byte(secret), body)
		}
		rec := &memRecorder{}
		w := post(newWebhook(t, rec, 0), body, sig)
		valid := whatsapp.ValidSignature([]byte(secret), body, sig)
		evs, perr := whatsapp.Parse(body)
		switch {
		case sig == "" && w.Code != 401:
			t.Fatalf("no signature: %d", w.Code)
		case sig != "" && !valid && w.Code != 403:
			t.Fatalf("signature %q that does not match: %d", sig, w.Code)
		case valid && perr == nil && w.Code != 200:
			t.Fatalf("signed notification refused: %d %s", w.Code, w.Body)
		case valid && perr != nil && w.Code != 400:
			t.Fatalf("signed body that is no notification: %d", w.Code)
		case signed && !valid:
			t.Fatal("Sign and ValidSignature disagree")
		}
		if w.Code == 200 {
			seen := map[string]bool{}
			for _, e := range evs {
				seen[e.Key] = true
			}
			if len(rec.events) != len(seen) {
				t.Fatalf("200 with %d events recorded of %d", len(rec.events), len(seen))
			}
		} else if len(rec.events) != 0 {
			t.Fatalf("%d events recorded from a refused post", len(rec.events))
		}
	})
}
