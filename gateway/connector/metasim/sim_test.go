package metasim_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

const (
	secret = "app-secret"
	waba   = "102290129340398"
	pageID = "105331912345678"
	igID   = "17841400000000001"
	waUser = "16505551234"
	psid   = "6912345678901234"
	igsid  = "1234567890123456"
)

// hook is a webhook endpoint that checks Meta's signature itself and
// keeps what it was posted; it answers the first fail posts with 500.
type hook struct {
	t      *testing.T
	mu     sync.Mutex
	fail   int
	bodies chan []byte
	srv    *httptest.Server
}

func newHook(t *testing.T, fail int) *hook {
	h := &hook{t: t, fail: fail, bodies: make(chan []byte, 100)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		if r.Header.Get("X-Hub-Signature-256") != "sha256="+hex.EncodeToString(m.Sum(nil)) || r.Header.Get("Content-Type") != "application/json" {
			h.t.Errorf("a post with signature %q and type %q does not match its body", r.Header.Get("X-Hub-Signature-256"), r.Header.Get("Content-Type"))
		}
		h.mu.Lock()
		failing := h.fail > 0
		h.fail--
		h.mu.Unlock()
		if failing {
			w.WriteHeader(500)
			return
		}
		h.bodies <- body
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// next returns the next notification taken, decoded.
func (h *hook) next() map[string]any {
	h.t.Helper()
	select {
	case b := <-h.bodies:
		var n map[string]any
		if err := json.Unmarshal(b, &n); err != nil {
			h.t.Fatalf("notification %s: %v", b, err)
		}
		return n
	case <-time.After(time.Minute):
		h.t.Fatal("no notification came")
	}
	return nil
}

func (h *hook) none(sim *metasim.Sim) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sim.Flush(ctx); err != nil {
		h.t.Fatal(err)
	}
	select {
	case b := <-h.bodies:
		h.t.Fatalf("unexpected notification %s", b)
	default:
	}
}

// at walks a decoded JSON value: at(n, "entry", 0, "id").
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func accounts(url string) []metasim.Account {
	return []metasim.Account{
		{Network: metasim.WhatsApp, ID: phone, BusinessID: waba, DisplayPhone: "15550783881", Name: "Shop", Token: token, AppSecret: secret, WebhookURL: url},
		{Network: metasim.Messenger, ID: pageID, Name: "Shop Page", Token: "page-token", AppSecret: secret, WebhookURL: url},
		{Network: metasim.Instagram, ID: igID, Name: "shop.ig", Token: "ig-token", AppSecret: secret, WebhookURL: url},
	}
}

var people = []metasim.User{
	{Network: metasim.WhatsApp, ID: waUser, Name: "Sheena Nelson"},
	{Network: metasim.Messenger, ID: psid, Name: "Max"},
	{Network: metasim.Instagram, ID: igsid, Name: "Ines"},
}

func newSim(t *testing.T, cfg metasim.SimConfig) (*metasim.Sim, string) {
	t.Helper()
	sim, err := metasim.NewSim(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	return sim, srv.URL
}

// post sends a Graph API request as a connector would.
func post(t *testing.T, url, tok, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func waText(to, text string) string {
	return `{"messaging_product":"whatsapp","to":"` + to + `","type":"text","text":{"body":"` + text + `"}}`
}

func noStatuses() metasim.StatusConfig { return metasim.StatusConfig{Off: true} }

// A person's message reaches the webhook signed, in the network's shape.
func TestSayPostsTheNetworksNotification(t *testing.T) {
	h := newHook(t, 0)
	sim, _ := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people})
	tests := []struct {
		net  metasim.Network
		user string
		want map[string]any // path (dotted) -> value
	}{
		{metasim.WhatsApp, waUser, map[string]any{
			"object": "whatsapp_business_account", "entry.0.id": waba, "entry.0.changes.0.field": "messages",
			"entry.0.changes.0.value.messaging_product":             "whatsapp",
			"entry.0.changes.0.value.metadata.phone_number_id":      phone,
			"entry.0.changes.0.value.metadata.display_phone_number": "15550783881",
			"entry.0.changes.0.value.contacts.0.wa_id":              waUser,
			"entry.0.changes.0.value.contacts.0.profile.name":       "Sheena Nelson",
			"entry.0.changes.0.value.messages.0.from":               waUser,
			"entry.0.changes.0.value.messages.0.type":               "text",
			"entry.0.changes.0.value.messages.0.text.body":          "hello",
		}},
		{metasim.Messenger, psid, map[string]any{
			"object": "page", "entry.0.id": pageID, "entry.0.messaging.0.sender.id": psid,
			"entry.0.messaging.0.recipient.id": pageID, "entry.0.messaging.0.message.text": "hello",
		}},
		{metasim.Instagram, igsid, map[string]any{
			"object": "instagram", "entry.0.id": igID, "entry.0.messaging.0.sender.id": igsid,
			"entry.0.messaging.0.recipient.id": igID, "entry.0.messaging.0.message.text": "hello",
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.net), func(t *testing.T) {
			id, err := sim.Say(tt.net, tt.user, "hello")
			if err != nil {
				t.Fatal(err)
			}
			n := h.next()
			for path, want := range tt.want {
				var p []any
				for _, k := range strings.Split(path, ".") {
					if i := strings.IndexFunc(k, func(r rune) bool { return r < '0' || r > '9' }); i < 0 {
						var x int
						json.Unmarshal([]byte(k), &x)
						p = append(p, x)
					} else {
						p = append(p, k)
					}
				}
				if got := at(n, p...); got != want {
					t.Errorf("%s = %v, want %v", path, got, want)
				}
			}
			mid := at(n, "entry", 0, "changes", 0, "value", "messages", 0, "id")
			if tt.net != metasim.WhatsApp {
				mid = at(n, "entry", 0, "messaging", 0, "message", "mid")
			}
			if mid != id {
				t.Errorf("message id %v, Say returned %s", mid, id)
			}
			th, _ := sim.Thread(tt.net, tt.user)
			if len(th) != 1 || th[0].From != "person" || th[0].Text != "hello" {
				t.Errorf("thread %+v", th)
			}
		})
	}
	if _, err := sim.Say(metasim.WhatsApp, "999999999", "hi"); !errors.Is(err, metasim.ErrNoUser) {
		t.Errorf("Say to a stranger: %v, want ErrNoUser", err)
	}
	if _, err := sim.Say(metasim.WhatsApp, waUser, "  "); err == nil {
		t.Error("an empty message was sent")
	}
	if _, err := sim.Say(metasim.WhatsApp, waUser, strings.Repeat("é", 4097)); err == nil || !strings.Contains(err.Error(), "4096") {
		t.Errorf("a message of 4097 characters: %v", err)
	}
}

// A webhook that does not answer 200 gets the same body again, until it
// does; one that never does is given up on after RetryFor.
func TestRedeliversUntilTaken(t *testing.T) {
	h := newHook(t, 2)
	sim, _ := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people,
		Delivery: metasim.DeliveryConfig{Retry: time.Millisecond, RetryMax: 4 * time.Millisecond, RetryFor: time.Minute}})
	if _, err := sim.Say(metasim.Messenger, psid, "again?"); err != nil {
		t.Fatal(err)
	}
	if got := at(h.next(), "entry", 0, "messaging", 0, "message", "text"); got != "again?" {
		t.Fatalf("text %v", got)
	}
	h.none(sim)
	as := sim.Attempts()
	if len(as) != 3 {
		t.Fatalf("%d attempts, want 3: %+v", len(as), as)
	}
	for i, a := range as {
		want := 500
		if i == 2 {
			want = 200
		}
		if a.Try != i+1 || a.Status != want || !bytes.Equal(a.Body, as[0].Body) || a.GaveUp {
			t.Errorf("attempt %d: try %d status %d gave up %v, same body %v", i, a.Try, a.Status, a.GaveUp, bytes.Equal(a.Body, as[0].Body))
		}
	}

	down := newHook(t, 1<<30)
	sim2, _ := newSim(t, metasim.SimConfig{Accounts: accounts(down.srv.URL), Users: people,
		Delivery: metasim.DeliveryConfig{Retry: time.Millisecond, RetryMax: 2 * time.Millisecond, RetryFor: 20 * time.Millisecond}})
	sim2.Say(metasim.WhatsApp, waUser, "anyone?")
	down.none(sim2)
	as = sim2.Attempts()
	if len(as) < 2 || !as[len(as)-1].GaveUp {
		t.Fatalf("attempts %+v: want retries and a last one that gives up", as)
	}
	for _, a := range as[:len(as)-1] {
		if a.GaveUp {
			t.Fatal("gave up before the last attempt")
		}
	}
}

