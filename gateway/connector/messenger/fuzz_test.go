package messenger_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/passerelle/passerelle/gateway/connector/messenger"
)

// FuzzParse: any body either is refused with an error or yields at least
// one event, each with a key, a network and a kind, and unsupported ones
// with a name; never a panic.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"object":"page","entry":[{"messaging":[{"timestamp":1e400,"read":{"watermark":"x"}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := messenger.Parse(body)
		if err != nil {
			return
		}
		if len(events) == 0 {
			t.Fatalf("a notification yielded no event: %q", body)
		}
		for _, e := range events {
			if e.Key == "" || e.Kind == "" || e.Network == "" {
				t.Fatalf("incomplete event %+v from %q", e, body)
			}
			if e.Kind == messenger.KindUnsupported && e.Raw == "" {
				t.Fatalf("unsupported event without a name %+v from %q", e, body)
			}
		}
	})
}
