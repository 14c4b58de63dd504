package webhooks_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/connstore"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/gateway/connector/webhooks"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
)

// Account ids of the payloads in the network packages' testdata.
const (
	waAccount = "106540352242922"
	igAccount = "17841400000000001"
)

type fixture struct {
	srv   *httptest.Server
	conns *connstore.Store
	wa    *whatsapp.Store
	ms    *messenger.Store
	reg   *prometheus.Registry
	logs  *bytes.Buffer
	db    *bbolt.DB
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "p.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := connstore.ParseKeyring(connstore.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}, db: db}
	if f.conns, err = connstore.Open(db, connstore.Config{Keys: keys}); err != nil {
		t.Fatal(err)
	}
	if f.wa, err = whatsapp.OpenStore(db, whatsapp.StoreConfig{}); err != nil {
		t.Fatal(err)
	}
	if f.ms, err = messenger.OpenStore(db, connector.StoreConfig{}); err != nil {
		t.Fatal(err)
	}
	h, err := webhooks.New(webhooks.Config{Connections: f.conns, WhatsApp: f.wa, Messenger: f.ms, MaxBody: 64 << 10,
		Log: slog.New(slog.NewTextHandler(f.logs, nil)), Metrics: f.reg})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		f.srv.Close()
		f.wa.Close()
		f.ms.Close()
		db.Close()
	})
	return f
}