// Duplicates: 1 posts every notification twice, the second marked.
func TestDeliberateDuplicates(t *testing.T) {
	h := newHook(t, 0)
	sim, _ := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people, Delivery: metasim.DeliveryConfig{Duplicates: 1}})
	sim.Say(metasim.WhatsApp, waUser, "once")
	a, b := h.next(), h.next()
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Fatalf("duplicate differs:\n%s\n%s", ja, jb)
	}
	h.none(sim)
	as := sim.Attempts()
	if len(as) != 2 || as[0].Duplicate || !as[1].Duplicate {
		t.Fatalf("attempts %+v", as)
	}
}

// Batch gathers what falls due together into one notification of
// several entries.
func TestBatchedEntries(t *testing.T) {
	h := newHook(t, 0)
	sim2, _ := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people, Delivery: metasim.DeliveryConfig{Batch: 500 * time.Millisecond}})
	for _, text := range []string{"one", "two", "three"} {
		sim2.Say(metasim.Messenger, psid, text)
	}
	n := h.next()
	es, _ := n["entry"].([]any)
	if len(es) != 3 || at(n, "object") != "page" {
		t.Fatalf("notification %v: want the three messages in one", n)
	}
	for i, want := range []string{"one", "two", "three"} {
		if got := at(es[i], "messaging", 0, "message", "text"); got != want {
			t.Errorf("entry %d: %v, want %s", i, got, want)
		}
	}
	h.none(sim2)
}

