package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/passerelle/passerelle/gateway/browsertest"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
)

// TestConsentScreenInABrowser drives the demo platform with the lunch app
// the binary carries, from a headless Chromium at phone size: Alice orders
// and pays, allows Bistro Lumière in its host-drawn prompt to tell her once
// when the order is ready, then opens "Who can message me", finds the
// bistro, what it may send, since when and the question she answered, and
// stops it after a confirmation. The ledger records the opt-out from the
// consent screen, and lunch's next "your order is ready" is refused
// (opted_out) and nothing reaches her. axe-core finds no serious or
// critical violation on the screen, before and while confirming.
func TestConsentScreenInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser; skipped with -short")
	}
	browsertest.Chromium(t) // skips without a browser, outside CI
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	d, err := startDemo(ctx, demoOptions{Addr: "127.0.0.1:0", Data: t.TempDir(), Only: []string{"lunch"}, Config: sharedCompileCache}, log, t.Output())
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
	bistro := demoMerchants["lunch"]

	b := browsertest.Start(t, 5*time.Minute)
	a := &e2ePage{t: t, ctx: browsertest.Tab(t, b), name: "alice", dir: browsertest.Artifacts(t)}
	a.do("open the client at phone size",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Navigate(alice.URL), chromedp.WaitVisible(`#status[data-state="online"]`))
	a.do("order lunch",
		chromedp.Click("#show-apps"),
		chromedp.Click(`[data-testid="apps-item"][data-id="lunch"]`),
		chromedp.Click(`li[data-choice="dish:salad"]`),
		chromedp.Click(`button[data-choice="size:large"]`),
		chromedp.Click(`button[data-choice="side:fries"]`),
		chromedp.Click(`[data-testid="consent-grant"]`),
		chromedp.Click(`[data-testid="payment-confirm"]`),
	)
	// Lunch asks to tell Alice when the order is ready: the host draws the
	// question in the business's name, and she allows it.
	a.do("the subscribe prompt", chromedp.WaitVisible(`[data-testid="subscribe-sheet"] [data-testid="subscribe-accept"]`))
	if title, text := a.text("#prompt-title"), a.text("#prompt-text"); title != bistro.Name || !strings.Contains(text, "one message later") {
		t.Fatalf("the subscribe prompt reads %q: %q", title, text)
	}
	a.screenshot("subscribe.png")
	a.do("allow it", chromedp.Click(`[data-testid="subscribe-accept"]`), chromedp.WaitNotVisible("#prompt-sheet"))
	var st []consent.Standing
	deadline := time.Now().Add(time.Minute)
	for {
		if st, err = d.p.svc.Consent.Standings(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		if len(st) == 1 && len(st[0].Subscriptions) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Alice's standings after allowing: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	since := st[0].Subscriptions[0].Time
	conv, err := chromedp.Run(a.ctx, chromedp.AttributeValue(`#messages .msg[data-conv]`, "data-conv"))
	if err != nil {
		a.fail("the lunch conversation's id", err)
	}

	item := fmt.Sprintf(`[data-testid="consent-business"][data-business=%q]`, bistro.ID)
	a.do("open Who can message me",
		chromedp.Click("#back"),
		chromedp.Click(`[data-testid="consents"]`),
		chromedp.WaitVisible(item+` [data-testid="consent-subscription"][data-template="order-ready"]`))
	if got := a.text(item + " h3"); got != bistro.Name {
		t.Fatalf("the screen names the business %q, want %q", got, bistro.Name)
	}
	sub := a.text(item + ` [data-testid="consent-subscription"]`)
	for _, want := range []string{"One message: order ready", "Since ", strconv.Itoa(since.Year()), "in Lunch", "one message later"} {
		if !strings.Contains(sub, want) {
			t.Errorf("the subscription reads %q; it lacks %q", sub, want)
		}
	}
	a.onScreen("#consents-sheet .sheet-body")
	a.axe("Who can message me")
	a.screenshot("consents.png")

	a.do("ask to stop the bistro", chromedp.Click(item+` [data-testid="consent-revoke"]`), chromedp.WaitVisible(`[data-testid="consent-confirm"]`))
	if focus := a.eval(`document.activeElement.dataset.testid || ""`); focus != "consent-confirm" {
		t.Fatalf("the confirmation has focus on %q, want its confirm button", focus)
	}
	if q := a.text(".confirm p"); !strings.Contains(q, "Stop all messages from "+bistro.Name) || !strings.Contains(q, "STOP") {
		t.Fatalf("the confirmation asks %q", q)
	}
	a.axe("the confirmation")
	a.screenshot("confirm.png")
	a.do("confirm", chromedp.Click(`[data-testid="consent-confirm"]`), chromedp.WaitVisible(item+` [data-testid="consent-stopped"]`))
	if s := a.text("#consents-status"); !strings.Contains(s, bistro.Name+" may send you nothing more") {
		t.Fatalf("the screen says %q after stopping", s)
	}
	if focus := a.eval(`document.activeElement.textContent`); focus != bistro.Name {
		t.Fatalf("after stopping, focus is on %q, want the business's heading", focus)
	}
	a.screenshot("stopped.png")

	recs, err := d.p.svc.Consent.Records(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if last.Kind != consent.KindOptOut || last.Business != bistro.ID || last.Person != alice.ID || last.Via != "consent screen" || last.Surface != "web" {
		t.Fatalf("the ledger ends with %+v, want Alice's opt-out of %s from the consent screen", last, bistro.ID)
	}

	// The kitchen's timer says an order is ready: lunch notifies under
	// Alice's one-time subscription, and the consent rules refuse it.
	before := appMessages(t, a)
	payload, _ := json.Marshal(map[string]string{"kind": "ready", "ref": "R-AFTER"})
	if err := d.p.router.DeliverFor(ctx, host.AppRef{Merchant: bistro.ID, App: "lunch"}, host.AppEvent{Person: alice.ID, Conversation: conv.Value,
		Surface: "web", Event: host.Event{Type: host.EventTimer, Timer: &host.TimerEvent{ID: "tm_after", Payload: payload}}, Out: d.p.gateway}); err != nil {
		t.Fatalf("the timer event: %v", err)
	}
	logs, _ := d.p.registry.Logs("lunch", 0, 200)
	refused := false
	for _, l := range logs {
		refused = refused || strings.Contains(l.Message, "R-AFTER") && strings.Contains(l.Message, "opted out")
	}
	if !refused {
		t.Fatalf("lunch's notify after the revocation is not refused in its log: %+v", logs)
	}
	msgs, err := d.p.msgs.Range(ctx, conv.Value, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if strings.Contains(m.Msg.Text, "R-AFTER") {
			t.Fatalf("the refused message was stored: %+v", m)
		}
	}
	if after := appMessages(t, a); after != before {
		t.Fatalf("Alice's client got app messages after the revocation: %d, then %d", before, after)
	}
}

// appMessages counts the app's messages the page holds.
func appMessages(t *testing.T, p *e2ePage) int {
	t.Helper()
	n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](`document.querySelectorAll("#messages .msg:not(.mine)").length`))
	if err != nil {
		p.fail("count messages", err)
	}
	return n
}

