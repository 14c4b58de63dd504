package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/passerelle/passerelle/gateway/browsertest"
	"github.com/passerelle/passerelle/host/pay"
)

// e2ePage is one browser tab signed in as one demo person.
type e2ePage struct {
	t    *testing.T
	ctx  context.Context
	name string
	dir  string
}

func (p *e2ePage) screenshot(name string) {
	p.t.Helper()
	browsertest.Screenshot(p.t, p.ctx, p.dir, p.name+"-"+name)
}

// do runs the actions, with a screenshot and the page's state on failure.
func (p *e2ePage) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.fail(what, err)
	}
}

func (p *e2ePage) fail(what string, err error) {
	p.t.Helper()
	p.screenshot("failure.png")
	status, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
	msgs, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#messages .msg")].map(m => m.dataset.seq + ": " + m.innerText.replace(/\n/g, " | ")).join("\n")`))
	p.t.Fatalf("%s: %s: %v\nstatus: %s\nmessages:\n%s", p.name, what, err, status, msgs)
}

// waitMsg waits until a message of the open conversation contains text and
// returns that message's text.
func (p *e2ePage) waitMsg(what, text string) string {
	p.t.Helper()
	js := fmt.Sprintf(`(() => { const m = [...document.querySelectorAll("#messages .msg")].find(m => m.innerText.includes(%q)); return m ? m.innerText : ""; })()`, text)
	got, err := chromedp.Run(p.ctx, chromedp.Poll[string](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Minute)))
	if err != nil {
		p.fail(what, err)
	}
	return got
}

func (p *e2ePage) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(sel))
	if err != nil {
		p.fail("text of "+sel, err)
	}
	return s
}

