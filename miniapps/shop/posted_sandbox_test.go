//go:build !wasip1

package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/runtime/apptest"
)

// TestWasmKeepMePosted, in the real sandbox with the real consent service:
// the thank-you card of a paid order offers "Keep me posted"; pressing it
// draws the platform's opt-in prompt naming the purpose; accepting records
// the opt-in with that question as the evidence, so that a day later the
// shop may send the news under it while a message under no purpose is
// refused; the next thank-you card offers it no more.
func TestWasmKeepMePosted(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	p := apptest.New(t, ".", apptest.Options{Ref: host.AppRef{Merchant: "m_atelier", App: "shop", Version: "1.0.0"}, Now: now})
	chloe := p.NewPerson("Chloé")
	chloe.Fund("EUR", 10000)
	buy := func() *host.Card {
		t.Helper()
		added := addToCart(t, chloe, "cap", "One size")
		_, prompts := chloe.Press(added, "checkout")
		var order pay.PromptBody
		apptest.OnlyPrompt(t, prompts, "payment", &order)
		if err := chloe.Confirm(order.Order); err != nil {
			t.Fatal(err)
		}
		return apptest.OnlyCard(t, p.DeliverPayments())
	}

	thanks := buy()
	if len(thanks.Buttons) != 1 || thanks.Buttons[0].ID != "keep-posted" {
		t.Fatalf("the thank-you card does not offer the news: %s", apptest.JSON(thanks))
	}
	_, prompts := chloe.Press(thanks, "keep-posted")
	var ask consent.PromptBody
	apptest.OnlyPrompt(t, prompts, consent.PromptName, &ask)
	if ask.Purpose != purposeCollections || !strings.Contains(ask.Text, collectionsText) || !strings.Contains(ask.Text, "STOP") {
		t.Fatalf("the opt-in prompt: %+v", ask)
	}
	if err := chloe.Answer(prompts[0].Prompt, consent.AnswerAccept); err != nil {
		t.Fatal(err)
	}
	msgs, _ := p.DeliverConsents()
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "Thank you! We will tell you") {
		t.Fatalf("after accepting: %s", apptest.JSON(msgs))
	}
	st, err := p.Services.Consent.Standings(ctx, chloe.ID)
	if err != nil || len(st) != 1 || len(st[0].OptIns) != 1 || st[0].OptIns[0].Purpose != purposeCollections || st[0].OptIns[0].Prompt != ask.Text {
		t.Fatalf("Chloé's standings: %+v, %v", st, err)
	}

	mu.Lock()
	clock = clock.Add(consent.DefaultWindow + time.Hour) // Chloé has not written for a day
	mu.Unlock()
	news := consent.Message{Person: chloe.ID, Business: "m_atelier", App: "shop", Purpose: purposeCollections}
	if d, err := p.Services.Consent.Check(ctx, news); err != nil || d.Rule != consent.RuleOptIn {
		t.Fatalf("the news a day later: %+v, %v; want it allowed by the opt-in", d, err)
	}
	news.Purpose = ""
	if _, err := p.Services.Consent.Check(ctx, news); !errors.Is(err, consent.ErrWindowClosed) {
		t.Fatalf("a message under no purpose a day later: %v, want window_closed", err)
	}

	if again := buy(); len(again.Buttons) != 0 || strings.Contains(again.Text, "new collection") {
		t.Fatalf("the next thank-you card offers the news again: %s", apptest.JSON(again))
	}
}
