package webhooks_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

// FuzzSignedDelivery posts bodies signed with the connection's app secret,
// as a merchant who knows it could: whatever the body, the answer is 200
// or 400, and nothing lands in the inbox under an account the merchant
// did not connect.
func FuzzSignedDelivery(f *testing.F) {
	for _, dir := range []string{"../whatsapp/testdata", "../messenger/testdata"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"metadata":{"phone_number_id":"999"},"messages":[{"id":"x","from":"1","type":"text","text":{"body":"hi"}}]}}]}]}`))
	fx := newFixture(f)
	ctx := context.Background()
	wa := fx.connect(f, connector.Connection{Merchant: "m1", Network: connector.NetworkWhatsApp, Account: waAccount, App: "a",
		Secrets: connector.Secrets{AccessToken: "t", AppSecret: "s", VerifyToken: "v"}})
	ig := fx.connect(f, connector.Connection{Merchant: "m1", Network: connector.NetworkInstagram, Account: igAccount, App: "a",
		Secrets: connector.Secrets{AccessToken: "t", AppSecret: "s2"}})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, c := range []struct{ network, id, secret string }{{"whatsapp", wa.ID, "s"}, {"instagram", ig.ID, "s2"}} {
			code, err := metasim.Deliver(ctx, fx.srv.Client(), fx.url(c.network, c.id), []byte(c.secret), body)
			if err != nil {
				t.Fatal(err)
			}
			if code != 200 && code != 400 {
				t.Fatalf("%s: a signed body answered %d", c.network, code)
			}
		}
		waIn, _ := fx.wa.Inbox(ctx, 0, 1000)
		for _, e := range waIn {
			if e.Event.PhoneNumberID != waAccount {
				t.Fatalf("recorded under phone number id %q", e.Event.PhoneNumberID)
			}
		}
		msIn, _ := fx.ms.Inbox(ctx, 0, 1000)
		for _, e := range msIn {
			if e.Event.AccountID != igAccount || e.Event.Network != "instagram" {
				t.Fatalf("recorded under %s account %q", e.Event.Network, e.Event.AccountID)
			}
		}
	})
}
