package apptest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/runtime/apptest"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

const tip = "testdata/tip"

func TestBuildOnce(t *testing.T) {
	a := apptest.Build(t, tip)
	b := apptest.Build(t, "./testdata/../testdata/tip")
	if len(a) == 0 || &a[0] != &b[0] {
		t.Fatal("the same directory was built twice")
	}
}

func TestTip(t *testing.T) {
	p := apptest.New(t, tip, apptest.Options{Ref: host.AppRef{Merchant: "m_jar"}})
	if p.Ref != (host.AppRef{Merchant: "m_jar", App: "tip", Version: "0.1.0"}) {
		t.Fatalf("ref %+v: want the manifest's id and version", p.Ref)
	}
	alice := p.NewPerson("Alice")
	alice.Fund("EUR", 1000)

	msgs, _ := alice.Open()
	card := apptest.OnlyCard(t, msgs)
	if msgs, _ := alice.Message("hi"); len(msgs) != 1 || msgs[0].Text != "you said hi" {
		t.Fatalf("message: %s", apptest.JSON(msgs))
	}
	msgs, _ = alice.Message("more")
	more := apptest.OnlyCard(t, msgs)

	// A button carries its value; the payment prompt comes back from the
	// press, the outcome only once delivered.
	msgs, prompts := alice.Press(card, "tip")
	var prompt pay.PromptBody
	apptest.OnlyPrompt(t, prompts, "payment", &prompt)
	if len(msgs) != 1 || msgs[0].Text != "please confirm "+prompt.Order || prompt.Amount != 300 {
		t.Fatalf("tip: %s, prompt %+v", apptest.JSON(msgs), prompt)
	}
	if err := alice.Confirm(prompt.Order); err != nil {
		t.Fatal(err)
	}
	if got := p.PendingPayments(); len(got) != 1 || got[0].Status != string(pay.StatePaid) {
		t.Fatalf("pending outcomes %+v", got)
	}
	if msgs := p.DeliverPayments(); len(msgs) != 1 || msgs[0].Text != "tip paid" {
		t.Fatalf("payment event: %s", apptest.JSON(msgs))
	}
	if len(p.PendingPayments()) != 0 || len(p.DeliverPayments()) != 0 {
		t.Fatal("an outcome was delivered twice")
	}
	if a, m := alice.Balance("EUR"), p.MerchantBalance("EUR"); a != 700 || m != 300 {
		t.Fatalf("balances: Alice %d, merchant %d", a, m)
	}

	// A list item; the timer is due in a minute.
	if msgs, _ := alice.Press(more, "later"); len(msgs) != 0 {
		t.Fatalf("later: %s", apptest.JSON(msgs))
	}
	if msgs := p.FireTimers(0); len(msgs) != 0 {
		t.Fatalf("timer fired early: %s", apptest.JSON(msgs))
	}
	if msgs := p.FireTimers(time.Hour); len(msgs) != 1 || msgs[0].Text != `timer {"what":"reminder"}` {
		t.Fatalf("timer: %s", apptest.JSON(msgs))
	}

	// Consent: asked, refused, asked again, granted.
	msgs, prompts = alice.Press(more, "name")
	var consent identity.ConsentPromptBody
	apptest.OnlyPrompt(t, prompts, "consent", &consent)
	if len(msgs) != 1 || msgs[0].Text != "may I know your name?" {
		t.Fatalf("name: %s", apptest.JSON(msgs))
	}
	if err := alice.Refuse(consent.ID); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := p.DeliverConsents(); len(msgs) != 1 || msgs[0].Text != "no name then ("+consent.ID+")" {
		t.Fatalf("refused: %s", apptest.JSON(msgs))
	}
	// Asked again in another conversation: the answer comes there, and the
	// app carries on by itself.
	_, prompts = alice.Send(host.Event{Type: host.EventAction, Action: &host.Action{ID: "name"}, Conversation: "cv_2"})
	apptest.OnlyPrompt(t, prompts, "consent", &consent)
	if err := alice.Grant(consent.ID); err != nil {
		t.Fatal(err)
	}
	if msgs, prompts := p.DeliverConsents(); len(msgs) != 1 || msgs[0].Text != "hello Alice in cv_2" || len(prompts) != 0 {
		t.Fatalf("granted: %s %s", apptest.JSON(msgs), apptest.JSON(prompts))
	}
	if msgs, _ := p.DeliverConsents(); len(msgs) != 0 {
		t.Fatalf("an answer was delivered twice: %s", apptest.JSON(msgs))
	}
	if msgs, _ := alice.Press(more, "name"); len(msgs) != 1 || msgs[0].Text != "hello Alice" {
		t.Fatalf("name after the grant: %s", apptest.JSON(msgs))
	}

	// A failing event returns its error and the app's log says why.
	_, _, err := alice.TrySend(host.Event{Type: host.EventAction, Action: &host.Action{ID: "nope"}})
	var ge *sandbox.GuestError
	if !errors.As(err, &ge) {
		t.Fatalf("unknown action: %v, want a guest error", err)
	}
	if !slices.Contains(p.Log(), "log WARN unknown action nope") {
		t.Fatalf("log %q", p.Log())
	}
}

// TestDeclineAndPeople checks a declined order and that each person's
// events carry their own id.
func TestDeclineAndPeople(t *testing.T) {
	p := apptest.New(t, tip, apptest.Options{})
	alice, bob := p.NewPerson("Alice"), p.NewPerson("Bob")
	if alice.OpenID() == bob.OpenID() || alice.OpenID() == "" {
		t.Fatalf("open ids %q and %q", alice.OpenID(), bob.OpenID())
	}
	_, prompts := bob.Action(host.Action{ID: "tip", Value: "300"})
	var prompt pay.PromptBody
	apptest.OnlyPrompt(t, prompts, "payment", &prompt)
	if err := alice.Confirm(prompt.Order); err == nil {
		t.Fatal("Alice confirmed Bob's order")
	}
	if err := bob.Decline(prompt.Order); err != nil {
		t.Fatal(err)
	}
	if msgs := p.DeliverPayments(); len(msgs) != 1 || msgs[0].Text != "tip declined" {
		t.Fatalf("declined: %s", apptest.JSON(msgs))
	}
}

// TestFuncs replaces an operation: the app's error path runs.
func TestFuncs(t *testing.T) {
	p := apptest.New(t, tip, apptest.Options{Funcs: []host.Func{{Op: "chat.send", Permission: host.PermChat,
		Handle: func(context.Context, *host.Call, []byte) ([]byte, error) {
			return nil, host.Errorf(host.StatusUnavailable, "down")
		}}}})
	_, _, err := p.NewPerson("Alice").TrySend(host.Event{Type: host.EventMessage, Text: "hi"})
	var ge *sandbox.GuestError
	if !errors.As(err, &ge) || ge.Status != uint32(host.StatusUnavailable) {
		t.Fatalf("err = %v, want the unavailable status back", err)
	}
	if !strings.Contains(strings.Join(p.Log(), "\n"), "down") {
		t.Fatalf("log %q", p.Log())
	}
}