// After a send Meta accepted, statuses follow: sent, delivered, read; or
// out of order, or without delivered.
func TestStatusesFollowASend(t *testing.T) {
	tests := []struct {
		name string
		cfg  metasim.StatusConfig
		want []string
	}{
		{"in order", metasim.StatusConfig{Sent: time.Millisecond, Delivered: 20 * time.Millisecond, Read: 40 * time.Millisecond}, []string{"sent", "delivered", "read"}},
		{"out of order", metasim.StatusConfig{Sent: time.Millisecond, Delivered: 20 * time.Millisecond, Read: 40 * time.Millisecond, OutOfOrder: true}, []string{"read", "delivered", "sent"}},
		{"skip delivered", metasim.StatusConfig{Sent: time.Millisecond, Read: 20 * time.Millisecond, SkipDelivered: true}, []string{"sent", "read"}},
		{"never read", metasim.StatusConfig{Sent: time.Millisecond, Delivered: 20 * time.Millisecond, NoRead: true}, []string{"sent", "delivered"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHook(t, 0)
			sim, base := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people, Statuses: tt.cfg})
			sim.Say(metasim.WhatsApp, waUser, "hi")
			h.next()
			status, resp := post(t, base+"/v23.0/"+phone+"/messages", token, waText(waUser, "hello back"))
			if status != 200 {
				t.Fatalf("send: %d %v", status, resp)
			}
			wamid := at(resp, "messages", 0, "id")
			var got []string
			var stamps []string
			for range tt.want {
				n := h.next()
				st := at(n, "entry", 0, "changes", 0, "value", "statuses", 0)
				if at(st, "id") != wamid || at(st, "recipient_id") != waUser || at(st, "pricing", "category") != "service" {
					t.Fatalf("status %v is not of the message sent", st)
				}
				got = append(got, at(st, "status").(string))
				stamps = append(stamps, at(st, "timestamp").(string))
			}
			h.none(sim)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("statuses %v, want %v", got, tt.want)
			}
			th, _ := sim.Thread(metasim.WhatsApp, waUser)
			last := th[len(th)-1]
			if last.From != "business" || last.Text != "hello back" || last.Status != map[bool]string{true: "read", false: "delivered"}[!tt.cfg.NoRead] {
				t.Fatalf("business bubble %+v", last)
			}
		})
	}
}

// FailDelivery: Meta accepts the send, then reports it failed.
func TestFailedStatus(t *testing.T) {
	h := newHook(t, 0)
	sim, base := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people, Statuses: metasim.StatusConfig{Sent: time.Millisecond}})
	sim.Say(metasim.WhatsApp, waUser, "hi")
	h.next()
	if err := sim.FailDelivery(waUser, 131026); err != nil {
		t.Fatal(err)
	}
	status, resp := post(t, base+"/v23.0/"+phone+"/messages", token, waText(waUser, "lost"))
	if status != 200 {
		t.Fatalf("send: %d %v", status, resp)
	}
	st := at(h.next(), "entry", 0, "changes", 0, "value", "statuses", 0)
	if at(st, "status") != "failed" || at(st, "errors", 0, "code") != float64(131026) || at(st, "errors", 0, "title") != "Message undeliverable" ||
		at(st, "errors", 0, "error_data", "details") == nil || at(st, "id") != at(resp, "messages", 0, "id") {
		t.Fatalf("status %v", st)
	}
	h.none(sim)
	th, _ := sim.Thread(metasim.WhatsApp, waUser)
	if last := th[len(th)-1]; last.Status != "failed" || last.Error == "" {
		t.Fatalf("bubble %+v", last)
	}
	if err := sim.FailDelivery("42424242", 131026); !errors.Is(err, metasim.ErrNoUser) {
		t.Fatal(err)
	}
}