// onScreen fails unless every element sel matches is drawn whole inside
// the viewport and the page itself does not scroll.
func (p *e2ePage) onScreen(sel string) {
	p.t.Helper()
	got := p.eval(fmt.Sprintf(`(() => {
		const out = [];
		for (const e of document.querySelectorAll(%q)) {
			const r = e.getBoundingClientRect();
			if (r.width === 0 || r.height === 0) out.push(e.id + " has no size");
			else if (r.top < -0.5 || r.left < -0.5 || r.bottom > innerHeight + 0.5 || r.right > innerWidth + 0.5)
				out.push((e.id || e.className) + " at " + [r.left, r.top, r.right, r.bottom].map(Math.round).join(",") + " outside " + innerWidth + "x" + innerHeight);
		}
		const de = document.documentElement;
		if (de.scrollWidth > innerWidth + 0.5) out.push("the page is " + de.scrollWidth + "px wide");
		return out.join("; ");
	})()`, sel))
	if got != "" {
		p.screenshot("offscreen.png")
		p.t.Fatalf("%s: %s is not on screen: %s", p.name, sel, got)
	}
}

func (p *e2ePage) eval(js string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		p.fail("evaluate "+js, err)
	}
	return s
}

// axe runs axe-core (vendored in gateway/testdata) on the page and fails on
// any serious or critical violation.
func (p *e2ePage) axe(when string) {
	p.t.Helper()
	src, err := os.ReadFile("../../gateway/testdata/axe-core/axe.min.js")
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](string(src)+";true")); err != nil {
		p.fail("load axe-core", err)
	}
	res, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({id: v.id, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("run axe-core", err)
	}
	if res != "[]" {
		p.screenshot("axe.png")
		p.t.Errorf("%s, %s: axe-core finds serious or critical violations: %s", p.name, when, res)
	}
}