func (f *fixture) connect(t testing.TB, c connector.Connection) connstore.Info {
	t.Helper()
	info, _, err := f.conns.Connect(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func (f *fixture) url(network, id string) string {
	return f.srv.URL + "/webhooks/" + network + "/" + id
}

func (f *fixture) post(t *testing.T, u, secret string, body []byte) int {
	t.Helper()
	code, err := metasim.Deliver(context.Background(), f.srv.Client(), u, []byte(secret), body)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func (f *fixture) get(t *testing.T, u string, q url.Values) (int, string) {
	t.Helper()
	resp, err := f.srv.Client().Get(u + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// counter reads a counter from the registry by its labels.
func (f *fixture) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func testdata(t testing.TB, network, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", network, "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wa(merchant, account string) connector.Connection {
	return connector.Connection{Merchant: merchant, Network: connector.NetworkWhatsApp, Account: account, App: "lunch",
		Secrets: connector.Secrets{AccessToken: "EAAGwatoken" + merchant, AppSecret: "wasecret" + merchant, VerifyToken: "waverify" + merchant}}
}

func TestVerification(t *testing.T) {
	f := newFixture(t)
	c := f.connect(t, wa("m1", waAccount))
	noToken := f.connect(t, connector.Connection{Merchant: "m1", Network: connector.NetworkMessenger, Account: "105331912345678", App: "lunch",
		Secrets: connector.Secrets{AccessToken: "EAAGpage", AppSecret: "pagesecret"}})
	tests := []struct {
		name    string
		url     string
		token   string
		code    int
		body    string
		outcome string
	}{
		{"right token", f.url("whatsapp", c.ID), "waverifym1", 200, "1158201444", webhooks.OutcomeVerified},
		{"wrong token", f.url("whatsapp", c.ID), "guess", 403, "does not match", webhooks.OutcomeVerifyRefused},
		{"unknown id", f.url("whatsapp", "cnosuchconnection"), "waverifym1", 404, "no such webhook", ""},
		{"another network's path", f.url("messenger", c.ID), "waverifym1", 404, "no such webhook", ""},
		{"unknown network", f.url("telegram", c.ID), "waverifym1", 404, "no such webhook", ""},
		{"no verify token yet", f.url("messenger", noToken.ID), "", 403, "connections rotate " + noToken.ID + " --verify-token-file", webhooks.OutcomeVerifyRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.get(t, tt.url, url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {tt.token}, "hub.challenge": {"1158201444"}})
			if code != tt.code || !strings.Contains(body, tt.body) {
				t.Fatalf("got %d %q, want %d with %q", code, body, tt.code, tt.body)
			}
			if code == 404 && strings.Contains(body, "whatsapp") {
				t.Errorf("a 404 says more than that there is no such webhook: %q", body)
			}
		})
	}
	if n := f.counter(t, "passerelle_connector_webhook_requests_total", map[string]string{"connection": c.ID, "outcome": webhooks.OutcomeVerified}); n != 1 {
		t.Errorf("verified requests: %v, want 1", n)
	}
	if n := f.counter(t, "passerelle_connector_webhook_unknown_total", map[string]string{"network": "whatsapp"}); n != 1 {
		t.Errorf("unknown requests: %v, want 1", n)
	}
}

// A signed notification is recorded once, in the whatsapp store, whatever
// Meta redelivers; a wrong signature or a body over the cap records
// nothing; a rotated app secret counts from the next request.
func TestDeliveryWhatsApp(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c := f.connect(t, wa("m1", waAccount))
	u := f.url("whatsapp", c.ID)
	body := testdata(t, "whatsapp", "text.json")

	if code := f.post(t, u, "wasecretm1", body); code != 200 {
		t.Fatalf("signed delivery: %d", code)
	}
	if code := f.post(t, u, "wasecretm1", body); code != 200 {
		t.Fatalf("redelivery: %d", code)
	}
	if code := f.post(t, u, "not-the-secret", body); code != 403 {
		t.Fatalf("wrong signature: %d", code)
	}
	if code := f.post(t, u, "wasecretm1", bytes.Repeat([]byte(" "), 65<<10)); code != 413 {
		t.Fatalf("oversized body: %d", code)
	}
	if code := f.post(t, u, "wasecretm1", []byte(`{"object":`)); code != 400 {
		t.Fatalf("signed garbage: %d", code)
	}
	inbox, err := f.wa.Inbox(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(inbox) != 1 || inbox[0].Event.Text != "Does it come in another color?" || inbox[0].Event.PhoneNumberID != waAccount {
		t.Fatalf("inbox: %+v", inbox)
	}

	if _, err := f.conns.Rotate(ctx, c.ID, connector.Secrets{AppSecret: "rotatedsecret"}); err != nil {
		t.Fatal(err)
	}
	body2 := bytes.Replace(body, []byte("wamid.HBgL"), []byte("wamid.XXXX"), 1)
	if code := f.post(t, u, "wasecretm1", body2); code != 403 {
		t.Fatalf("the old app secret after rotation: %d, want 403", code)
	}
	if code := f.post(t, u, "rotatedsecret", body2); code != 200 {
		t.Fatalf("the new app secret after rotation: %d, want 200", code)
	}
	if inbox, _ := f.wa.Inbox(ctx, 0, 10); len(inbox) != 2 {
		t.Fatalf("inbox after rotation: %d events, want 2", len(inbox))
	}

	for outcome, want := range map[string]float64{webhooks.OutcomeAccepted: 2, webhooks.OutcomeDuplicate: 1,
		webhooks.OutcomeBadSignature: 2, webhooks.OutcomeTooLarge: 1, webhooks.OutcomeBadPayload: 1} {
		if n := f.counter(t, "passerelle_connector_webhook_requests_total", map[string]string{"network": "whatsapp", "connection": c.ID, "outcome": outcome}); n != want {
			t.Errorf("outcome %s: %v, want %v", outcome, n, want)
		}
	}
	for result, want := range map[string]float64{webhooks.ResultRecorded: 2, webhooks.ResultDuplicate: 1} {
		if n := f.counter(t, "passerelle_connector_events_total", map[string]string{"connection": c.ID, "result": result}); n != want {
			t.Errorf("events %s: %v, want %v", result, n, want)
		}
	}
	for _, secret := range []string{"wasecretm1", "rotatedsecret", "EAAGwatokenm1", "waverifym1"} {
		if strings.Contains(f.logs.String(), secret) {
			t.Errorf("the log holds secret %q", secret)
		}
	}
}

// An event that names another merchant's account is dropped even though
// it is signed with the connection's own app secret; one for another
// account of the same merchant and Meta app is kept; one without an
// account is given the connection's.
func TestEventsBelongToTheirAccount(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	victim := f.connect(t, wa("m2", waAccount))
	eve := f.connect(t, wa("m1", "555000111"))
	if code := f.post(t, f.url("whatsapp", eve.ID), "wasecretm1", testdata(t, "whatsapp", "text.json")); code != 200 {
		t.Fatalf("delivery: %d", code)
	}
	if inbox, _ := f.wa.Inbox(ctx, 0, 10); len(inbox) != 0 {
		t.Fatalf("an event for %s posted on %s's webhook was recorded: %+v", victim.Account, eve.ID, inbox)
	}
	if n := f.counter(t, "passerelle_connector_events_total", map[string]string{"connection": eve.ID, "result": webhooks.ResultForeignAccount}); n != 1 {
		t.Errorf("foreign events: %v, want 1", n)
	}

	sibling := wa("m1", "555000222")
	f.connect(t, sibling)
	other := bytes.ReplaceAll(testdata(t, "whatsapp", "text.json"), []byte(waAccount), []byte("555000222"))
	if code := f.post(t, f.url("whatsapp", eve.ID), "wasecretm1", other); code != 200 {
		t.Fatalf("delivery: %d", code)
	}
	if code := f.post(t, f.url("whatsapp", eve.ID), "wasecretm1", testdata(t, "whatsapp", "entry_empty.json")); code != 200 {
		t.Fatalf("delivery: %d", code)
	}
	inbox, err := f.wa.Inbox(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(inbox) != 2 || inbox[0].Event.PhoneNumberID != "555000222" || inbox[1].Event.PhoneNumberID != eve.Account {
		t.Fatalf("inbox: %+v", inbox)
	}
}

// Instagram and Messenger share the messenger store; each connection
// takes only its own network's object.
func TestDeliveryInstagram(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ig := f.connect(t, connector.Connection{Merchant: "m1", Network: connector.NetworkInstagram, Account: igAccount, App: "lunch",
		Secrets: connector.Secrets{AccessToken: "IGQtoken", AppSecret: "igsecret", VerifyToken: "igverify"}})
	page := f.connect(t, connector.Connection{Merchant: "m1", Network: connector.NetworkMessenger, Account: igAccount, App: "lunch",
		Secrets: connector.Secrets{AccessToken: "EAAGpage", AppSecret: "igsecret"}})
	body := testdata(t, "messenger", "instagram_text.json")
	if code := f.post(t, f.url("instagram", ig.ID), "igsecret", body); code != 200 {
		t.Fatalf("instagram delivery: %d", code)
	}
	if code := f.post(t, f.url("messenger", page.ID), "igsecret", body); code != 200 {
		t.Fatalf("instagram body on the page's webhook: %d", code)
	}
	inbox, err := f.ms.Inbox(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(inbox) != 1 || inbox[0].Event.Network != messenger.Instagram || inbox[0].Event.AccountID != igAccount || inbox[0].Event.Text != "is the ramen open?" {
		t.Fatalf("inbox: %+v", inbox)
	}
	if n := f.counter(t, "passerelle_connector_events_total", map[string]string{"connection": page.ID, "result": webhooks.ResultForeignAccount}); n != 1 {
		t.Errorf("instagram events on a page's webhook: %v foreign, want 1", n)
	}
}

// A connection whose secrets cannot be opened (the key is gone) answers
// 503, so Meta delivers again once the operator has fixed the keyring.
func TestUnreadableConnection(t *testing.T) {
	f := newFixture(t)
	c := f.connect(t, wa("m1", waAccount))
	other, _ := connstore.ParseKeyring(connstore.GenerateKey())
	s, err := connstore.Open(f.db, connstore.Config{Keys: other})
	if err != nil {
		t.Fatal(err)
	}
	h, err := webhooks.New(webhooks.Config{Connections: s, WhatsApp: f.wa, Messenger: f.ms})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	code, err := metasim.Deliver(context.Background(), srv.Client(), srv.URL+"/webhooks/whatsapp/"+c.ID, []byte("wasecretm1"), testdata(t, "whatsapp", "text.json"))
	if err != nil || code != 503 {
		t.Fatalf("delivery with the wrong key: %d, %v; want 503", code, err)
	}
}

// Meta redelivering one notification many times at once, while the
// merchant rotates the token: every delivery is answered 200 and the
// event is recorded once.
func TestConcurrentRedeliveries(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c := f.connect(t, wa("m1", waAccount))
	body := testdata(t, "whatsapp", "text.json")
	const n = 16
	codes := make(chan int, n)
	for i := range n {
		go func() {
			if i%4 == 0 {
				f.conns.Rotate(ctx, c.ID, connector.Secrets{AccessToken: fmt.Sprintf("EAAGrotated%d", i)})
			}
			code, err := metasim.Deliver(ctx, f.srv.Client(), f.url("whatsapp", c.ID), []byte("wasecretm1"), body)
			if err != nil {
				code = -1
			}
			codes <- code
		}()
	}
	for range n {
		if code := <-codes; code != 200 {
			t.Errorf("a redelivery answered %d", code)
		}
	}
	if inbox, err := f.wa.Inbox(ctx, 0, 100); err != nil || len(inbox) != 1 {
		t.Fatalf("inbox: %d events, %v; want 1", len(inbox), err)
	}
	if n := f.counter(t, "passerelle_connector_events_total", map[string]string{"connection": c.ID, "result": webhooks.ResultDuplicate}); n != 15 {
		t.Errorf("duplicates counted: %v, want 15", n)
	}
}