// WhatsApp's window: 24 hours after the person's last message, only a
// registered template goes, with the parameters it declares. Free-form
// text outside the window is accepted with a wamid, and its status is
// failed with 131047, as Meta reports it.
func TestWhatsAppWindowAndTemplates(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	h := newHook(t, 0)
	sim, base := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people, Now: clock, Statuses: noStatuses()})
	srv, _ := sim.WhatsApp(phone)
	if err := srv.RegisterTemplate(metasim.Template{Name: "order_ready", Language: "en_US", Category: "UTILITY", Body: "Hi {{1}}, order {{2}} is ready.", Examples: []string{"Ana", "42"}}); err != nil {
		t.Fatal(err)
	}
	url := base + "/v23.0/" + phone + "/messages"
	tmpl := func(name, lang string, params ...string) string {
		var ps []string
		for _, p := range params {
			ps = append(ps, `{"type":"text","text":"`+p+`"}`)
		}
		return `{"messaging_product":"whatsapp","to":"` + waUser + `","type":"template","template":{"name":"` + name + `","language":{"code":"` + lang + `"},"components":[{"type":"body","parameters":[` + strings.Join(ps, ",") + `]}]}}`
	}
	steps := []struct {
		name    string
		advance time.Duration
		body    string
		code    int // in the answer
		failed  int // in a failed status after a 200
	}{
		{"never wrote", 0, waText(waUser, "hi"), 0, 131047},
		{"template without a window", 0, tmpl("order_ready", "en_US", "Ana", "42"), 0, 0},
		{"person writes", -1, "", 0, 0},
		{"inside the window", 23 * time.Hour, waText(waUser, "still here"), 0, 0},
		{"window closed", 2 * time.Hour, waText(waUser, "late"), 0, 131047},
		{"unknown template", 0, tmpl("order_gone", "en_US", "Ana", "42"), 132001, 0},
		{"other language", 0, tmpl("order_ready", "fr", "Ana", "42"), 132001, 0},
		{"one parameter short", 0, tmpl("order_ready", "en_US", "Ana"), 132000, 0},
		{"one too many", 0, tmpl("order_ready", "en_US", "Ana", "42", "x"), 132000, 0},
		{"template fits", 0, tmpl("order_ready", "en_US", "Ana", "42"), 0, 0},
	}
	for _, st := range steps {
		if st.advance > 0 {
			advance(st.advance)
		}
		if st.advance < 0 {
			sim.Say(metasim.WhatsApp, waUser, "hello")
			h.next()
			continue
		}
		status, resp := post(t, url, token, st.body)
		code, _ := at(resp, "error", "code").(float64)
		if int(code) != st.code || (st.code == 0) != (status == 200) {
			t.Fatalf("%s: %d %v, want code %d", st.name, status, resp, st.code)
		}
		if st.failed != 0 {
			n := h.next()
			s := at(n, "entry", 0, "changes", 0, "value", "statuses", 0)
			if at(s, "status") != "failed" || at(s, "errors", 0, "code") != float64(st.failed) || at(s, "id") != at(resp, "messages", 0, "id") {
				t.Fatalf("%s: status %v, want failed with %d for %v", st.name, s, st.failed, at(resp, "messages", 0, "id"))
			}
		}
	}
	h.none(sim)
	th, _ := sim.Thread(metasim.WhatsApp, waUser)
	for _, b := range th {
		if b.From == "business" && (b.Text == "hi" || b.Text == "late") && b.Status != "failed" {
			t.Fatalf("free-form text outside the window shows %+v on the phone, want failed", b)
		}
	}
	if last := th[len(th)-1]; last.Kind != "template" || last.Text != "Hi Ana, order 42 is ready." {
		t.Fatalf("template rendered as %+v", last)
	}
}

