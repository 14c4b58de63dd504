package whatsapp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
)

// FuzzParse: any body parses or is refused, never panics; a parsed body
// always makes at least one event, each with a key and a kind, and the
// same body makes the same keys.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"timestamp":12}]}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := whatsapp.Parse(body)
		if err != nil {
			return
		}
		if len(evs) == 0 {
			t.Fatalf("Parse(%q): no events and no error: an event would be dropped silently", body)
		}
		again, _ := whatsapp.Parse(body)
		keys := map[string]bool{}
		for i, e := range evs {
			if e.Key == "" || e.Kind == "" {
				t.Fatalf("event %d of %q has no key or kind: %+v", i, body, e)
			}
			if e.Kind == whatsapp.KindUnsupported && e.Raw == "" {
				t.Fatalf("unsupported event %d of %q does not say what it is", i, body)
			}
			if e.Key != again[i].Key {
				t.Fatalf("event %d of %q: key %q then %q", i, body, e.Key, again[i].Key)
			}
			if strings.HasPrefix(e.Key, "body:") && keys[e.Key] {
				t.Fatalf("two events of %q share the key %q", body, e.Key)
			}
			keys[e.Key] = true
		}
	})
}
