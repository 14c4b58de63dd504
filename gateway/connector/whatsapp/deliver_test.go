package whatsapp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
)

// Over a real socket: the simulator signs and delivers as Meta does, the
// webhook verifies and records into the store; a redelivery is a
// duplicate, a delivery signed by another app is refused.
func TestSimulatorDeliversToWebhook(t *testing.T) {
	s, _ := openStore(t, filepath.Join(t.TempDir(), "p.db"), whatsapp.StoreConfig{})
	srv := httptest.NewServer(newWebhook(t, s, 0))
	defer srv.Close()
	ctx := context.Background()
	steps := []struct {
		file   string
		secret string
		status int
		inbox  int
	}{
		{"text.json", secret, 200, 1},
		{"text.json", secret, 200, 1},
		{"status_failed.json", "another-app", 403, 1},
		{"status_failed.json", secret, 200, 2},
		{"status_read.json", secret, 200, 3},
		{"status_read.json", secret, 200, 3},
	}
	for i, st := range steps {
		status, err := metasim.Deliver(ctx, http.DefaultClient, srv.URL, []byte(st.secret), readFile(t, st.file))
		if err != nil {
			t.Fatal(err)
		}
		if status != st.status {
			t.Fatalf("step %d (%s): status %d, want %d", i, st.file, status, st.status)
		}
		if n := len(inbox(t, s)); n != st.inbox {
			t.Fatalf("step %d (%s): inbox holds %d, want %d", i, st.file, n, st.inbox)
		}
	}
	es := inbox(t, s)
	if es[1].Event.Status != whatsapp.StatusFailed || es[1].Event.Errors[0].Code != 131047 || whatsapp.Classify(es[1].Event.Errors[0].Code) != whatsapp.ClassWindowClosed {
		t.Fatalf("the failed status lost its error: %+v", es[1].Event)
	}
}
