package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/passerelle/passerelle/gateway/browsertest"
	"github.com/passerelle/passerelle/host"
)

func TestBrowserPeopleOnDifferentSurfaces(t *testing.T) {
	e := newEnv(t, nil)
	b := browsertest.Start(t, 5*time.Minute)
	dir := browsertest.Artifacts(t)
	alice, bob := browsertest.Tab(t, b), browsertest.Tab(t, b)
	online := `#status[data-state="online"]`
	run := func(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			browsertest.Screenshot(t, ctx, dir, "failure.png")
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	attr := func(ctx context.Context, sel, name string) string {
		t.Helper()
		a, err := chromedp.Run(ctx, chromedp.AttributeValue(sel, name))
		if err != nil {
			t.Fatalf("%s of %s: %v", name, sel, err)
		}
		return a.Value
	}
	run(alice, "alice opens the client", chromedp.Navigate(e.http.URL+"/#token=tok-alice&surface=web"), chromedp.WaitVisible(online))
	run(bob, "bob opens the client as whatsapp", chromedp.Navigate(e.http.URL+"/#token=tok-bob&surface=whatsapp"), chromedp.WaitVisible(online))

	run(alice, "alice writes to bob",
		chromedp.Click("#new-chat"),
		chromedp.Click(`[data-testid="people-item"][data-id="bob"]`),
		chromedp.SendKeys("#composer-input", "Hi Bob, lunch at noon?"),
		chromedp.Click("#composer-send"),
		chromedp.WaitVisible(`.msg.mine[data-seq="1"]`),
	)
	run(bob, "bob reads and answers",
		chromedp.Click(`#conversations li[data-testid="conv"]`),
		chromedp.WaitVisible(`.msg[data-seq="1"]`),
	)
	if got := text(bob, `.msg[data-seq="1"] .text`); got != "Hi Bob, lunch at noon?" {
		t.Fatalf("bob sees %q", got)
	}
	run(bob, "bob replies",
		chromedp.SendKeys("#composer-input", "Yes! From WhatsApp."),
		chromedp.Click("#composer-send"),
		chromedp.WaitVisible(`.msg.mine[data-seq="2"]`),
	)
	run(alice, "alice sees the reply", chromedp.WaitVisible(`.msg[data-seq="2"]`))
	if got := text(alice, `.msg[data-seq="2"] .text`); got != "Yes! From WhatsApp." {
		t.Fatalf("alice sees %q", got)
	}

	// A card with four buttons: native on web, a numbered menu on WhatsApp.
	conv := attr(alice, `.msg[data-seq="2"]`, "data-conv")
	card := &host.Message{Card: &host.Card{Title: "Today's lunch", Buttons: []host.Button{
		{ID: "soup", Title: "Soup"}, {ID: "salad", Title: "Salad"}, {ID: "pasta", Title: "Pasta"}, {ID: "curry", Title: "Curry"}}}}
	if err := e.srv.Emit(context.Background(), host.Outgoing{App: host.AppRef{App: "lunch"}, Conversation: conv, Message: card}); err != nil {
		t.Fatal(err)
	}
	run(alice, "alice sees a native card", chromedp.WaitVisible(`.msg[data-seq="3"] .choices button`))
	run(bob, "bob sees a menu", chromedp.WaitVisible(`.msg[data-seq="3"]`))
	aliceKind, bobKind := attr(alice, `.msg[data-seq="3"]`, "data-render"), attr(bob, `.msg[data-seq="3"]`, "data-render")
	bobText := text(bob, `.msg[data-seq="3"] .text`)
	if aliceKind != "card" || bobKind != "menu" || !strings.Contains(bobText, "4. Curry") {
		t.Fatalf("alice renders %q, bob renders %q: %q", aliceKind, bobKind, bobText)
	}

	// A host-drawn payment sheet, confirmed by alice.
	pay := `{"type":"payment","order":"ord_77","amount":1250,"currency":"EUR","description":"Salad","merchant":"Green Bowl","app":"lunch"}`
	if err := e.srv.Emit(context.Background(), e.prompt("payment", "pay_ord_77", "alice", pay)); err != nil {
		t.Fatal(err)
	}
	run(alice, "payment sheet", chromedp.WaitVisible(`[data-testid="payment-sheet"]`))
	if amount := text(alice, `[data-testid="payment-amount"]`); !strings.Contains(amount, "12.50") {
		t.Fatalf("amount shown %q", amount)
	}
	browsertest.Screenshot(t, alice, dir, "alice-web-payment.png")
	browsertest.Screenshot(t, bob, dir, "bob-whatsapp.png")
	run(alice, "confirm", chromedp.Click(`[data-testid="payment-confirm"]`), chromedp.WaitNotVisible(`#prompt-sheet`))
	e.pay.mu.Lock()
	calls := fmt.Sprint(e.pay.calls)
	e.pay.mu.Unlock()
	if calls != "[confirm alice ord_77]" {
		t.Fatalf("payments saw %s", calls)
	}

	// Alice opens a mini-app from the catalog and presses a button of its card.
	got := make(chan host.AppEvent, 10)
	e.apps.set(func(ev host.AppEvent) *host.Message {
		if ev.Event.Type == host.EventOpen {
			return &host.Message{Card: &host.Card{Title: "Menu", List: &host.List{Items: []host.ListItem{{ID: "soup", Title: "Soup"}}}}}
		}
		return nil
	}, got)
	run(alice, "open the lunch app", chromedp.Click("#show-apps"), chromedp.Click(`[data-testid="apps-item"][data-id="lunch"]`),
		chromedp.WaitVisible(`.msg[data-render="card"] .list-items li`))
	if ev := <-got; ev.Event.Type != "open" || ev.Person != "alice" {
		t.Fatalf("open event %+v", ev)
	}
	run(alice, "pick soup", chromedp.Click(`.msg[data-render="card"] .list-items li`))
	if ev := <-got; ev.Event.Type != "action" || ev.Event.Action.ID != "soup" || ev.Surface != "web" {
		t.Fatalf("action event %+v", ev.Event)
	}
	browsertest.Screenshot(t, alice, dir, "alice-web-app.png")
}
