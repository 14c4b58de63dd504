package bridge_test

import (
	"context"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/bridge"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/host/pay"
)

// until waits for the first WhatsApp message after the first n that
// satisfies ok and returns it with the count up to it.
func (s *stack) until(n int, what string, ok func(sentWA) bool) (sentWA, int) {
	s.t.Helper()
	for {
		var m sentWA
		m, n = s.nextWA(n)
		if ok(m) {
			return m, n
		}
		if n > 60 {
			s.t.Fatalf("no %s among the messages sent", what)
		}
	}
}

func hasTitle(prefix string) func(sentWA) bool {
	return func(m sentWA) bool {
		for _, t := range m.Titles {
			if strings.HasPrefix(t, prefix) {
				return true
			}
		}
		return false
	}
}

// TestLunchOnWhatsApp: a person writes to the lunch app's WhatsApp number
// (the webhook delivered three times makes one message), gets the menu as
// a list, picks a dish and its options with reply buttons, allows their
// name and confirms the payment in prompts the host draws (whose reply ids
// only the host mints), gets the receipt, and pays exactly once even when
// Meta delivers the tap again.
func TestLunchOnWhatsApp(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, stackOpts{})
	const bruno = "15550001"

	hi := waText(bruno, "Bruno", "wamid.hi", "hi")
	for range 3 {
		s.deliver(s.waHook, hi)
	}
	menu, n := s.nextWA(0)
	if menu.Type != "interactive:list" || menu.To != bruno || len(menu.IDs) != 4 {
		t.Fatalf("the menu went out as %+v", menu)
	}
	person, err := s.svc.Identity.PersonByAccount(ctx, identity.Account{Surface: connector.NetworkWhatsApp, External: bruno})
	if err != nil || person.Name != "Bruno" {
		t.Fatalf("the person of the WhatsApp account: %+v, %v", person, err)
	}
	conv := gateway.NetworkConvID("lunch", "c_wa", person.ID)
	msgs, err := s.gw.Range(ctx, conv, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var fromBruno []string
	for _, m := range msgs {
		if m.From.Kind == "person" {
			fromBruno = append(fromBruno, m.Msg.Text)
		}
	}
	if len(fromBruno) != 1 || fromBruno[0] != "hi" {
		t.Fatalf("a webhook delivered three times stored %q", fromBruno)
	}
	if err := s.svc.Pay.Fund(ctx, pay.PersonAccount(person.ID), "EUR", 50_00); err != nil {
		t.Fatal(err)
	}

	id, title := menu.pick(t, "Tomato soup")
	s.deliver(s.waHook, waListReply(bruno, s.wamid(), id, title))
	size, n := s.until(n, "size buttons", hasTitle("Regular"))
	if size.Type != "interactive:button" {
		t.Fatalf("sizes went out as %+v", size)
	}
	id, title = size.pick(t, "Regular")
	s.deliver(s.waHook, waButton(bruno, s.wamid(), id, title))
	side, n := s.until(n, "side buttons", hasTitle("No side"))
	id, title = side.pick(t, "No side")
	s.deliver(s.waHook, waButton(bruno, s.wamid(), id, title))

	allow, n := s.until(n, "the name prompt", hasTitle("Allow"))
	id, title = allow.pick(t, "Allow")
	if !strings.HasPrefix(id, bridge.HostPrefix) {
		t.Fatalf("the host's prompt carries reply id %q, not one of its own", id)
	}
	s.deliver(s.waHook, waButton(bruno, s.wamid(), id, title))

	payPrompt, n := s.until(n, "the payment prompt", hasTitle("Pay "))
	id, title = payPrompt.pick(t, "Pay ")
	if title != "Pay 6.50 EUR" || !strings.HasPrefix(id, bridge.HostPrefix) {
		t.Fatalf("payment prompt %q with id %q", title, id)
	}
	tap := waButton(bruno, s.wamid(), id, title)
	s.deliver(s.waHook, tap)
	receipt, n := s.until(n, "the receipt", func(m sentWA) bool { return strings.HasPrefix(m.Text, "Receipt") })
	if !strings.Contains(receipt.Text, "Total paid: €6.50") {
		t.Fatalf("receipt: %q", receipt.Text)
	}

	// Meta delivers the tap again: nothing more is charged. A later
	// message is the point after which the redelivery was handled.
	s.deliver(s.waHook, tap)
	s.deliver(s.waHook, waText(bruno, "Bruno", s.wamid(), "menu"))
	s.until(n, "the menu again", func(m sentWA) bool { return m.Type == "interactive:list" })
	bal, err := s.svc.Pay.Balances(ctx, person.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bal["EUR"] != 50_00-6_50 {
		t.Fatalf("wallet holds %d EUR cents, want %d", bal["EUR"], 50_00-6_50)
	}
}
