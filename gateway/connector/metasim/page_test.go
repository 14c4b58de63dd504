package metasim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/passerelle/passerelle/gateway/browsertest"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The index lists the people; a phone page is labelled; a form post
// adds a person; an unknown person is a 404 that says where to look.
func TestPages(t *testing.T) {
	h := newHook(t, 0)
	sim, base := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people})
	status, body := get(t, base+"/")
	if status != 200 || !strings.Contains(body, `href="/phone/whatsapp/`+waUser+`"`) || !strings.Contains(body, "Sheena Nelson") || !strings.Contains(body, "shop.ig") {
		t.Fatalf("index %d:\n%s", status, body)
	}
	status, body = get(t, base+"/phone/messenger/"+psid)
	if status != 200 || !strings.Contains(body, `<label for="text"`) || !strings.Contains(body, `aria-live="polite"`) || !strings.Contains(body, "Shop Page") {
		t.Fatalf("phone %d:\n%s", status, body)
	}
	if status, body = get(t, base+"/phone/whatsapp/123456789"); status != 404 || !strings.Contains(body, "see /") {
		t.Fatalf("unknown person: %d %s", status, body)
	}
	for _, p := range []string{"/static/phone.js", "/static/sim.css"} {
		if status, _ := get(t, base+p); status != 200 {
			t.Fatalf("%s: %d", p, status)
		}
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(base+"/users", url.Values{"network": {"whatsapp"}, "id": {"4915123456789"}, "name": {"Jonas"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/phone/whatsapp/4915123456789" {
		t.Fatalf("add user: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = noRedirect.PostForm(base+"/users", url.Values{"network": {"whatsapp"}, "id": {"abc"}})
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/?problem=") {
		t.Fatalf("a bad user: %s", loc)
	}

	// A plain form post (no script) says, then goes back to the phone.
	resp, err = noRedirect.PostForm(base+"/phone/whatsapp/4915123456789/say", url.Values{"text": {"Hallo"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/phone/whatsapp/4915123456789" {
		t.Fatalf("say: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := at(h.next(), "entry", 0, "changes", 0, "value", "contacts", 0, "profile", "name"); got != "Jonas" {
		t.Fatalf("name %v", got)
	}
	h.none(sim)
	if _, body := get(t, base+"/"); !strings.Contains(body, "Webhooks posted") || !strings.Contains(body, "<td>200</td>") || !strings.Contains(body, "Hallo") {
		t.Fatalf("the index does not show the post:\n%s", body)
	}
	// A script gets the id of the person's message.
	req, _ := http.NewRequest("POST", base+"/phone/whatsapp/4915123456789/say", strings.NewReader("text=Noch+da%3F"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	jr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var said struct{ ID string }
	json.NewDecoder(jr.Body).Decode(&said)
	jr.Body.Close()
	if got := at(h.next(), "entry", 0, "changes", 0, "value", "messages", 0, "id"); said.ID == "" || got != said.ID {
		t.Fatalf("answered id %q, webhook carried %v", said.ID, got)
	}
	resp, _ = noRedirect.PostForm(base+"/phone/whatsapp/4915123456789/tap", url.Values{"message": {"wamid.x"}, "choice": {"y"}})
	resp.Body.Close()
	if resp.StatusCode != 409 {
		t.Fatalf("tap of nothing: %d", resp.StatusCode)
	}
	h.none(sim)
}

// The events stream sends the thread at once and again at each change.
func TestEventsStream(t *testing.T) {
	sim, base := newSim(t, metasim.SimConfig{Accounts: accounts(""), Users: people})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/phone/instagram/"+igsid+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	line, _ := r.ReadString('\n')
	if line != "data: []\n" {
		t.Fatalf("first event %q", line)
	}
	r.ReadString('\n')
	sim.Say(metasim.Instagram, igsid, "seen it")
	line, _ = r.ReadString('\n')
	if !strings.HasPrefix(line, "data: [") || !strings.Contains(line, `"text":"seen it"`) {
		t.Fatalf("event after a message: %q", line)
	}
}

// In a real browser: the person types a message (keyboard only), the
// webhook gets it signed; the business answers with reply buttons, they
// appear live; tapping one posts the button_reply.
func TestPhonePageInBrowser(t *testing.T) {
	b := browsertest.Start(t, 5*time.Minute)
	h := newHook(t, 0)
	_, base := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people, Statuses: metasim.StatusConfig{Sent: time.Millisecond, Delivered: 5 * time.Millisecond, Read: 10 * time.Millisecond}})
	tab := browsertest.Tab(t, b)
	dir := browsertest.Artifacts(t)
	if err := chromedp.Do(tab,
		chromedp.Navigate(base+"/phone/whatsapp/"+waUser),
		chromedp.WaitVisible(`#text`),
		chromedp.Focus(`#text`),
		chromedp.SendKeys(`#text`, "Is the tee in blue?\r"),
	); err != nil {
		t.Fatal(err)
	}
	n := h.next()
	if got := at(n, "entry", 0, "changes", 0, "value", "messages", 0, "text", "body"); got != "Is the tee in blue?" {
		t.Fatalf("webhook text %v", got)
	}
	status, resp := post(t, base+"/v23.0/"+phone+"/messages", token, buttons("Yes, M", "No"))
	if status != 200 {
		t.Fatalf("send %d %v", status, resp)
	}
	wamid := at(resp, "messages", 0, "id").(string)
	step, cancelStep := context.WithTimeout(tab, time.Minute)
	defer cancelStep()
	if err := chromedp.Do(step,
		chromedp.WaitVisible(`li.bubble.person .text`),
		chromedp.WaitVisible(`button.choice[data-choice="b1"]`),
		chromedp.WaitVisible(`//li[contains(@class,"business")]//div[contains(@class,"meta") and contains(., "read")]`),
	); err != nil {
		html, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById("thread").outerHTML`))
		browsertest.Screenshot(t, tab, dir, "failure.png")
		t.Fatalf("%v; the thread is %s", err, html)
	}
	text, err := chromedp.Run(tab, chromedp.Text(`li.bubble.business .text`))
	if err != nil {
		t.Fatal(err)
	}
	if text != "Pick" {
		t.Fatalf("business bubble says %q", text)
	}
	browsertest.Screenshot(t, tab, dir, "phone-whatsapp.png")
	// The statuses of the business's message came to the webhook too.
	for range 3 {
		if st := at(h.next(), "entry", 0, "changes", 0, "value", "statuses", 0, "id"); st != wamid {
			t.Fatalf("status of %v", st)
		}
	}
	if err := chromedp.Do(tab, chromedp.Click(`button.choice[data-choice="b1"]`)); err != nil {
		t.Fatal(err)
	}
	n = h.next()
	reply := at(n, "entry", 0, "changes", 0, "value", "messages", 0)
	if at(reply, "interactive", "button_reply", "id") != "b1" || at(reply, "interactive", "button_reply", "title") != "No" || at(reply, "context", "id") != wamid {
		t.Fatalf("button reply %v", reply)
	}
	if err := chromedp.Do(tab, chromedp.WaitVisible(`//li[contains(@class,"person")]//div[@class="text" and .="No"]`)); err != nil {
		t.Fatal(err)
	}
	// A photo with the typed text as its caption: an image message.
	if err := chromedp.Do(tab,
		chromedp.SendKeys(`#text`, "this one?"),
		chromedp.Click(`#photo`),
		chromedp.WaitVisible(`li.bubble.person img.photo`),
	); err != nil {
		t.Fatal(err)
	}
	img := at(h.next(), "entry", 0, "changes", 0, "value", "messages", 0)
	if at(img, "type") != "image" || at(img, "image", "caption") != "this one?" || at(img, "image", "mime_type") != "image/jpeg" || at(img, "image", "id") == nil {
		t.Fatalf("photo %v", img)
	}
}

// In a real browser on Messenger: the business's quick replies show
// under its last message; tapping one with the keyboard posts the
// quick_reply payload; a generic template's postback button posts the
// postback.
func TestMessengerPageInBrowser(t *testing.T) {
	b := browsertest.Start(t, 5*time.Minute)
	h := newHook(t, 0)
	sim, base := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people, Statuses: metasim.StatusConfig{Off: true}})
	sim.Say(metasim.Messenger, psid, "hungry")
	h.next()
	tab := browsertest.Tab(t, b)
	dir := browsertest.Artifacts(t)
	if err := chromedp.Do(tab, chromedp.Navigate(base+"/phone/messenger/"+psid), chromedp.WaitVisible(`li.bubble.person .text`)); err != nil {
		t.Fatal(err)
	}
	post(t, base+"/v23.0/me/messages", "page-token", `{"recipient":{"id":"`+psid+`"},"messaging_type":"RESPONSE","message":{"attachment":{"type":"template","payload":{"template_type":"generic","elements":[{"title":"Ramen","subtitle":"12 EUR","buttons":[{"type":"postback","title":"Order","payload":"ORDER_RAMEN"},{"type":"web_url","title":"Menu","url":"https://example.com/menu"}]}]}}}}`)
	post(t, base+"/v23.0/me/messages", "page-token", `{"recipient":{"id":"`+psid+`"},"messaging_type":"RESPONSE","message":{"text":"Spicy?","quick_replies":[{"content_type":"text","title":"Yes please","payload":"SPICY_YES"},{"content_type":"text","title":"No","payload":"SPICY_NO"}]}}`)
	step, cancel := context.WithTimeout(tab, time.Minute)
	defer cancel()
	if err := chromedp.Do(step,
		chromedp.WaitVisible(`li.quick button[data-choice="SPICY_YES"]`),
		chromedp.WaitVisible(`.card a.choice[href="https://example.com/menu"]`),
		chromedp.Focus(`li.quick button[data-choice="SPICY_YES"]`),
		chromedp.KeyEvent("\r"),
	); err != nil {
		browsertest.Screenshot(t, tab, dir, "failure.png")
		t.Fatal(err)
	}
	if got := at(h.next(), "entry", 0, "messaging", 0, "message"); at(got, "quick_reply", "payload") != "SPICY_YES" || at(got, "text") != "Yes please" {
		t.Fatalf("quick reply %v", got)
	}
	browsertest.Screenshot(t, tab, dir, "phone-messenger.png")
	if err := chromedp.Do(step, chromedp.Click(`.card button[data-choice="ORDER_RAMEN"]`)); err != nil {
		t.Fatal(err)
	}
	if got := at(h.next(), "entry", 0, "messaging", 0, "postback"); at(got, "payload") != "ORDER_RAMEN" || at(got, "title") != "Order" {
		t.Fatalf("postback %v", got)
	}
}

// Mounted under a prefix in another server, the pages link under it and
// the Send API answers under it.
func TestMountedUnderPrefix(t *testing.T) {
	sim, err := metasim.NewSim(metasim.SimConfig{Accounts: accounts(""), Users: people, Prefix: "/metasim/", Statuses: metasim.StatusConfig{Off: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	mux := http.NewServeMux()
	mux.Handle("/metasim/", http.StripPrefix("/metasim", sim))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if _, body := get(t, srv.URL+"/metasim/"); !strings.Contains(body, `href="/metasim/phone/whatsapp/`+waUser+`"`) || !strings.Contains(body, `href="/metasim/static/sim.css"`) {
		t.Fatalf("index:\n%s", body)
	}
	if status, body := get(t, srv.URL+"/metasim/phone/whatsapp/"+waUser); status != 200 || !strings.Contains(body, `data-base="/metasim/phone/whatsapp/`+waUser+`"`) {
		t.Fatalf("phone %d:\n%s", status, body)
	}
	if status, _ := get(t, srv.URL+"/metasim/static/phone.js"); status != 200 {
		t.Fatalf("script: %d", status)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(srv.URL+"/metasim/phone/whatsapp/"+waUser+"/say", url.Values{"text": {"hi"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Location") != "/metasim/phone/whatsapp/"+waUser {
		t.Fatalf("say went back to %q", resp.Header.Get("Location"))
	}
	if status, resp := post(t, srv.URL+"/metasim/v23.0/"+phone+"/messages", token, waText(waUser, "hello")); status != 200 {
		t.Fatalf("send under the prefix: %d %v", status, resp)
	}
	if _, err := metasim.NewSim(metasim.SimConfig{Accounts: accounts(""), Prefix: "metasim"}); err == nil {
		t.Fatal("a prefix without / was accepted")
	}
}

// In a real browser on Messenger: the opt-in request shows its topic and
// button; the click posts the messaging_optins webhook with the token;
// the bubble then offers to stop the notifications, and the click posts
// STOP NOTIFICATIONS.
func TestOptinRequestInBrowser(t *testing.T) {
	b := browsertest.Start(t, 5*time.Minute)
	h := newHook(t, 0)
	sim, base := newSim(t, metasim.SimConfig{Accounts: accounts(h.srv.URL), Users: people, Statuses: metasim.StatusConfig{Off: true}})
	sim.Say(metasim.Messenger, psid, "hi")
	h.next()
	tab := browsertest.Tab(t, b)
	dir := browsertest.Artifacts(t)
	if err := chromedp.Do(tab, chromedp.Navigate(base+"/phone/messenger/"+psid), chromedp.WaitVisible(`li.bubble.person .text`)); err != nil {
		t.Fatal(err)
	}
	post(t, base+"/v23.0/me/messages", "page-token", `{"recipient":{"id":"`+psid+`"},"messaging_type":"RESPONSE","message":{"attachment":{"type":"template","payload":{"template_type":"notification_messages","title":"updates from The Kitchen","payload":"TOPIC"}}}}`)
	step, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(step,
		chromedp.WaitVisible(`li.bubble.business[data-kind="optin_request"] button[data-choice="TOPIC"]`),
		chromedp.Click(`button[data-choice="TOPIC"]`),
	); err != nil {
		browsertest.Screenshot(t, tab, dir, "failure.png")
		t.Fatal(err)
	}
	o := at(h.next(), "entry", 0, "messaging", 0, "optin")
	if at(o, "payload") != "TOPIC" || at(o, "title") != "updates from The Kitchen" || at(o, "notification_messages_token") == nil {
		t.Fatalf("optin %v", o)
	}
	if err := chromedp.Do(step, chromedp.WaitVisible(`button[data-choice="stop"]`)); err != nil {
		browsertest.Screenshot(t, tab, dir, "failure.png")
		t.Fatal(err)
	}
	browsertest.Screenshot(t, tab, dir, "phone-optin.png")
	if err := chromedp.Do(step, chromedp.Click(`button[data-choice="stop"]`), chromedp.WaitVisible(`button[data-choice="resume"]`)); err != nil {
		t.Fatal(err)
	}
	if st := at(h.next(), "entry", 0, "messaging", 0, "optin", "notification_messages_status"); st != "STOP NOTIFICATIONS" {
		t.Fatalf("stop: %v", st)
	}
}
