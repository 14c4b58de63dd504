package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/passerelle/passerelle/gateway/browsertest"
)

const online = `#status[data-state="online"]`

// TestBrowserLayout drives the client at a phone's and a desktop's size:
// on a phone one pane shows at a time; at both sizes the host-drawn sheets
// are drawn whole inside the viewport, take the focus as dialogs, and
// axe-core finds no serious or critical violation.
func TestBrowserLayout(t *testing.T) {
	e := newEnv(t, nil)
	b := browsertest.Start(t, 5*time.Minute)
	dir := browsertest.Artifacts(t)
	for _, vp := range []viewport{phone, desktop} {
		t.Run(vp.name, func(t *testing.T) {
			p := newPage(t, b, vp.name, dir, vp)
			p.do("open the client", chromedp.Navigate(e.http.URL+"/#token=tok-alice&surface=web"), chromedp.WaitVisible(online))
			if vp.mobile && p.visible("#chat") {
				t.Fatal("on a phone the conversation pane shows beside the list")
			}
			p.onScreen("#side")
			p.shot("list.png")
			p.axe("the conversation list")

			p.do("write to Bob",
				chromedp.Click("#new-chat"),
				chromedp.Click(`[data-testid="people-item"][data-id="bob"]`),
				chromedp.SendKeys("#composer-input", "Hi Bob, lunch at noon?"),
				chromedp.Click("#composer-send"),
				chromedp.WaitVisible(`.msg.mine[data-seq="1"]`),
			)
			if vp.mobile && p.visible("#side") {
				t.Fatal("on a phone the list shows beside the conversation")
			}
			p.onScreen("#chat, #composer-send")
			p.shot("chat.png")
			p.axe("a conversation")

			pay := `{"type":"payment","order":"ord_` + vp.name + `","amount":1200,"currency":"EUR","description":"Tomato soup","merchant":"greenbowl","merchant_name":"Green Bowl","app":"lunch"}`
			if err := e.srv.Emit(context.Background(), e.prompt("payment", "pay_ord_"+vp.name, "alice", pay)); err != nil {
				t.Fatal(err)
			}
			p.do("payment sheet", chromedp.WaitVisible(`[data-testid="payment-sheet"]`))
			p.onScreen("#prompt-sheet .sheet-body, #prompt-yes, #prompt-no")
			if got, want := p.text("#prompt-title"), "Pay €12.00 to Green Bowl for Tomato soup"; got != want {
				t.Errorf("the payment sheet says %q, want %q", got, want)
			}
			if f := p.eval(`document.activeElement.id + " " + document.activeElement.closest("[role=dialog]")?.getAttribute("aria-modal")`); f != "prompt-yes true" {
				t.Errorf("focus while the payment sheet shows: %q, want the confirm button in a modal dialog", f)
			}
			p.shot("payment.png")
			p.axe("the payment sheet")
			p.do("confirm", chromedp.Click(`[data-testid="payment-confirm"]`), chromedp.WaitNotVisible(`#prompt-sheet`))

			before := p.eval(`document.activeElement.id`)
			consent := `{"type":"consent","id":"cp_` + vp.name + `","app":"lunch","merchant":"greenbowl","merchant_name":"Green Bowl","scopes":["identity.profile"]}`
			if err := e.srv.Emit(context.Background(), e.prompt("consent", "cp_"+vp.name, "alice", consent)); err != nil {
				t.Fatal(err)
			}
			p.do("consent sheet", chromedp.WaitVisible(`[data-testid="consent-sheet"]`))
			p.onScreen("#prompt-sheet .sheet-body, #prompt-yes, #prompt-no")
			if got := p.text("#prompt-title"); got != "Green Bowl (Lunch) would like to see your name" {
				t.Errorf("the consent sheet says %q", got)
			}
			p.shot("consent.png")
			p.do("refuse", chromedp.Click(`[data-testid="consent-refuse"]`), chromedp.WaitNotVisible(`#prompt-sheet`))
			if f := p.eval(`document.activeElement.id`); f != before {
				t.Errorf("after the sheet the focus is on %q, want it back on %q", f, before)
			}

			if vp.mobile {
				p.do("back to the list", chromedp.Click("#back"), chromedp.WaitVisible("#conversations"))
			}
			// The mini-app directory: a long description stays on one line
			// inside the list instead of widening it.
			p.do("open the directory", chromedp.Click("#show-apps"), chromedp.WaitVisible(`[data-testid="apps-item"][data-id="lunch"]`))
			p.onScreen(`#picker, [data-testid="apps-item"]`)
			if got := p.text(`[data-testid="apps-item"] .title`); got != "Lunch" {
				t.Errorf("the directory lists %q", got)
			}
			p.shot("apps.png")
			p.axe("the mini-app directory")
			p.do("close the directory", chromedp.Click("#picker-close"), chromedp.WaitNotVisible("#picker"))
			if vp.mobile {
				if p.visible("#chat") {
					t.Fatal("back on the list, the conversation still shows")
				}
			}
			if got := p.text(`#conversations li[data-testid="conv"] .preview`); !strings.Contains(got, "You: Hi Bob") {
				t.Errorf("the conversation list previews %q", got)
			}
		})
	}
	e.pay.mu.Lock()
	defer e.pay.mu.Unlock()
	if len(e.pay.calls) != 2 {
		t.Fatalf("payments saw %v, want one confirmation per viewport", e.pay.calls)
	}
}
