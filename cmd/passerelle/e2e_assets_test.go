package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/passerelle/passerelle/gateway/browsertest"
)

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
	d, err := startDemo(ctx, demoOptions{Addr: "127.0.0.1:0", Data: t.TempDir(), Only: []string{"shop"}}, log, t.Output())
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
	b := browsertest.Start(t, 60*time.Second)
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
	})()`, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		a.fail("the tee's photo", err)
	}
	if !strings.HasPrefix(src, "/assets/") || !strings.HasSuffix(src, ".png") {
		t.Fatalf("the photo comes from %q, want /assets/<sha256>.png", src)
	}
	a.screenshot("shop-photo.png")
}
