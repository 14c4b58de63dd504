package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/passerelle/passerelle/gateway/api"
	"github.com/passerelle/passerelle/gateway/browsertest"
	"github.com/passerelle/passerelle/host/identity"
)

// step runs the actions, failing after a minute with the page's state.
func (p *e2ePage) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		state, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		p.screenshot("failure.png")
		p.t.Fatalf("%s: %s: %v\npage:\n%s", p.name, what, err, state)
	}
}

// until waits until the JavaScript expression js is true.
func (p *e2ePage) until(what, js string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Minute)))
	if err != nil {
		p.fail(what+" ("+js+")", err)
	}
}

// handedOff is a platform where Ana, on Messenger, asked the helpdesk's
// support bot for a person: the bot handed the conversation off.
type handedOff struct {
	p       *platform
	token   string    // the helpdesk's merchant token
	person  *wsClient // Ana's WebSocket
	ana     string    // her person id
	conv    string
	appText func(want string) map[string]any // waits for the app's message containing want
}

func handOff(t *testing.T) *handedOff {
	t.Helper()
	ctx := context.Background()
	p := testPlatform(t)
	built, err := demoApps(ctx, "", []string{"support"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.svc.Identity.EnsureMerchant(ctx, "helpdesk", "Helpdesk"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.router.Upload(ctx, "helpdesk", "test", "support", built[0].Wasm); err != nil {
		t.Fatal(err)
	}
	tok, err := p.svc.Identity.Issue("helpdesk", identity.RoleMerchant, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ana, _, err := p.svc.Identity.EnsurePerson(ctx, identity.Account{Surface: "messenger", External: "ana"}, "Ana")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := dialPerson(t, p, ana.ID)
	c.send(map[string]any{"type": "surface", "id": "sf", "surface": "messenger"})
	c.until("ack")
	c.send(map[string]any{"type": "open", "id": "o1", "app": "support"})
	conv := c.until("ack")["conv"].(string)
	appText := func(want string) map[string]any {
		t.Helper()
		for {
			f := c.until("msg")
			from, _ := f["from"].(map[string]any)
			if from["kind"] != "app" {
				continue
			}
			b, _ := json.Marshal(f["message"])
			if strings.Contains(string(b), want) {
				return f
			}
		}
	}
	appText("Help centre")
	c.send(map[string]any{"type": "send", "id": "s1", "conv": conv, "text": "Can I talk to a human please"})
	appText("A person will answer here")

	return &handedOff{p: p, token: tok, person: c, ana: ana.ID, conv: conv, appText: appText}
}

// TestInboxInABrowser: a member of the merchant's staff signs in to the
// inbox page with a merchant token, sees the conversation the support bot
// handed off, with its context and history, sees the person's next
// message arrive live, answers (the person gets it on their WebSocket)
// and hands back (the bot greets the person); axe-core finds no serious
// violation on the sign-in page and the conversation.
func TestInboxInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser; skipped with -short")
	}
	browsertest.Chromium(t)
	h := handOff(t)
	p, tok, c, conv, appText := h.p, h.token, h.person, h.conv, h.appText
	ana := struct{ ID string }{h.ana}
	b := browsertest.Start(t, 5*time.Minute)
	pg := &e2ePage{t: t, ctx: browsertest.Tab(t, b), name: "inbox", dir: browsertest.Artifacts(t)}
	// The first action allocates the tab: on the tab's own context, which
	// lives as long as the test (a shorter one would close the tab).
	if err := chromedp.Do(pg.ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	pg.step("open the inbox", chromedp.Navigate(p.url()+"/inbox"), chromedp.WaitVisible(`[data-testid="inbox-link"]`))
	pg.axe("the sign-in page")
	pg.step("choose the merchant's sign-in", chromedp.Click(`#owner summary`), chromedp.WaitVisible(`[data-testid="inbox-token"]`))
	pg.step("sign in with a wrong token",
		chromedp.SendKeys(`[data-testid="inbox-token"]`, "not-a-token"),
		chromedp.SendKeys(`[data-testid="inbox-agent"]`, "Sam"),
		chromedp.Click(`[data-testid="inbox-signin"]`),
		chromedp.WaitVisible(`#signin-error`))
	if msg := pg.text("#signin-error"); !strings.Contains(msg, "merchant token") {
		t.Fatalf("a refused token says %q", msg)
	}
	pg.step("sign in", chromedp.SendKeys(`[data-testid="inbox-token"]`, tok),
		chromedp.Click(`[data-testid="inbox-signin"]`),
		chromedp.WaitVisible(`[data-testid="inbox-list"] button`))
	if item := pg.text(`[data-testid="inbox-list"] button`); !strings.Contains(item, "support") || !strings.Contains(item, "Messenger") || !strings.Contains(item, "Waiting") {
		t.Fatalf("the inbox lists %q", item)
	}
	pg.step("open the conversation", chromedp.Click(`[data-testid="inbox-list"] button`), chromedp.WaitVisible(`[data-testid="inbox-reply-text"]`))
	pg.until("the history shows the person's request", `document.getElementById("messages").innerText.includes("Can I talk to a human please")`)
	ctxText := pg.text(`[data-testid="inbox-context"]`)
	for _, want := range []string{"asked for a person", "The person asked: Can I talk to a human please", "reference", "S-", "Answer until"} {
		if !strings.Contains(ctxText, want) {
			t.Fatalf("the context panel lacks %q: %q", want, ctxText)
		}
	}

	// The person's next message appears without a reload.
	c.send(map[string]any{"type": "send", "id": "s2", "conv": conv, "text": "My parcel 42 is late"})
	pg.until("the person's new message appears live", `document.getElementById("messages").innerText.includes("My parcel 42 is late")`)
	pg.axe("a conversation")

	pg.step("answer", chromedp.SendKeys(`[data-testid="inbox-reply-text"]`, "Hi Ana, Sam here: it ships today."),
		chromedp.Click(`[data-testid="inbox-reply"]`))
	f := appText("Sam here: it ships today")
	if from := f["from"].(map[string]any); from["agent"] != "Sam" || f["conv"] != conv {
		t.Fatalf("the person got the answer as %+v", f)
	}
	pg.until("the answer is in the page", `[...document.querySelectorAll("#messages li.agent")].some(li => li.innerText.includes("Sam (you)"))`)

	// The person's own client shows the answer in the same conversation,
	// under the business's and the agent's names.
	person := &e2ePage{t: t, ctx: browsertest.Tab(t, b), name: "person", dir: pg.dir}
	if err := chromedp.Do(person.ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	ptok, err := p.svc.Identity.Issue(ana.ID, identity.RolePerson, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	person.step("open the person's client", chromedp.Navigate(p.url()+"/?surface=messenger#token="+ptok),
		chromedp.WaitVisible(`#status[data-state="online"]`),
		chromedp.Click(`#conversations li[data-testid="conv"]`))
	person.until("the agent's answer shows with the business's and the agent's names",
		`[...document.querySelectorAll("#messages .msg")].some(m => m.innerText.includes("Sam · Help centre") && m.innerText.includes("it ships today"))`)
	person.until("the bot's messages before it are in the same conversation",
		`document.getElementById("messages").innerText.includes("A person will answer here")`)

	pg.screenshot("conversation.png")
	if ctxText := pg.text(`[data-testid="inbox-context"]`); !strings.Contains(ctxText, "Answer until") {
		t.Fatalf("after live updates the context panel lost the answer window: %q", ctxText)
	}
	pg.step("hand back", chromedp.SendKeys(`[data-testid="inbox-note"]`, "parcel ships today"),
		chromedp.Click(`[data-testid="inbox-handback"]`), chromedp.WaitVisible(`#closed`))
	if closed := pg.text("#closed"); !strings.Contains(closed, "Handed back to the app by Sam: parcel ships today") {
		t.Fatalf("after the handback the page says %q", closed)
	}
	appText("I am back")
	pg.until("the list empties", `document.getElementById("empty").hidden === false`)

	// A link carrying the token in its fragment (the demo prints one)
	// asks only for the name, and the token leaves the address bar.
	lnk := &e2ePage{t: t, ctx: browsertest.Tab(t, b), name: "inbox-link", dir: pg.dir}
	if err := chromedp.Do(lnk.ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	lnk.step("open a link with the token", chromedp.Navigate(p.url()+"/inbox#token="+tok), chromedp.WaitVisible(`[data-testid="inbox-agent"]`))
	if h := lnk.eval(`location.hash`); h != "" {
		t.Fatalf("the token stays in the address bar: %q", h)
	}
	lnk.step("give a name", chromedp.SendKeys(`[data-testid="inbox-agent"]`, "Lea"), chromedp.Click(`[data-testid="inbox-signin"]`),
		chromedp.WaitVisible(`#empty`))
	lnk.axe("the empty inbox on a phone")
}

// TestInboxStaffSignInInABrowser: the merchant adds Alice to its staff;
// her one-time link signs her in (the session in cookies the page's
// script cannot read); with the keyboard only she opens the handed-off
// conversation and answers; Ana gets the answer under Alice's name; when
// the access token's cookie is gone the page refreshes the session and
// answers all the same; once the merchant removes Alice, her page ends on
// the sign-in page.
// axe-core finds no serious violation on her pages.
func TestInboxStaffSignInInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser; skipped with -short")
	}
	browsertest.Chromium(t)
	h := handOff(t)
	ctx := context.Background()
	owner := &apiClient{server: h.p.url(), token: h.token, http: &http.Client{}}
	var added struct {
		Member struct{ ID string }  `json:"member"`
		SignIn struct{ URL string } `json:"signin"`
	}
	if err := owner.call(ctx, http.MethodPost, "/v1/staff", map[string]string{"name": "Alice"}, &added); err != nil {
		t.Fatal(err)
	}

	b := browsertest.Start(t, 5*time.Minute)
	pg := &e2ePage{t: t, ctx: browsertest.Tab(t, b), name: "inbox-staff", dir: browsertest.Artifacts(t)}
	if err := chromedp.Do(pg.ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	pg.step("open the sign-in link", chromedp.Navigate(added.SignIn.URL), chromedp.WaitVisible(`[data-testid="inbox-list"] button`))
	if hash, me := pg.eval(`location.hash`), pg.text("#me"); hash != "" || !strings.Contains(me, "Alice") {
		t.Fatalf("after the link: hash %q, signed in %q", hash, me)
	}
	if cookies := pg.eval(`document.cookie`); cookies != "" {
		t.Fatalf("the page's script can read the session: %q", cookies)
	}

	// The keyboard alone: Tab to the conversation, Enter opens it (the
	// answer box takes the focus), type, Tab to Send, Enter.
	for i := 0; pg.eval(`document.activeElement.closest("#list") ? "yes" : ""`) == ""; i++ {
		if i == 20 {
			t.Fatalf("20 Tabs did not reach the list; the focus is on %s", pg.eval(`document.activeElement.outerHTML.slice(0, 80)`))
		}
		pg.step("Tab", chromedp.KeyEvent(kb.Tab))
	}
	pg.step("open with Enter", chromedp.KeyEvent(kb.Enter))
	pg.until("the answer box has the focus", `document.activeElement.id === "reply-text"`)
	pg.until("the history shows the person's request", `document.getElementById("messages").innerText.includes("Can I talk to a human please")`)
	pg.step("type and send", chromedp.KeyEvent("Hi Ana, Alice here: I am on it."), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Enter))
	f := h.appText("Alice here: I am on it")
	if from := f["from"].(map[string]any); from["agent"] != "Alice" || f["conv"] != h.conv {
		t.Fatalf("Ana got the answer as %+v", f)
	}
	pg.until("the answer is in the page as hers", `[...document.querySelectorAll("#messages li.agent")].some(li => li.innerText.includes("Alice (you)"))`)
	pg.until("the context says who answered", `document.querySelector('[data-testid="inbox-context"]').innerText.includes("Alice (you)")`)
	pg.axe("a member's conversation")

	// The access token's cookie ends with the token (15 minutes): the
	// page refreshes the session and the answer goes all the same.
	if _, err := chromedp.Call(pg.ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: api.CookieAccess, URL: h.p.url() + "/v1/"}); err != nil {
		t.Fatal(err)
	}
	access := func() string { // the access cookie's value, "" when gone
		t.Helper()
		res, err := chromedp.Call(pg.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{h.p.url() + "/v1/handoffs"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Cookies {
			if c.Name == api.CookieAccess {
				if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
					t.Fatalf("the access cookie %+v is not HttpOnly, SameSite=Strict", c)
				}
				return c.Value
			}
		}
		return ""
	}
	if access() != "" {
		t.Fatal("the access cookie survived its deletion")
	}
	pg.step("answer after the access token expired", chromedp.SendKeys(`[data-testid="inbox-reply-text"]`, "Your table is booked."),
		chromedp.Click(`[data-testid="inbox-reply"]`))
	if f := h.appText("Your table is booked"); f["from"].(map[string]any)["agent"] != "Alice" {
		t.Fatalf("after a refresh Ana got %+v", f)
	}
	if access() == "" {
		t.Fatal("the page answered without a new access token")
	}

	// Removed: the session ends at once, although its access token has
	// minutes left.
	var removed struct{}
	if err := owner.call(ctx, http.MethodDelete, "/v1/staff/"+added.Member.ID, nil, &removed); err != nil {
		t.Fatal(err)
	}
	// Her page may learn it by itself (a change of the inbox makes it read
	// again); her answer surely does. Submitted by script: the form may be
	// gone already.
	pg.eval(`(() => { if (!document.getElementById("reply").hidden) { document.getElementById("reply-text").value = "one more thing"; document.getElementById("reply").requestSubmit(); } return ""; })()`)
	pg.step("the session ended", chromedp.WaitVisible(`#signin-error`))
	if msg := pg.text("#signin-error"); !strings.Contains(msg, "ended") {
		t.Fatalf("a removed member reads %q", msg)
	}
	msgs, err := h.p.gateway.Messages(ctx, h.conv, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if strings.Contains(m.Msg.Text, "one more thing") {
			t.Fatal("a removed member's answer reached the conversation")
		}
	}
	pg.axe("the sign-in page after the session ended")
}