// Throughput: more than N sends in a second from one number is 130429.
func TestThroughput(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	sim, base := newSim(t, metasim.SimConfig{Accounts: accounts(""), Users: people, Now: clock, Throughput: 3, NoWindows: true, Statuses: noStatuses()})
	_ = sim
	url := base + "/v23.0/" + phone + "/messages"
	for i := range 3 {
		if status, resp := post(t, url, token, waText(waUser, "x")); status != 200 {
			t.Fatalf("send %d: %d %v", i, status, resp)
		}
	}
	status, resp := post(t, url, token, waText(waUser, "x"))
	if status != 429 || at(resp, "error", "code") != float64(130429) {
		t.Fatalf("4th send in a second: %d %v", status, resp)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if status, resp := post(t, url, token, waText(waUser, "x")); status != 200 {
		t.Fatalf("a second later: %d %v", status, resp)
	}
}

// The message_templates endpoint validates as Meta does.
func TestTemplateEndpoint(t *testing.T) {
	_, base := newSim(t, metasim.SimConfig{Accounts: accounts(""), Users: people})
	url := base + "/v23.0/" + waba + "/message_templates"
	body := func(name, lang, cat, text string, examples ...string) string {
		ex, _ := json.Marshal([][]string{examples})
		return `{"name":"` + name + `","language":"` + lang + `","category":"` + cat + `","components":[{"type":"BODY","text":"` + text + `","example":{"body_text":` + string(ex) + `}}]}`
	}
	tests := []struct {
		name, body, msg string
	}{
		{"created", body("welcome", "en_US", "MARKETING", "Welcome {{1}}!", "Ana"), ""},
		{"same again", body("welcome", "en_US", "MARKETING", "Welcome {{1}}!", "Ana"), "already exists"},
		{"other language", body("welcome", "fr", "MARKETING", "Bienvenue {{1}} !", "Ana"), ""},
		{"upper-case name", body("Welcome", "en_US", "MARKETING", "Hi", ""), "lower-case"},
		{"bad category", body("w2", "en_US", "PROMO", "Hi"), "category"},
		{"no sample", body("w3", "en_US", "UTILITY", "Hi {{1}}!"), "sample"},
		{"out of sequence", body("w4", "en_US", "UTILITY", "Hi {{2}}!", "x"), "out of sequence"},
		{"mixed", body("w5", "en_US", "UTILITY", "Hi {{1}} {{name}}!", "x", "y"), "mixes"},
		{"starts with a parameter", body("w6", "en_US", "UTILITY", "{{1}} is ready", "x"), "start or end"},
		{"named", body("w7", "en_US", "UTILITY", "Hi {{first_name}}, bye", "Ana"), ""},
		{"no body", `{"name":"w8","language":"en_US","category":"UTILITY","components":[]}`, "body must have"},
		{"bad language", body("w9", "english", "UTILITY", "Hi"), "language"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, resp := post(t, url, token, tt.body)
			if tt.msg == "" {
				if status != 200 || at(resp, "status") != "APPROVED" || at(resp, "id") == nil {
					t.Fatalf("%d %v", status, resp)
				}
				return
			}
			msg, _ := at(resp, "error", "error_user_msg").(string)
			if status != 400 || at(resp, "error", "code") != float64(100) || !strings.Contains(msg, tt.msg) {
				t.Fatalf("%d %v, want 100 saying %q", status, resp, tt.msg)
			}
		})
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Data []struct{ Name, Language, Status string }
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Data) != 3 {
		t.Fatalf("listed %+v, want the 3 created", list.Data)
	}
	if status, _ := post(t, url, "guess", body("x", "en", "UTILITY", "Hi")); status != 401 {
		t.Fatalf("wrong token: %d", status)
	}
}

// Tapping a business message's choice posts the reply the network
// reports: button_reply, list_reply, quick_reply, postback.
func TestTapPostsTheReply(t *testing.T) {
	h := newHook(t, 0)
	sim, base := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people, Statuses: noStatuses()})
	for _, u := range people {
		sim.Say(u.Network, u.ID, "hi")
		h.next()
	}
	waURL := base + "/v23.0/" + phone + "/messages"
	_, b := post(t, waURL, token, buttons("Yes", "No"))
	btnMsg := at(b, "messages", 0, "id").(string)
	_, l := post(t, waURL, token, `{`+ok+`,"type":"interactive","interactive":{"type":"list","body":{"text":"Pick"},"action":{"button":"Menu","sections":[{"title":"Mains","rows":[{"id":"ramen","title":"Ramen","description":"Pork broth"}]}]}}}`)
	listMsg := at(l, "messages", 0, "id").(string)
	_, q := post(t, base+"/v23.0/me/messages", "page-token", `{"recipient":{"id":"`+psid+`"},"messaging_type":"RESPONSE","message":{"text":"Size?","quick_replies":[{"content_type":"text","title":"Large","payload":"SIZE_L"}]}}`)
	qMsg := at(q, "message_id").(string)
	_, g := post(t, base+"/v23.0/me/messages", "ig-token", `{"recipient":{"id":"`+igsid+`"},"messaging_type":"RESPONSE","message":{"attachment":{"type":"template","payload":{"template_type":"generic","elements":[{"title":"Tee","subtitle":"Blue","buttons":[{"type":"postback","title":"Buy","payload":"BUY_TEE"},{"type":"web_url","title":"See","url":"https://example.com/tee"}]}]}}}}`)
	gMsg := at(g, "message_id").(string)

	tests := []struct {
		name        string
		net         metasim.Network
		user        string
		msg, choice string
		path        []any
		want        any
	}{
		{"reply button", metasim.WhatsApp, waUser, btnMsg, "b1", []any{"entry", 0, "changes", 0, "value", "messages", 0, "interactive", "button_reply", "title"}, "No"},
		{"reply button context", metasim.WhatsApp, waUser, btnMsg, "b0", []any{"entry", 0, "changes", 0, "value", "messages", 0, "context", "id"}, btnMsg},
		{"list row", metasim.WhatsApp, waUser, listMsg, "ramen", []any{"entry", 0, "changes", 0, "value", "messages", 0, "interactive", "list_reply", "description"}, "Pork broth"},
		{"quick reply", metasim.Messenger, psid, qMsg, "SIZE_L", []any{"entry", 0, "messaging", 0, "message", "quick_reply", "payload"}, "SIZE_L"},
		{"postback", metasim.Instagram, igsid, gMsg, "BUY_TEE", []any{"entry", 0, "messaging", 0, "postback", "payload"}, "BUY_TEE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := sim.Tap(tt.net, tt.user, tt.msg, tt.choice); err != nil {
				t.Fatal(err)
			}
			if got := at(h.next(), tt.path...); got != tt.want {
				t.Fatalf("%v = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
	for _, bad := range []struct{ msg, choice string }{{btnMsg, "b9"}, {"wamid.nope", "b0"}} {
		if _, err := sim.Tap(metasim.WhatsApp, waUser, bad.msg, bad.choice); !errors.Is(err, metasim.ErrNoChoice) {
			t.Errorf("tap %v: %v, want ErrNoChoice", bad, err)
		}
	}
	if _, err := sim.Tap(metasim.Instagram, igsid, gMsg, ""); !errors.Is(err, metasim.ErrNoChoice) {
		t.Errorf("a web_url button: %v, want ErrNoChoice", err)
	}
	h.none(sim)
}

// Messenger reports deliveries and reads of what the Page sent;
// Instagram reports reads, by mid.
func TestMessengerDeliveryAndRead(t *testing.T) {
	h := newHook(t, 0)
	sim, base := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people,
		Statuses: metasim.StatusConfig{Sent: time.Millisecond, Delivered: 10 * time.Millisecond, Read: 30 * time.Millisecond}})
	sim.Say(metasim.Messenger, psid, "hi")
	sim.Say(metasim.Instagram, igsid, "hi")
	h.next()
	h.next()
	_, m := post(t, base+"/v23.0/me/messages", "page-token", `{"recipient":{"id":"`+psid+`"},"messaging_type":"RESPONSE","message":{"text":"hello"}}`)
	d, r := h.next(), h.next()
	if got := at(d, "entry", 0, "messaging", 0, "delivery", "mids", 0); got != at(m, "message_id") {
		t.Fatalf("delivery %v", d)
	}
	if at(r, "entry", 0, "messaging", 0, "read", "watermark") == nil {
		t.Fatalf("read %v", r)
	}
	_, ig := post(t, base+"/v23.0/"+igID+"/messages", "ig-token", `{"recipient":{"id":"`+igsid+`"},"messaging_type":"RESPONSE","message":{"text":"hello"}}`)
	rd := h.next()
	if at(rd, "object") != "instagram" || at(rd, "entry", 0, "messaging", 0, "read", "mid") != at(ig, "message_id") {
		t.Fatalf("instagram read %v", rd)
	}
	h.none(sim)
}

