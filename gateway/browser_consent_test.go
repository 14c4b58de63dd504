package gateway_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/browsertest"
	hconsent "github.com/passerelle/passerelle/host/consent"
)

// TestBrowserConsentScreenByKeyboard: at phone and desktop size, "Who can
// message me" opens from the keyboard, lists each business with what it
// may send and since when, fits the screen and passes axe-core; stopping
// one purpose asks first (focus on the confirmation, Cancel gives focus
// back to the button), then withdraws only that purpose and says so; Escape
// closes the screen and gives focus back to the button that opened it.
func TestBrowserConsentScreenByKeyboard(t *testing.T) {
	ctx := context.Background()
	b := browsertest.Start(t, 5*time.Minute)
	for _, vp := range []viewport{phone, desktop} {
		t.Run(vp.name, func(t *testing.T) {
			var sc *screen
			e := newEnv(t, func(c *gateway.Config) {
				db := openDB(t, t.TempDir())
				t.Cleanup(func() { db.Close() })
				svc, err := hconsent.Open(db, hconsent.Config{})
				if err != nil {
					t.Fatal(err)
				}
				sc = &screen{svc: svc, names: map[string]string{"bistro": "Bistro Lumière", "atelier": "Atelier Nord"}}
				c.Consents = sc
			})
			for _, g := range []hconsent.Grant{
				{Person: "alice", Business: "bistro", App: "lunch", Purpose: "specials", Surface: "web", Prompt: hconsent.OptInPrompt("Bistro Lumière", "specials")},
				{Person: "alice", Business: "atelier", App: "shop", Purpose: "new-collections", Surface: "whatsapp", Prompt: hconsent.OptInPrompt("Atelier Nord", "new-collections")},
			} {
				if _, err := sc.svc.OptIn(ctx, g); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := sc.svc.Subscribe(ctx, hconsent.Grant{Person: "alice", Business: "bistro", App: "lunch", Template: "table-ready",
				Prompt: hconsent.SubscriptionPrompt("Bistro Lumière", "your table is ready")}); err != nil {
				t.Fatal(err)
			}
			p := newPage(t, b, "alice", browsertest.Artifacts(t), vp)
			p.do("open", chromedp.Navigate(e.http.URL+"/#token=tok-alice"), chromedp.WaitVisible(online))
			focused := func() string {
				return p.eval(`document.activeElement.dataset.testid || document.activeElement.id || document.activeElement.textContent`)
			}
			enter := chromedp.KeyEvent("\r")

			p.do("open the screen with Enter", chromedp.Focus(`[data-testid="consents"]`), enter,
				chromedp.WaitVisible(`[data-business="bistro"] [data-testid="consent-optin"][data-purpose="specials"]`))
			if f := focused(); f != "consents-close" {
				t.Fatalf("the screen opens with focus on %q", f)
			}
			bistro := p.text(`[data-business="bistro"]`)
			for _, want := range []string{"Bistro Lumière", "Messages about specials", "Since ", "in Lunch, on the web", "One message: table ready", "Allow Bistro Lumière to send you specials messages"} {
				if !strings.Contains(bistro, want) {
					t.Errorf("the bistro reads %q; it lacks %q", bistro, want)
				}
			}
			if atelier := p.text(`[data-business="atelier"]`); !strings.Contains(atelier, "on WhatsApp") {
				t.Errorf("the atelier reads %q", atelier)
			}
			p.onScreen("#consents-sheet .sheet-body")
			p.axe("Who can message me")
			p.shot("consents.png")

			withdraw := `[data-business="bistro"] [data-testid="consent-withdraw"]`
			p.do("ask to stop the specials", chromedp.Focus(withdraw), enter, chromedp.WaitVisible(`[data-testid="consent-confirm"]`))
			if f := focused(); f != "consent-confirm" {
				t.Fatalf("the confirmation opens with focus on %q", f)
			}
			p.do("cancel", chromedp.KeyEvent("\t", chromedp.KeyModifiers(8 /* shift */)), enter, chromedp.WaitNotPresent(`[data-testid="consent-confirm"]`))
			if f := focused(); f != "consent-withdraw" {
				t.Fatalf("after Cancel focus is on %q, want the button that asked", f)
			}
			if _, err := sc.svc.Check(ctx, hconsent.Message{Person: "alice", Business: "bistro", Purpose: "specials"}); err != nil {
				t.Fatalf("cancelling withdrew the opt-in: %v", err)
			}
			p.do("stop the specials", enter, chromedp.WaitVisible(`[data-testid="consent-confirm"]`), enter,
				chromedp.WaitNotPresent(`[data-business="bistro"] [data-purpose="specials"]`))
			if s := p.text("#consents-status"); s != "Bistro Lumière may no longer send you specials messages." {
				t.Fatalf("the screen says %q", s)
			}
			if f := p.eval(`document.activeElement.tagName + " " + document.activeElement.textContent`); f != "H3 Bistro Lumière" {
				t.Fatalf("after stopping, focus is on %q", f)
			}
			if !p.visible(`[data-business="bistro"] [data-testid="consent-subscription"]`) || !p.visible(`[data-business="atelier"] [data-purpose="new-collections"]`) {
				t.Fatal("stopping one purpose took more away")
			}
			if _, err := sc.svc.Check(ctx, hconsent.Message{Person: "alice", Business: "bistro", Purpose: "specials"}); !errors.Is(err, hconsent.ErrNotOptedIn) {
				t.Fatalf("a specials message after the withdrawal: %v", err)
			}
			p.axe("after stopping a purpose")
			p.do("close with Escape", chromedp.KeyEvent("\x1b"), chromedp.WaitNotVisible("#consents-sheet"))
			if f := focused(); f != "consents" {
				t.Fatalf("after closing, focus is on %q", f)
			}
		})
	}
}
