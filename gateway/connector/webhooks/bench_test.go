package webhooks_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/connstore"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/gateway/connector/webhooks"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
)

// BenchmarkWebhook measures a signed WhatsApp notification of one new
// message through the per-connection route (the connection read and its
// three secrets opened at every request, then the network's handler)
// against the baseline: the network's handler built once with the
// secrets in memory. Both record into the same store, on a bbolt file
// opened with NoSync so that the disk does not hide the difference.
func BenchmarkWebhook(b *testing.B) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "p.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	keys, _ := connstore.ParseKeyring(connstore.GenerateKey())
	conns, _ := connstore.Open(db, connstore.Config{Keys: keys})
	wa, _ := whatsapp.OpenStore(db, whatsapp.StoreConfig{})
	defer wa.Close()
	ms, _ := messenger.OpenStore(db, connector.StoreConfig{})
	defer ms.Close()
	info, _, err := conns.Connect(context.Background(), connector.Connection{Merchant: "m1", Network: connector.NetworkWhatsApp,
		Account: waAccount, App: "lunch", Secrets: connector.Secrets{AccessToken: "EAAGtoken", AppSecret: "appsecret", VerifyToken: "verify"}})
	if err != nil {
		b.Fatal(err)
	}
	routed, err := webhooks.New(webhooks.Config{Connections: conns, WhatsApp: wa, Messenger: ms})
	if err != nil {
		b.Fatal(err)
	}
	direct, err := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: "appsecret", VerifyToken: "verify", Recorder: wa})
	if err != nil {
		b.Fatal(err)
	}
	tmpl := testdata(b, "whatsapp", "text.json")
	seq := 0
	run := func(b *testing.B, h http.Handler) {
		for b.Loop() {
			seq++
			body := bytes.Replace(tmpl, []byte("wamid.HBgL"), fmt.Appendf(nil, "wamid.%08d", seq), 1)
			req := httptest.NewRequest(http.MethodPost, "/webhooks/whatsapp/"+info.ID, bytes.NewReader(body))
			req.Header.Set(connector.SignatureHeader, metasim.Sign([]byte("appsecret"), body))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	}
	b.Run("baseline=handler-built-once", func(b *testing.B) { run(b, direct) })
	b.Run("route=lookup-per-request", func(b *testing.B) { run(b, routed) })
}