// Every code the simulator knows is answered in Meta's error shape, with
// the HTTP status Meta uses.
func TestEveryErrorCode(t *testing.T) {
	for _, c := range metasim.WhatsAppCodes() {
		t.Run("whatsapp "+strings.TrimSpace(c.Message), func(t *testing.T) {
			sim := metasim.New(metasim.Config{PhoneNumberID: phone, Token: token})
			sim.FailNext(c.Code)
			status, body := do(t, sim, "POST", "/v23.0/"+phone+"/messages", "Bearer "+token, waText(waUser, "x"))
			checkShape(t, status, body, c)
		})
	}
	for _, c := range metasim.MessengerCodes() {
		t.Run("messenger "+c.Message, func(t *testing.T) {
			sim := metasim.NewMessenger(metasim.MessengerConfig{Token: token})
			sim.FailNext(metasim.Fault{Code: c.Code, Subcode: c.Subcode})
			status, body := do(t, sim, "POST", "/v23.0/me/messages", "Bearer "+token, `{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"text":"x"}}`)
			checkShape(t, status, body, c)
		})
	}
}

func checkShape(t *testing.T, status int, body []byte, c metasim.ErrorCode) {
	t.Helper()
	var e struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	var code, sub int
	var msg, typ, trace string
	json.Unmarshal(e.Error["code"], &code)
	json.Unmarshal(e.Error["error_subcode"], &sub)
	json.Unmarshal(e.Error["message"], &msg)
	json.Unmarshal(e.Error["type"], &typ)
	json.Unmarshal(e.Error["fbtrace_id"], &trace)
	if status != c.Status || code != c.Code || sub != c.Subcode || msg != c.Message || typ != "OAuthException" || trace == "" {
		t.Fatalf("answer %d %s, want %d with code %d/%d", status, body, c.Status, c.Code, c.Subcode)
	}
	if status < 400 {
		t.Fatalf("status %d for an error", status)
	}
	if d, ok := e.Error["error_data"]; ok {
		var data struct {
			Product string `json:"messaging_product"`
			Details string `json:"details"`
		}
		if json.Unmarshal(d, &data) != nil || data.Product != "whatsapp" || data.Details == "" {
			t.Fatalf("error_data %s", d)
		}
	}
}