// TestEndToEndInABrowser drives the real demo platform (store, host
// services, wasm runtime running the lunch app built with the Go toolchain,
// gateway and web client) from a headless Chromium: two people on different
// surfaces chat, then Alice orders and pays for lunch (granting her name
// continues the order by itself).
func TestEndToEndInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the lunch app and drives a browser; skipped with -short")
	}
	browsertest.Chromium(t) // skips without a browser, outside CI
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	d, err := startDemo(ctx, demoOptions{Addr: "127.0.0.1:0", Data: t.TempDir(), AppsDir: "../../miniapps", Only: []string{"lunch"}, Config: sharedCompileCache}, log, t.Output())
	if err != nil {
		t.Fatalf("start the demo: %v", err)
	}
	t.Cleanup(func() { d.close(context.Background()) })
	login := map[string]demoLogin{}
	for _, l := range d.people {
		login[l.Name] = l
	}
	alice, emil := login["Alice"], login["Emil"]
	if alice.Surface != "web" || emil.Surface != "whatsapp" {
		t.Fatalf("demo people: %+v", d.people)
	}

	b := browsertest.Start(t, 5*time.Minute) // after the build: the browser's time is for the journey
	dir := browsertest.Artifacts(t)
	page := func(name string) *e2ePage {
		return &e2ePage{t: t, ctx: browsertest.Tab(t, b), name: name, dir: dir}
	}
	a, br := page("alice"), page("emil")
	online := `#status[data-state="online"]`
	a.do("open the client", chromedp.Navigate(alice.URL), chromedp.WaitVisible(online))
	// Emil signs in from the demo's sign-in page, with no token in a URL.
	br.do("sign in as Emil from the list", chromedp.Navigate(d.p.url()),
		chromedp.Click(fmt.Sprintf(`[data-testid="signin-person"][data-id=%q]`, emil.ID)), chromedp.WaitVisible(online))
	if sf := br.text("#status"); !strings.Contains(sf, "WhatsApp") {
		t.Fatalf("Emil, signed in from the list, is on %q; the demo puts him in the WhatsApp preview", sf)
	}

	t.Run("people on different surfaces chat", func(t *testing.T) {
		a.do("write to Emil",
			chromedp.Click("#new-chat"),
			chromedp.Click(fmt.Sprintf(`[data-testid="people-item"][data-id=%q]`, emil.ID)),
			chromedp.SendKeys("#composer-input", "Emil, lunch at noon?"),
			chromedp.Click("#composer-send"),
			chromedp.WaitVisible(`.msg.mine[data-seq="1"]`),
		)
		br.do("open the conversation",
			chromedp.Click(`#conversations li[data-testid="conv"]`),
			chromedp.WaitVisible(`.msg[data-seq="1"]`),
		)
		if got := br.text(`.msg[data-seq="1"] .text`); got != "Emil, lunch at noon?" {
			t.Fatalf("Emil sees %q", got)
		}
		br.do("answer",
			chromedp.SendKeys("#composer-input", "Yes! Writing from WhatsApp."),
			chromedp.Click("#composer-send"),
			chromedp.WaitVisible(`.msg.mine[data-seq="2"]`),
		)
		a.do("read the answer", chromedp.WaitVisible(`.msg[data-seq="2"]`))
		if got := a.text(`.msg[data-seq="2"] .text`); got != "Yes! Writing from WhatsApp." {
			t.Fatalf("Alice sees %q", got)
		}
		if from := a.text(`.msg[data-seq="2"] .from`); from != "Emil" {
			t.Fatalf("Alice sees the answer from %q", from)
		}
		a.screenshot("chat.png")
		br.screenshot("chat.png")
	})

	t.Run("Alice orders and pays for lunch", func(t *testing.T) {
		const price = 890 + 250 + 300 // Caesar salad, large, fries
		aliceAcct, bistroAcct := pay.PersonAccount(alice.ID), pay.MerchantAccount(demoMerchants["lunch"].ID)
		aliceBefore, err := d.p.svc.Pay.Balance(ctx, aliceAcct, "EUR")
		if err != nil {
			t.Fatal(err)
		}
		bistroBefore, err := d.p.svc.Pay.Balance(ctx, bistroAcct, "EUR")
		if err != nil {
			t.Fatal(err)
		}
		if aliceBefore != demoFunds {
			t.Fatalf("Alice starts with %d, want %d", aliceBefore, demoFunds)
		}

		a.do("open Lunch from the catalog",
			chromedp.Click("#show-apps"),
			chromedp.Click(`[data-testid="apps-item"][data-id="lunch"]`),
			chromedp.WaitVisible(`.msg[data-render="card"] .list-items li[data-choice="dish:salad"]`),
		)
		if title := a.text("#chat-title"); title != "Lunch" {
			t.Fatalf("the app's conversation is titled %q", title)
		}
		a.do("pick the salad",
			chromedp.Click(`li[data-choice="dish:salad"]`),
			chromedp.WaitVisible(`button[data-choice="size:large"]`),
		)
		a.do("pick large", chromedp.Click(`button[data-choice="size:large"]`), chromedp.WaitVisible(`button[data-choice="side:fries"]`))
		a.do("pick fries", chromedp.Click(`button[data-choice="side:fries"]`), chromedp.WaitVisible(`[data-testid="consent-sheet"]`))
		a.waitMsg("the app asks for the name", "May I have your name?")
		if asks := a.text("#prompt-title"); asks != "Bistro Lumière (Lunch) would like to see your name" {
			t.Fatalf("the consent sheet asks %q", asks)
		}
		a.screenshot("consent.png")
		// Granting is enough: the app learns it from a consent event and
		// asks for the payment by itself, without Alice pressing Continue.
		a.do("grant the name", chromedp.Click(`[data-testid="consent-grant"]`), chromedp.WaitVisible(`[data-testid="payment-sheet"]`))
		if amount := a.text(`[data-testid="payment-amount"]`); !strings.Contains(amount, "14.40") {
			t.Fatalf("the payment sheet shows %q, want 14.40", amount)
		}
		// The host draws the sheet with the merchant's display name.
		if title, want := a.text("#prompt-title"), demoMerchants["lunch"].Name; !strings.Contains(title, want) {
			t.Fatalf("the payment sheet is titled %q, want the merchant %q", title, want)
		}
		a.waitMsg("the app thanks Alice by name", "Thanks, Alice!")
		a.screenshot("payment.png")
		// The payment sheet closes (lunch's next question may reuse the sheet at once).
		a.do("confirm the payment", chromedp.Click(`[data-testid="payment-confirm"]`),
			chromedp.Poll[chromedp.Void](`(() => { const s = document.getElementById("prompt-sheet"); return s.hidden || s.getAttribute("data-testid") !== "payment-sheet"; })()`,
				chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Minute)))
		receipt := a.waitMsg("the receipt", "Receipt")
		for _, want := range []string{"Caesar salad", "Total paid: €14.40"} {
			if !strings.Contains(receipt, want) {
				t.Errorf("the receipt lacks %q:\n%s", want, receipt)
			}
		}
		a.screenshot("receipt.png")
		// Lunch then asks to tell Alice when the food is ready (a one-time
		// subscription); the host draws the question in the business's
		// name. Alice says no (a client that does not know the prompt's
		// type offers only to dismiss it).
		a.do("lunch asks to tell Alice when it is ready", chromedp.WaitVisible(`#prompt-sheet`))
		if asks := a.text("#prompt-text"); !strings.Contains(asks, "one message later") || !strings.Contains(asks, "is ready") {
			t.Fatalf("the subscribe prompt says %q", asks)
		}
		if _, err := chromedp.Run(a.ctx, chromedp.Evaluate[bool](`(() => { const no = document.getElementById("prompt-no");
			(no && !no.hidden ? no : document.getElementById("prompt-yes")).click(); return true; })()`)); err != nil {
			a.fail("Alice says no", err)
		}
		a.do("the question closes", chromedp.WaitNotVisible(`#prompt-sheet`))

		aliceAfter, err := d.p.svc.Pay.Balance(ctx, aliceAcct, "EUR")
		if err != nil {
			t.Fatal(err)
		}
		bistroAfter, err := d.p.svc.Pay.Balance(ctx, bistroAcct, "EUR")
		if err != nil {
			t.Fatal(err)
		}
		if aliceBefore-aliceAfter != price || bistroAfter-bistroBefore != price {
			t.Fatalf("Alice %d -> %d, bistro %d -> %d: each should move by exactly %d", aliceBefore, aliceAfter, bistroBefore, bistroAfter, price)
		}
		if err := d.p.svc.Pay.Audit(ctx); err != nil {
			t.Fatalf("the ledger audit fails: %v", err)
		}
		a.do("the wallet shows the new balance",
			chromedp.Poll[chromedp.Void](`document.querySelector('[data-testid="wallet"]').textContent.includes("85.60")`,
				chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Minute)))

		a.do("the wallet's history names the dish and the bistro",
			chromedp.Click(`[data-testid="wallet"]`),
			chromedp.Poll[chromedp.Void](`document.querySelector('[data-testid="wallet-history"]').textContent.includes("Bistro Lumière")`,
				chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Minute)))
		if h := a.text(`[data-testid="wallet-history"]`); !strings.Contains(h, "-€14.40") || !strings.Contains(h, "Added to your wallet") {
			t.Errorf("the wallet history reads %q", h)
		}
		a.screenshot("wallet.png")
		a.do("close the wallet", chromedp.Click("#wallet-close"), chromedp.WaitNotVisible("#wallet-sheet"))

		// The kitchen's timer (5 s in the demo's lunch) says it is ready.
		ready := a.waitMsg("ready", "is ready")
		if !strings.Contains(ready, "Alice, your order") {
			t.Errorf("the ready message does not call Alice by name: %q", ready)
		}
		a.screenshot("ready.png")
	})
}

