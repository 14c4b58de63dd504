package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/passerelle/passerelle/gateway/browsertest"
)

// viewport is a browser window size the client must work at.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var (
	phone   = viewport{"phone", 390, 844, true}
	desktop = viewport{"desktop", 1280, 800, false}
)

// page is one tab of the web client, with the helpers the browser tests
// share. Every failure saves a screenshot next to the others.
type page struct {
	t    *testing.T
	ctx  context.Context
	name string
	dir  string
}

func newPage(t *testing.T, b context.Context, name, dir string, vp viewport) *page {
	t.Helper()
	p := &page{t: t, ctx: browsertest.Tab(t, b), name: name, dir: dir}
	opts := []chromedp.EmulateViewportOption{}
	if vp.mobile {
		opts = append(opts, chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	// The first action allocates the tab: it runs on the tab's own context,
	// which lives as long as the test (a shorter one would close the tab).
	if err := chromedp.Do(p.ctx, chromedp.EmulateViewport(vp.width, vp.height, opts...)); err != nil {
		t.Fatalf("open a tab at %s size: %v", vp.name, err)
	}
	return p
}

func (p *page) shot(name string) { browsertest.Screenshot(p.t, p.ctx, p.dir, p.name+"-"+name) }

func (p *page) fail(what string, err error) {
	p.t.Helper()
	p.shot("failure.png")
	status, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`(document.getElementById("status")||{}).textContent||""`))
	p.t.Fatalf("%s: %s: %v (status %q)", p.name, what, err, status)
}

// do runs the actions, failing after a minute: a step that waits for what
// never comes fails alone, with its name, not the whole browser's time.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fail(what, err)
	}
}

func (p *page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(sel))
	if err != nil {
		p.fail("text of "+sel, err)
	}
	return s
}

func (p *page) eval(js string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		p.fail("evaluate "+js, err)
	}
	return s
}

// until waits until the JavaScript expression js is true.
func (p *page) until(what, js string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Minute)))
	if err != nil {
		p.fail(what+" ("+js+")", err)
	}
}

// onScreen fails unless every element sel matches is drawn whole inside
// the viewport and the page itself does not scroll (its panes do): a sheet
// pushed below the screen makes the page taller, even when the browser
// scrolled to its focused button.
func (p *page) onScreen(sel string) {
	p.t.Helper()
	js := fmt.Sprintf(`(() => {
		const out = [];
		const els = [...document.querySelectorAll(%q)];
		if (!els.length) return "nothing matches";
		for (const e of els) {
			const r = e.getBoundingClientRect();
			if (r.width === 0 || r.height === 0) out.push(e.id + " has no size");
			else if (r.top < -0.5 || r.left < -0.5 || r.bottom > innerHeight + 0.5 || r.right > innerWidth + 0.5)
				out.push((e.id || e.className) + " at " + [r.left, r.top, r.right, r.bottom].map(Math.round).join(",") + " outside " + innerWidth + "x" + innerHeight);
		}
		const de = document.documentElement;
		if (de.scrollWidth > innerWidth + 0.5) out.push("the page is " + de.scrollWidth + "px wide in a " + innerWidth + "px viewport");
		if (de.scrollHeight > innerHeight + 0.5 || scrollY !== 0) out.push("the page is " + de.scrollHeight + "px high in a " + innerHeight + "px viewport, scrolled by " + scrollY);
		return out.join("; ");
	})()`, sel)
	if got := p.eval(js); got != "" {
		p.shot("offscreen.png")
		p.t.Fatalf("%s: %s is not on screen: %s", p.name, sel, got)
	}
}

// visible reports whether sel matches an element with a size, drawn.
func (p *page) visible(sel string) bool {
	p.t.Helper()
	return p.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return "no"; const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden" ? "yes" : "no"; })()`, sel)) == "yes"
}

// axe runs axe-core (vendored in testdata/axe-core) on the page and fails
// on any serious or critical violation.
func (p *page) axe(when string) {
	p.t.Helper()
	src, err := os.ReadFile("testdata/axe-core/axe.min.js")
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](string(src)+";true")); err != nil {
		p.fail("load axe-core", err)
	}
	res, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("run axe-core", err)
	}
	var v []map[string]any
	if err := json.Unmarshal([]byte(res), &v); err != nil {
		p.t.Fatalf("axe-core result %q: %v", res, err)
	}
	if len(v) > 0 {
		p.shot("axe.png")
		var b strings.Builder
		for _, x := range v {
			fmt.Fprintf(&b, "\n  %v (%v): %v at %v", x["id"], x["impact"], x["help"], x["nodes"])
		}
		p.t.Errorf("%s, %s: axe-core finds %d serious or critical violations:%s", p.name, when, len(v), b.String())
	}
}