// The simulator refuses a configuration it cannot play, saying why.
func TestNewSimRefuses(t *testing.T) {
	good := accounts("http://127.0.0.1:1/hook")
	tests := []struct {
		name string
		cfg  metasim.SimConfig
		msg  string
	}{
		{"no account", metasim.SimConfig{}, "no business account"},
		{"bad network", metasim.SimConfig{Accounts: []metasim.Account{{Network: "telegram", ID: "1", Token: "t"}}}, "network"},
		{"no token", metasim.SimConfig{Accounts: []metasim.Account{{Network: metasim.WhatsApp, ID: "1"}}}, "token"},
		{"no secret", metasim.SimConfig{Accounts: []metasim.Account{{Network: metasim.WhatsApp, ID: "1", Token: "t", WebhookURL: "http://x"}}}, "app secret"},
		{"bad url", metasim.SimConfig{Accounts: []metasim.Account{{Network: metasim.WhatsApp, ID: "1", Token: "t", AppSecret: "s", WebhookURL: "x"}}}, "http://"},
		{"same id", metasim.SimConfig{Accounts: append(good, good[0])}, "twice"},
		{"user of no account", metasim.SimConfig{Accounts: good[:1], Users: []metasim.User{{Network: metasim.Messenger, ID: "1"}}}, "no messenger account"},
		{"bad wa_id", metasim.SimConfig{Accounts: good, Users: []metasim.User{{Network: metasim.WhatsApp, ID: "+1 650"}}}, "digits only"},
		{"same user", metasim.SimConfig{Accounts: good, Users: []metasim.User{people[0], people[0]}}, "exists already"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, err := metasim.NewSim(tt.cfg)
			if err == nil {
				sim.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("%v, want %q in it", err, tt.msg)
			}
		})
	}
}

// Each account's webhooks are signed with its own app secret.
func TestEachAccountSignsWithItsSecret(t *testing.T) {
	var mu sync.Mutex
	sigs := map[string]string{} // object -> signature
	bodies := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var n struct{ Object string }
		json.Unmarshal(b, &n)
		mu.Lock()
		sigs[n.Object], bodies[n.Object] = r.Header.Get("X-Hub-Signature-256"), b
		mu.Unlock()
	}))
	defer srv.Close()
	accs := accounts(srv.URL)
	accs[0].AppSecret, accs[1].AppSecret = "whatsapp-app", "page-app"
	sim, _ := newSim(t, metasim.SimConfig{Accounts: accs[:2], Users: people[:2]})
	sim.Say(metasim.WhatsApp, waUser, "a")
	sim.Say(metasim.Messenger, psid, "b")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sim.Flush(ctx)
	mu.Lock()
	defer mu.Unlock()
	for object, secret := range map[string]string{"whatsapp_business_account": "whatsapp-app", "page": "page-app"} {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(bodies[object])
		if sigs[object] != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			t.Errorf("%s signed %q, not with its secret", object, sigs[object])
		}
	}
}

// The business marks a person's messages read (WhatsApp's status read,
// Messenger's sender action mark_seen); the conversation shows it.
func TestMarkRead(t *testing.T) {
	sim, base := newSim(t, metasim.SimConfig{Accounts: accounts(""), Users: people, Statuses: noStatuses()})
	first, _ := sim.Say(metasim.WhatsApp, waUser, "one")
	second, _ := sim.Say(metasim.WhatsApp, waUser, "two")
	sim.Say(metasim.Messenger, psid, "hello")
	url := base + "/v23.0/" + phone + "/messages"
	tests := []struct {
		name, url, tok, body string
		status, code         int
	}{
		{"read with typing", url, token, `{"messaging_product":"whatsapp","status":"read","message_id":"` + first + `","typing_indicator":{"type":"text"}}`, 200, 0},
		{"not a wamid", url, token, `{"messaging_product":"whatsapp","status":"read","message_id":"42"}`, 400, 100},
		{"other status", url, token, `{"messaging_product":"whatsapp","status":"delivered","message_id":"` + first + `"}`, 400, 131009},
		{"bad typing", url, token, `{"messaging_product":"whatsapp","status":"read","message_id":"` + first + `","typing_indicator":{"type":"audio"}}`, 400, 131009},
		{"typing on", base + "/v23.0/me/messages", "page-token", `{"recipient":{"id":"` + psid + `"},"sender_action":"typing_on"}`, 200, 0},
		{"mark seen", base + "/v23.0/me/messages", "page-token", `{"recipient":{"id":"` + psid + `"},"sender_action":"mark_seen"}`, 200, 0},
		{"unknown action", base + "/v23.0/me/messages", "page-token", `{"recipient":{"id":"` + psid + `"},"sender_action":"wave"}`, 400, 100},
		{"action with a message", base + "/v23.0/me/messages", "page-token", `{"recipient":{"id":"` + psid + `"},"sender_action":"typing_on","message":{"text":"x"}}`, 400, 100},
	}
	for _, tt := range tests {
		status, resp := post(t, tt.url, tt.tok, tt.body)
		if code, _ := at(resp, "error", "code").(float64); status != tt.status || int(code) != tt.code {
			t.Errorf("%s: %d %v, want %d code %d", tt.name, status, resp, tt.status, tt.code)
		}
	}
	th, _ := sim.Thread(metasim.WhatsApp, waUser)
	if th[0].ID != first || th[0].Status != "read" || th[1].ID != second || th[1].Status != "" {
		t.Fatalf("whatsapp thread %+v: the first message read, not the second", th)
	}
	if th, _ := sim.Thread(metasim.Messenger, psid); th[0].Status != "read" {
		t.Fatalf("messenger thread %+v", th)
	}
	if len(sim.Attempts()) != 0 {
		t.Fatal("marking read posted a webhook")
	}
}

