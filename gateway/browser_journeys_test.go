package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/browsertest"
	"github.com/passerelle/passerelle/host"
)

// unreadOf is the unread badge of the conversation titled title, "" when
// it has none.
func unreadOf(title string) string {
	return fmt.Sprintf(`(() => { const li = [...document.querySelectorAll('#conversations li')].find(l => l.querySelector('.title').firstChild.textContent === %q); if (!li) return "missing"; const u = li.querySelector('[data-testid="unread"]'); return u ? u.firstChild.textContent : ""; })()`, title)
}

// alicePage starts a server and a browser with two tabs, Alice's (signed
// in and online) at size a and one for Bob at size b.
func alicePage(t *testing.T, a, b viewport) (*env, *page, *page) {
	t.Helper()
	e := newEnv(t, nil)
	br := browsertest.Start(t, 5*time.Minute)
	dir := browsertest.Artifacts(t)
	alice, bob := newPage(t, br, "alice", dir, a), newPage(t, br, "bob", dir, b)
	alice.do("open", chromedp.Navigate(e.http.URL+"/#token=tok-alice"), chromedp.WaitVisible(online))
	return e, alice, bob
}

// TestBrowserUnreadStatesAndSurface: unread counts come from the server's
// read markers, so they are right after a reload and a surface switch; the
// sender sees delivered, then read; the surface choice survives a reload.
func TestBrowserUnreadStatesAndSurface(t *testing.T) {
	e, alice, bob := alicePage(t, desktop, phone)
	alice.do("write twice to Bob",
		chromedp.Click("#new-chat"),
		chromedp.Click(`[data-testid="people-item"][data-id="bob"]`),
		chromedp.SendKeys("#composer-input", "Lunch?"), chromedp.Click("#composer-send"),
		chromedp.WaitVisible(`.msg.mine[data-seq="1"]`),
		chromedp.SendKeys("#composer-input", "At noon."), chromedp.Click("#composer-send"),
		chromedp.WaitVisible(`.msg.mine[data-seq="2"]`),
	)
	if st := alice.text(`.msg.mine[data-seq="2"] .state`); !strings.Contains(st, "Sent") {
		t.Errorf("before Bob connects the message says %q, want Sent", st)
	}

	bob.do("open", chromedp.Navigate(e.http.URL+"/#token=tok-bob&surface=web"), chromedp.WaitVisible(online))
	bob.until("two unread", unreadOf("Alice")+` === "2"`)
	bob.until("the tab title counts them", `document.title === "(2) Passerelle"`)
	alice.until("delivered once Bob's client has them", `document.querySelector('.msg.mine[data-seq="2"] .state').dataset.state === "delivered"`)
	bob.do("reload", chromedp.Reload(), chromedp.WaitVisible(online))
	bob.until("still two unread after a reload", unreadOf("Alice")+` === "2"`)

	bob.do("read", chromedp.Click(`#conversations li[data-testid="conv"]`), chromedp.WaitVisible(`.msg[data-seq="2"]`))
	alice.until("read once Bob has seen them", `document.querySelector('.msg.mine[data-seq="2"] .state').dataset.state === "read"`)
	alice.shot("read.png")
	bob.do("back", chromedp.Click("#back"), chromedp.WaitVisible("#conversations"))
	bob.do("reload", chromedp.Reload(), chromedp.WaitVisible(online))
	if u := bob.eval(unreadOf("Alice")); u != "" {
		t.Fatalf("after reading and a reload Bob has %q unread", u)
	}
	bob.do("switch to WhatsApp", chromedp.SetValue("#surface-select", "whatsapp"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("surface-select").dispatchEvent(new Event("change"))`),
		chromedp.WaitVisible(`#status[data-state="online"]`))
	bob.until("online as WhatsApp", `document.getElementById("status").textContent.includes("WhatsApp")`)
	if u := bob.eval(unreadOf("Alice")); u != "" {
		t.Fatalf("after a surface switch Bob has %q unread", u)
	}
	bob.do("reload", chromedp.Reload(), chromedp.WaitVisible(online))
	bob.until("still WhatsApp after a reload", `document.getElementById("status").textContent.includes("WhatsApp") && document.getElementById("surface-select").value === "whatsapp"`)
	if u := bob.eval(unreadOf("Alice")); u != "" {
		t.Fatalf("after a surface switch and a reload Bob has %q unread", u)
	}
	alice.do("reload", chromedp.Reload(), chromedp.WaitVisible(online))
	if u := alice.eval(unreadOf("Bob")); u != "" {
		t.Fatalf("Alice's own messages count as %q unread", u)
	}
	if title := alice.eval(`document.title`); title != "Passerelle" {
		t.Fatalf("Alice's tab is titled %q", title)
	}
}

// TestBrowserPendingAndFailed: a message written while the server is down
// shows at once as sending, then is stored once the client reconnects; one
// the server refuses shows as not sent, with a Retry button.
func TestBrowserPendingAndFailed(t *testing.T) {
	mod := func(c *gateway.Config) { c.MaxTextRunes = 40 }
	e := newEnv(t, mod)
	b := browsertest.Start(t, 5*time.Minute)
	p := newPage(t, b, "alice", browsertest.Artifacts(t), phone)
	p.do("open", chromedp.Navigate(e.http.URL+"/#token=tok-alice"), chromedp.WaitVisible(online))
	p.do("write to Bob",
		chromedp.Click("#new-chat"),
		chromedp.Click(`[data-testid="people-item"][data-id="bob"]`),
		chromedp.SendKeys("#composer-input", "First."), chromedp.Click("#composer-send"),
		chromedp.WaitVisible(`.msg.mine[data-seq="1"]`))

	e.stop()
	p.until("offline", `document.getElementById("status").dataset.state === "offline"`)
	p.do("write while offline", chromedp.SendKeys("#composer-input", "Written offline."), chromedp.Click("#composer-send"),
		chromedp.WaitVisible(`.msg.pending[data-state="pending"]`))
	if got := p.text(`.msg.pending .text`); got != "Written offline." {
		t.Fatalf("the pending message shows %q", got)
	}
	if v := p.eval(`document.getElementById("composer-input").value`); v != "" {
		t.Fatalf("the composer still holds %q", v)
	}
	p.shot("pending.png")
	e.start(mod)
	p.do("stored after reconnecting", chromedp.WaitVisible(`.msg.mine[data-seq="2"]`), chromedp.WaitNotPresent(`.msg.pending`))
	if got := p.text(`.msg.mine[data-seq="2"] .text`); got != "Written offline." {
		t.Fatalf("seq 2 is %q", got)
	}

	p.do("write too much", chromedp.SendKeys("#composer-input", strings.Repeat("far too long ", 5)), chromedp.Click("#composer-send"),
		chromedp.WaitVisible(`.msg.pending[data-state="failed"] [data-testid="retry"]`))
	p.shot("failed.png")
	p.axe("a message that was not sent")
	p.do("retry", chromedp.Click(`[data-testid="retry"]`), chromedp.WaitVisible(`.msg.pending[data-state="failed"] [data-testid="retry"]`))
	if n := p.eval(`String(document.querySelectorAll(".msg[data-seq]").length)`); n != "2" {
		t.Fatalf("%s messages stored, want 2", n)
	}
}

// TestBrowserFormKeptAndWalletRefreshed: a message arriving while the
// person fills in a card's form leaves what they typed; the wallet shows
// a new balance after a mini-app's message (a refund).
func TestBrowserFormKeptAndWalletRefreshed(t *testing.T) {
	e := newEnv(t, nil)
	e.apps.set(func(ev host.AppEvent) *host.Message {
		if ev.Event.Type == host.EventOpen {
			return &host.Message{Card: &host.Card{Title: "Book a table", Form: &host.Form{ID: "book", Submit: "Book",
				Fields: []host.FormField{{Name: "name", Label: "Your name", Required: true}}}}}
		}
		return nil
	}, nil)
	b := browsertest.Start(t, 5*time.Minute)
	p := newPage(t, b, "alice", browsertest.Artifacts(t), desktop)
	p.do("open", chromedp.Navigate(e.http.URL+"/#token=tok-alice"), chromedp.WaitVisible(online))
	p.until("the wallet", `document.querySelector('[data-testid="wallet"]').textContent.includes("€25.00")`)
	p.do("open Lunch and start the form",
		chromedp.Click("#show-apps"), chromedp.Click(`[data-testid="apps-item"][data-id="lunch"]`),
		chromedp.WaitVisible(`.card-form input[name="name"]`),
		chromedp.SendKeys(`.card-form input[name="name"]`, "Ali"))
	conv := p.eval(`document.querySelector(".msg[data-render=card]").dataset.conv`)
	e.pay.setBalances(map[string]int64{"EUR": 3700})
	refund := &host.Message{Text: "Refunded: €12.00 is back in your wallet."}
	if err := e.srv.Emit(context.Background(), host.Outgoing{App: host.AppRef{App: "lunch"}, Conversation: conv, Message: refund}); err != nil {
		t.Fatal(err)
	}
	p.do("the refund message", chromedp.WaitVisible(`.msg[data-seq="2"]`))
	if v := p.eval(`document.querySelector('.card-form input[name="name"]').value`); v != "Ali" {
		t.Fatalf("the half-filled form holds %q after a message arrived, want Ali", v)
	}
	if from := p.text(`.msg[data-seq="2"] .from`); from != "Lunch" {
		t.Errorf("the app's message is from %q, want its name", from)
	}
	p.until("the wallet after the refund", `document.querySelector('[data-testid="wallet"]').textContent.includes("€37.00")`)
	p.do("the wallet's history", chromedp.Click(`[data-testid="wallet"]`), chromedp.WaitVisible(`[data-testid="wallet-entry"]`))
	p.onScreen("#wallet-sheet .sheet-body")
	if got := p.text(`[data-testid="wallet-history"]`); !strings.Contains(got, "Refund: Tomato soup · Green Bowl") || !strings.Contains(got, "-€12.00") || !strings.Contains(got, "+€2.50") {
		t.Errorf("the wallet history reads %q", got)
	}
	p.shot("wallet.png")
	p.axe("the wallet")
	p.do("close the wallet", chromedp.KeyEvent("\x1b"), chromedp.WaitNotVisible("#wallet-sheet"))
}

// TestBrowserSignIn: without a token the client shows a sign-in page (the
// demo's people to pick, or a sign-in code) and nothing that looks live; a
// refused token says the session ended; sign out returns to the page.
func TestBrowserSignIn(t *testing.T) {
	e := newEnv(t, withDemoSignIn)
	b := browsertest.Start(t, 5*time.Minute)
	for _, vp := range []viewport{phone, desktop} {
		t.Run(vp.name, func(t *testing.T) {
			p := newPage(t, b, vp.name, browsertest.Artifacts(t), vp)
			p.do("open without a token", chromedp.Navigate(e.http.URL+"/"), chromedp.WaitVisible(`[data-testid="signin-person"][data-id="alice"]`))
			if p.visible("#app") || p.visible("#new-chat") {
				t.Fatal("the chat shows without a session")
			}
			p.onScreen(".signin-box")
			p.shot("signin.png")
			p.axe("the sign-in page")
			p.do("pick Alice", chromedp.Click(`[data-testid="signin-person"][data-id="alice"]`), chromedp.WaitVisible(online))
			if loc := p.eval(`location.href`); strings.Contains(loc, "tok-") {
				t.Fatalf("the token is in the address %s", loc)
			}
			p.do("reload keeps the session", chromedp.Reload(), chromedp.WaitVisible(online))
			p.do("sign out", chromedp.Click("#signout"), chromedp.WaitVisible("#signin"))
			if r := p.text("#signin-reason"); r != "You signed out." {
				t.Errorf("after signing out the page says %q", r)
			}
			p.do("sign in with a code", chromedp.SendKeys("#signin-token", "tok-bob"), chromedp.Click("#signin-submit"), chromedp.WaitVisible(online))
			if n := p.text("#me-name"); n != "Bob" {
				t.Fatalf("signed in as %q", n)
			}
			p.do("sign out", chromedp.Click("#signout"), chromedp.WaitVisible("#signin"))

			p.do("open with a refused token", chromedp.Navigate(e.http.URL+"/#token=expired"), chromedp.WaitVisible("#signin-reason"))
			if r := p.text("#signin-reason"); r != "Your session ended. Sign in again." {
				t.Fatalf("a refused token shows %q", r)
			}
			if p.visible("#app") {
				t.Fatal("the chat shows after a refused token")
			}
		})
	}
}

// TestBrowserGroupAndSearch: a person makes a group, its members see it,
// and search finds conversations and messages.
func TestBrowserGroupAndSearch(t *testing.T) {
	e, alice, bob := alicePage(t, desktop, desktop)
	bob.do("open", chromedp.Navigate(e.http.URL+"/#token=tok-bob"), chromedp.WaitVisible(online))
	alice.do("make a group",
		chromedp.Click("#new-group"),
		chromedp.SendKeys("#group-title", "Lunch club"),
		chromedp.Click(`[data-testid="group-member"][value="bob"]`),
		chromedp.Click(`[data-testid="group-member"][value="carol"]`),
		chromedp.Click("#group-create"),
		chromedp.WaitVisible(`#conversations li.active`))
	if title := alice.text("#chat-title"); title != "Lunch club" {
		t.Fatalf("the new group is titled %q", title)
	}
	alice.do("write to the group", chromedp.SendKeys("#composer-input", "Who is in for ramen?"), chromedp.Click("#composer-send"),
		chromedp.WaitVisible(`.msg.mine[data-seq="1"]`))
	bob.until("Bob sees the group with one unread", unreadOf("Lunch club")+` === "1"`)
	bob.do("Bob opens the group and starts typing", chromedp.Click(`#conversations li[data-testid="conv"]`),
		chromedp.WaitVisible(`.msg[data-seq="1"]`), chromedp.SendKeys("#composer-input", "Me"))
	alice.until("Alice sees Bob typing", `document.querySelector('[data-testid="typing"]').textContent === "Bob is typing…"`)
	if pv := bob.text(`#conversations li[data-testid="conv"] .preview`); pv != "Alice: Who is in for ramen?" {
		t.Errorf("Bob's list previews %q", pv)
	}
	bob.do("search", chromedp.SendKeys("#search", "ramen"), chromedp.WaitVisible(`[data-testid="search-hit"]`))
	bob.shot("search.png")
	bob.do("open the hit", chromedp.Click(`[data-testid="search-hit"] button`), chromedp.WaitVisible(`.msg[data-seq="1"]`))
	if from := bob.text(`.msg[data-seq="1"] .from`); from != "Alice" {
		t.Errorf("in the group the message is from %q", from)
	}
}
