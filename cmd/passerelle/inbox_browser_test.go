package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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

	b := browsertest.Start(t, 5*time.Minute)
	pg := &e2ePage{t: t, ctx: browsertest.Tab(t, b), name: "inbox", dir: browsertest.Artifacts(t)}
	// The first action allocates the tab: on the tab's own context, which
	// lives as long as the test (a shorter one would close the tab).
	if err := chromedp.Do(pg.ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	pg.step("open the inbox", chromedp.Navigate(p.url()+"/inbox"), chromedp.WaitVisible(`[data-testid="inbox-token"]`))
	pg.axe("the sign-in page")
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
		`[...document.querySelectorAll("#messages .msg")].some(m => m.innerText.includes("Help centre · Sam") && m.innerText.includes("it ships today"))`)
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
