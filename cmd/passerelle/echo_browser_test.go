package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/passerelle/passerelle/gateway/browsertest"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/host/handoff"
)

// TestPageReplyFormInABrowser: on Chloé's simulated Messenger, the form
// "Answer as Bistro Lumière from Meta's inbox" sends the business's
// answer; its echo reaches the demo's webhook and a handoff opens for the
// bistro's staff. axe-core finds no serious violation on the phone page
// with the form open.
func TestPageReplyFormInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser; skipped with -short")
	}
	browsertest.Chromium(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := startDemo(ctx, demoOptions{Addr: "127.0.0.1:0", Data: t.TempDir(), Only: []string{"lunch"}, Config: sharedCompileCache}, log, t.Output())
	if err != nil {
		t.Fatalf("start the demo: %v", err)
	}
	t.Cleanup(func() { d.close(context.Background()) })
	var chloe demoPhone
	for _, ph := range d.nets.phones {
		if ph.Network == metasim.Messenger {
			chloe = ph
		}
	}
	b := browsertest.Start(t, 5*time.Minute)
	pg := &e2ePage{t: t, ctx: browsertest.Tab(t, b), name: "page-reply", dir: browsertest.Artifacts(t)}
	if err := chromedp.Do(pg.ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	pg.step("open Chloé's phone", chromedp.Navigate(chloe.URL), chromedp.WaitVisible(`#say`))
	pg.step("open the Page's form", chromedp.Click(`.page-inbox summary`), chromedp.WaitVisible(`[data-testid="page-reply-text"]`))
	pg.axe("the phone with the Page's form")
	pg.step("answer as the Page", chromedp.SendKeys(`[data-testid="page-reply-text"]`, "Chloé, Marc here: we kept your table."),
		chromedp.Click(`[data-testid="page-reply"]`))
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := d.p.svc.Handoffs.List(ctx, "bistro", true, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].Status == handoff.StatusTaken && list[0].Agent == "Messenger inbox" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no handoff after the Page's answer: %+v", list)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The form's post ends in a redirect to the phone; read it afresh.
	pg.step("the phone again", chromedp.Navigate(chloe.URL), chromedp.WaitVisible(`#say`))
	pg.until("the answer is in her thread", `document.getElementById("thread").innerText.includes("we kept your table")`)
}