// A restarted simulator makes new ids: a gateway that remembers the
// earlier run's does not take new messages for redeliveries.
func TestIDsDifferAcrossRuns(t *testing.T) {
	ids := map[string]bool{}
	for range 2 {
		sim, base := newSim(t, metasim.SimConfig{Accounts: accounts(""), Users: people, Statuses: noStatuses()})
		said, _ := sim.Say(metasim.WhatsApp, waUser, "hi")
		saidM, _ := sim.Say(metasim.Messenger, psid, "hi")
		_, wa := post(t, base+"/v23.0/"+phone+"/messages", token, waText(waUser, "hello"))
		_, m := post(t, base+"/v23.0/me/messages", "page-token", `{"recipient":{"id":"`+psid+`"},"messaging_type":"RESPONSE","message":{"text":"hello"}}`)
		for _, id := range []any{said, saidM, at(wa, "messages", 0, "id"), at(m, "message_id")} {
			s, _ := id.(string)
			if s == "" || ids[s] {
				t.Fatalf("id %q is empty or repeats an earlier run's", s)
			}
			ids[s] = true
		}
	}
}

// Verify checks a webhook as Meta does when its URL is configured: the
// connectors' real handler echoes the challenge for the right token.
func TestVerifyWebhook(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Method != "GET" || q.Get("hub.mode") != "subscribe" || q.Get("hub.verify_token") != "the-verify-token" || q.Get("conn") != "shop" {
			http.Error(w, "hub.verify_token does not match", http.StatusForbidden)
			return
		}
		io.WriteString(w, q.Get("hub.challenge"))
	}))
	defer srv.Close()
	accs := accounts(srv.URL + "/webhooks/whatsapp?conn=shop")
	accs[2].WebhookURL = ""
	sim, _ := newSim(t, metasim.SimConfig{Accounts: accs})
	ctx := context.Background()
	if err := sim.Verify(ctx, phone, "the-verify-token"); err != nil {
		t.Fatal(err)
	}
	if err := sim.Verify(ctx, phone, "guess"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("wrong token: %v", err)
	}
	if err := sim.Verify(ctx, igID, "x"); err == nil || !strings.Contains(err.Error(), "no webhook URL") {
		t.Fatalf("no URL: %v", err)
	}
	if err := sim.Verify(ctx, "nope", "x"); !errors.Is(err, metasim.ErrNoAccount) {
		t.Fatalf("unknown account: %v", err)
	}
}

// TestPageReplyPostsAnEcho: the business answering from Meta's own inbox
// joins the person's thread and posts a message echo, in the shape of
// Meta's message_echoes (sender the account, recipient the person,
// is_echo, an app id), which the Messenger parser reads as an echo from
// another app; WhatsApp has none.
func TestPageReplyPostsAnEcho(t *testing.T) {
	h := newHook(t, 0)
	sim, _ := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people})
	for _, tt := range []struct {
		network metasim.Network
		user    string
		object  string
	}{{metasim.Messenger, psid, "page"}, {metasim.Instagram, igsid, "instagram"}} {
		id, err := sim.PageReply(tt.network, tt.user, "Hello from the team")
		if err != nil {
			t.Fatal(err)
		}
		n := h.next()
		ev := at(n, "entry", 0, "messaging", 0)
		if at(n, "object") != tt.object || at(ev, "sender", "id") != at(n, "entry", 0, "id") || at(ev, "recipient", "id") != tt.user ||
			at(ev, "message", "is_echo") != true || at(ev, "message", "mid") != id || at(ev, "message", "text") != "Hello from the team" ||
			at(ev, "message", "app_id") != float64(263902037430900) {
			t.Fatalf("%s echo %v", tt.network, n)
		}
		th, _ := sim.Thread(tt.network, tt.user)
		if last := th[len(th)-1]; last.From != "business" || last.Text != "Hello from the team" || last.ID != id {
			t.Fatalf("%s thread ends with %+v", tt.network, last)
		}
	}
	if _, err := sim.PageReply(metasim.WhatsApp, waUser, "hi"); err == nil || !strings.Contains(err.Error(), "messenger or instagram") {
		t.Fatalf("a WhatsApp page reply: %v", err)
	}
	if _, err := sim.PageReply(metasim.Messenger, psid, " "); err == nil {
		t.Fatal("an empty page reply was taken")
	}
	h.none(sim)
}
