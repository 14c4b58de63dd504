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
	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

// TestDemoPhoneInABrowser opens Bruno's WhatsApp phone page, as the demo
// prints it, in a headless Chromium: he writes "hi", the lunch menu
// arrives as a WhatsApp list through the demo's connector, he opens the
// list and taps a dish, and the app's next question (the size, as reply
// buttons) shows on his phone.
func TestDemoPhoneInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser; skipped with -short")
	}
	browsertest.Chromium(t) // skips without a browser, outside CI
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := startDemo(context.Background(), demoOptions{Addr: "127.0.0.1:0", Only: []string{"lunch"}, Config: sharedCompileCache}, log, t.Output())
	if err != nil {
		t.Fatalf("start the demo: %v", err)
	}
	t.Cleanup(func() { d.close(context.Background()) })
	var bruno demoPhone
	for _, ph := range d.nets.phones {
		if ph.Name == "Bruno" && ph.Network == metasim.WhatsApp {
			bruno = ph
		}
	}
	if bruno.URL == "" {
		t.Fatalf("no phone page for Bruno on WhatsApp among %+v", d.nets.phones)
	}

	b := browsertest.Start(t, 5*time.Minute)
	p := &e2ePage{t: t, ctx: browsertest.Tab(t, b), name: "bruno-phone", dir: browsertest.Artifacts(t)}
	list := `#thread li.bubble.business[data-kind="list"]`
	p.do("say hi",
		chromedp.Navigate(bruno.URL),
		chromedp.WaitVisible("#text"),
		chromedp.SendKeys("#text", "hi"),
		chromedp.Click(`#say button[type="submit"]`),
		chromedp.WaitVisible(list),
	)
	if got := p.text("#chat-title"); got != "Bistro Lumière" {
		t.Fatalf("Bruno's phone writes to %q", got)
	}
	// The list's choices, as the simulator holds them: the page shows these.
	th, err := d.nets.sim.Thread(metasim.WhatsApp, bruno.ID)
	if err != nil {
		t.Fatal(err)
	}
	var soup string
	for _, bub := range th {
		for _, c := range bub.Choices {
			if bub.Kind == "list" && strings.HasPrefix(c.Title, "Tomato soup") {
				soup = c.ID
			}
		}
	}
	if soup == "" {
		t.Fatalf("no Tomato soup in the menu list: %+v", th)
	}
	// Each status (sent, delivered, read) draws the thread again and closes
	// an open list: open it once the menu has been read.
	p.do("see the menu's status", chromedp.WaitVisible(list+" .meta"))
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](fmt.Sprintf(`document.querySelector(%q).textContent.includes("read")`, list+" .meta"),
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Minute))); err != nil {
		p.fail("wait until the menu is read", err)
	}
	p.do("open the menu and tap a dish",
		chromedp.Click(list+" summary"),
		chromedp.Click(fmt.Sprintf(`%s button[data-choice=%q]`, list, soup)),
		chromedp.WaitVisible(`#thread li.bubble.business[data-kind="buttons"] button.choice`),
	)
	if got := p.text(`#thread li.bubble.business[data-kind="buttons"]`); !strings.Contains(got, "Regular") {
		t.Fatalf("after the dish, the phone shows %q; want the size buttons", got)
	}
	p.screenshot("sizes.png")
}
