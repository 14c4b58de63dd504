//go:build !wasip1

package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/runtime/apptest"
)

// clock is the consent rules' clock in these tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestWasmReadyAfterTheWindow: on the real host services, with the
// consent rules a server runs, the paid order draws a subscribe prompt
// naming the business and "order-ready"; when the kitchen's timer fires a
// day later (the service window closed), the ready message reaches the
// person only if they accepted, once, and a STOP silences it.
func TestWasmReadyAfterTheWindow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string
		stop   bool
		told   bool
	}{
		{"accepted", consent.AnswerAccept, false, true},
		{"declined", consent.AnswerDecline, false, false},
		{"accepted, then STOP", consent.AnswerAccept, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: time.Now()}
			p := apptest.New(t, ".", apptest.Options{Ref: host.AppRef{Merchant: "m_bistro", App: "lunch", Version: "1.0.0"}, Now: clk.now})
			alice := p.NewPerson("Alice")
			alice.Fund("EUR", 5000)
			msgs, _ := alice.Open()
			msgs, _ = alice.Action(host.Action{ID: apptest.OnlyCard(t, msgs).List.Items[0].ID})
			msgs, _ = alice.Press(apptest.OnlyCard(t, msgs), "size:regular")
			_, prompts := alice.Press(apptest.OnlyCard(t, msgs), "side:none")
			var name identity.ConsentPromptBody
			apptest.OnlyPrompt(t, prompts, "consent", &name)
			if err := alice.Grant(name.ID); err != nil {
				t.Fatal(err)
			}
			_, prompts = p.DeliverConsents()
			var order pay.PromptBody
			apptest.OnlyPrompt(t, prompts, "payment", &order)
			if err := alice.Confirm(order.Order); err != nil {
				t.Fatal(err)
			}

			_, prompts = p.Deliver(host.EventPayment)
			var ask consent.PromptBody
			apptest.OnlyPrompt(t, prompts, consent.PromptName, &ask)
			if ask.Template != templateReady || !strings.Contains(ask.Text, "m_bistro") || !strings.Contains(ask.Text, "is ready") {
				t.Fatalf("subscribe prompt %+v: want order-ready, naming the business", ask)
			}
			if err := alice.Answer(prompts[0].Prompt, tc.answer); err != nil {
				t.Fatal(err)
			}
			if msgs, _ := p.DeliverConsents(); len(msgs) != 0 {
				t.Fatalf("the answer drew %s", apptest.JSON(msgs))
			}
			if tc.stop {
				if msgs, _ := alice.Message("STOP"); len(msgs) != 1 || msgs[0].Text != consent.StopText("m_bistro") {
					t.Fatalf("STOP answered %s", apptest.JSON(msgs))
				}
				if msgs := p.DeliverStandings(); len(msgs) != 0 {
					t.Fatalf("the optout event drew %s", apptest.JSON(msgs))
				}
			}

			clk.add(consent.DefaultWindow + time.Hour)
			msgs = p.FireTimers(time.Minute)
			if tc.told != (len(msgs) == 1) || len(msgs) > 1 {
				t.Fatalf("ready: %s, want the message: %v\nlog:\n%s", apptest.JSON(msgs), tc.told, strings.Join(p.Log(), "\n"))
			}
			if !tc.told && !strings.Contains(strings.Join(p.Log(), "\n"), "the person is not told") {
				t.Fatalf("the refusal is not in the app's log:\n%s", strings.Join(p.Log(), "\n"))
			}
		})
	}
}