// TestShopPhotosInABrowser runs the demo with the shop the binary carries
// and checks, in a headless Chromium, that a product card shows the photo
// the app ships, loaded from the platform's /assets/ URL.
func TestShopPhotosInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser; skipped with -short")
	}
	browsertest.Chromium(t) // skips without a browser, outside CI
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	d, err := startDemo(ctx, demoOptions{Addr: "127.0.0.1:0", Data: t.TempDir(), Only: []string{"shop"}, Config: sharedCompileCache}, log, t.Output())
	if err != nil {
		t.Fatalf("start the demo: %v", err)
	}
	t.Cleanup(func() { d.close(context.Background()) })
	var alice demoLogin
	for _, l := range d.people {
		if l.Name == "Alice" {
			alice = l
		}
	}
	b := browsertest.Start(t, 5*time.Minute)
	a := &e2ePage{t: t, ctx: browsertest.Tab(t, b), name: "alice", dir: browsertest.Artifacts(t)}
	a.do("open the shop",
		chromedp.Navigate(alice.URL), chromedp.WaitVisible(`#status[data-state="online"]`),
		chromedp.Click("#show-apps"),
		chromedp.Click(`[data-testid="apps-item"][data-id="shop"]`),
		chromedp.Click(`.msg[data-render="card"] li[data-choice="product:tee"]`),
	)
	// The photo has loaded (a broken image is removed by the client).
	src, err := chromedp.Run(a.ctx, chromedp.Poll[string](`(() => {
		const img = [...document.querySelectorAll('.msg[data-render="card"] img')].find(i => i.complete && i.naturalWidth > 0);
		return img ? img.getAttribute("src") : "";
	})()`, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Minute)))
	if err != nil {
		a.fail("the tee's photo", err)
	}
	if !strings.HasPrefix(src, "/assets/") || !strings.HasSuffix(src, ".png") {
		t.Fatalf("the photo comes from %q, want /assets/<sha256>.png", src)
	}
	a.screenshot("shop-photo.png")
}
