package bridge_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/bridge"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/identity"
)

// optinStack is a stack whose Messenger simulator enforces the windows,
// with one clock for Meta, the bridge and the consent rules.
func optinStack(t *testing.T, clk *clock) *stack {
	t.Helper()
	return newStack(t, stackOpts{ms: metasim.MessengerConfig{Windows: true, Now: clk.Now}, consent: clk.Now,
		configure: func(c *bridge.Config) { c.Now = clk.Now }})
}

// op calls a host function as the lunch app would, for the person in
// their Messenger conversation.
func (s *stack) op(name, person, conv, ev, req string) ([]byte, error) {
	s.t.Helper()
	for _, f := range s.svc.Funcs() {
		if f.Op == name {
			return f.Handle(context.Background(), &host.Call{Caller: host.Caller{App: host.AppRef{Merchant: merchant, App: "lunch"},
				Permissions: []host.Permission{host.PermChat}, Person: person, Conversation: conv, Surface: connector.NetworkMessenger, EventID: ev},
				Out: s.gw}, []byte(req))
		}
	}
	s.t.Fatalf("no host function %s", name)
	return nil, nil
}

// msPerson writes "hi" from psid to the Page and returns the person and
// their conversation with lunch, once the app's answer went out.
func (s *stack) msPerson(psid string, at time.Time) (string, string) {
	s.t.Helper()
	s.ms.Inbound(psid, at)
	n := len(s.ms.Sent())
	s.deliver(s.msHook, msMessage(psid, map[string]any{"mid": "m.hi" + psid, "text": "hi"}))
	waitFor(s.t, "the app's answer", func() bool { return len(s.ms.Sent()) > n })
	p, err := s.svc.Identity.PersonByAccount(context.Background(), identity.Account{Surface: connector.NetworkMessenger, External: psid})
	if err != nil {
		s.t.Fatal(err)
	}
	return p.ID, gateway.NetworkConvID("lunch", "c_page", p.ID)
}

// msOptin posts the messaging_optins webhook Meta posts for o.
func (s *stack) msOptin(psid string, o metasim.Optin, at time.Time) {
	s.t.Helper()
	s.deliver(s.msHook, metasim.Notification(metasim.MessengerEntry(metasim.Account{Network: metasim.Messenger, ID: pageID},
		metasim.MsgrEvent{From: psid, Time: at, Optin: &o})))
}

type sentOptin struct {
	Recipient struct {
		ID    string `json:"id"`
		Token string `json:"notification_messages_token"`
	} `json:"recipient"`
	Message struct {
		Text       string `json:"text"`
		Attachment struct {
			Payload struct {
				TemplateType string `json:"template_type"`
				Title        string `json:"title"`
				Payload      string `json:"payload"`
			} `json:"payload"`
		} `json:"attachment"`
	} `json:"message"`
}

func decodeOptinMS(t *testing.T, m metasim.MessengerSent) sentOptin {
	t.Helper()
	var v sentOptin
	if err := json.Unmarshal(m.Body, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func (s *stack) ledgerHas(what string, ok func(consent.Record) bool) {
	s.t.Helper()
	waitFor(s.t, what, func() bool {
		recs, err := s.svc.Consent.Records(context.Background(), 0, 1000)
		return err == nil && slices.ContainsFunc(recs, ok)
	})
}

// TestNotificationMessagesEndToEnd: the app asks for an opt-in on
// Messenger; the host draws Meta's opt-in request; the person taps it and
// the opt-in is in the consent ledger with the token's expiry, and the
// app's prompt is answered. Two days later (the window closed) the app's
// chat.notify of that purpose reaches them by the token. After STOP
// NOTIFICATIONS the ledger withdraws it and chat.notify is refused
// (not_opted_in); RESUME NOTIFICATIONS grants it again.
func TestNotificationMessagesEndToEnd(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := optinStack(t, clk)
	const psid = "9001"
	person, conv := s.msPerson(psid, clk.Now())

	res, err := s.op("consent.request_optin", person, conv, "ev_ask", `{"purpose":"updates","text":"the new menus"}`)
	if err != nil {
		t.Fatal(err)
	}
	var ask consent.AskResponse
	if err := json.Unmarshal(res, &ask); err != nil {
		t.Fatal(err)
	}
	var req sentOptin
	waitFor(t, "the opt-in request", func() bool {
		for _, m := range s.ms.Sent() {
			if v := decodeOptinMS(t, m); v.Message.Attachment.Payload.TemplateType == "notification_messages" {
				req = v
				return true
			}
		}
		return false
	})
	if p := req.Message.Attachment.Payload; p.Title != "updates from The Kitchen" || !strings.HasPrefix(p.Payload, bridge.HostPrefix) || req.Recipient.ID != psid {
		t.Fatalf("the opt-in request: %+v", req)
	}

	clk.Add(time.Hour)
	o := s.ms.OptIn(psid, req.Message.Attachment.Payload.Title, req.Message.Attachment.Payload.Payload, "")
	s.msOptin(psid, o, clk.Now())
	s.ledgerHas("the opt-in in the ledger", func(r consent.Record) bool {
		return r.Kind == consent.KindGrant && r.Person == person && r.Business == merchant && r.Purpose == "updates" &&
			r.Surface == "messenger" && r.Expires.Equal(o.Expiry.UTC().Truncate(time.Millisecond)) && strings.Contains(r.Seen, "updates from The Kitchen")
	})
	waitFor(t, "the prompt answered", func() bool {
		p, err := s.gw.Prompt(ctx, ask.Prompt)
		return err == nil && p.Answer == consent.AnswerAccept
	})
	recs, _ := s.svc.Consent.Records(ctx, 0, 1000)
	if n := len(slices.DeleteFunc(recs, func(r consent.Record) bool { return r.Kind != consent.KindGrant })); n != 1 {
		t.Fatalf("%d grants in the ledger, want 1 (the prompt's answer is the opt-in)", n)
	}

	clk.Add(48 * time.Hour)
	n := len(s.ms.Sent())
	if _, err := s.op("chat.notify", person, conv, "ev_n1", `{"text":"The autumn menu is in","purpose":"updates"}`); err != nil {
		t.Fatalf("chat.notify two days later: %v", err)
	}
	waitFor(t, "the notification", func() bool { return len(s.ms.Sent()) > n })
	sent := s.ms.Sent()[n]
	if v := decodeOptinMS(t, sent); v.Recipient.Token != o.Token || v.Recipient.ID != "" || v.Message.Text != "The autumn menu is in" || sent.To != psid {
		t.Fatalf("sent %s, want the text by the token", sent.Body)
	}

	stop, err := s.ms.Notifications(o.Token, true)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	s.msOptin(psid, stop, clk.Now())
	s.ledgerHas("the withdrawal", func(r consent.Record) bool {
		return r.Kind == consent.KindWithdrawal && r.Person == person && r.Purpose == "updates" && r.Surface == "messenger"
	})
	if _, err := s.op("chat.notify", person, conv, "ev_n2", `{"text":"Still there?","purpose":"updates"}`); host.StatusOf(err) != host.StatusNotOptedIn {
		t.Fatalf("chat.notify after STOP NOTIFICATIONS: %v, want not_opted_in", err)
	}

	resume, err := s.ms.Notifications(o.Token, false)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	s.msOptin(psid, resume, clk.Now())
	waitFor(t, "the opt-in again", func() bool {
		_, err := s.svc.Consent.Check(ctx, consent.Message{Person: person, Business: merchant, App: "lunch", Purpose: "updates", Surface: "messenger"})
		return err == nil
	})
	n = len(s.ms.Sent())
	if _, err := s.op("chat.notify", person, conv, "ev_n3", `{"text":"Winter menu","purpose":"updates"}`); err != nil {
		t.Fatalf("chat.notify after RESUME NOTIFICATIONS: %v", err)
	}
	waitFor(t, "the notification after the resume", func() bool { return len(s.ms.Sent()) > n })
	if v := decodeOptinMS(t, s.ms.Sent()[n]); v.Recipient.Token != o.Token {
		t.Fatalf("sent %s", s.ms.Sent()[n].Body)
	}
}

// TestNotificationTokenRefusals: Meta's refusal of a stopped topic
// (10/1893015) withdraws the opt-in, with not_opted_in in the app's log;
// an expired token is refused before any send, with optin_expired; a
// topic's opt-in given on Messenger's own request (not the host's) is
// recorded under the purpose its title names.
func TestNotificationTokenRefusals(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := optinStack(t, clk)
	const psid = "9002"
	person, conv := s.msPerson(psid, clk.Now())

	o := s.ms.OptIn(psid, "Lunch deals!", "DEALS", "DAILY") // a request the Page sent with Meta's tools
	s.msOptin(psid, o, clk.Now())
	s.ledgerHas("the opt-in", func(r consent.Record) bool {
		return r.Kind == consent.KindGrant && r.Person == person && r.Purpose == "lunch-deals" && !r.Expires.IsZero()
	})

	// Meta learnt of the stop before the bridge did.
	if _, err := s.ms.Notifications(o.Token, true); err != nil {
		t.Fatal(err)
	}
	clk.Add(48 * time.Hour)
	s.notify(conv, "msg_deal1", "Two for one today", &host.Basis{Purpose: "lunch-deals"})
	waitFor(t, "the refusal", func() bool {
		return slices.ContainsFunc(s.appLog.all(), func(l string) bool {
			return strings.HasPrefix(l, "lunch not_opted_in:") && strings.Contains(l, "msg_deal1") && strings.Contains(l, "1893015")
		})
	})
	s.ledgerHas("the withdrawal", func(r consent.Record) bool {
		return r.Kind == consent.KindWithdrawal && r.Person == person && r.Purpose == "lunch-deals"
	})

	resume, _ := s.ms.Notifications(o.Token, false)
	s.msOptin(psid, resume, clk.Now())
	waitFor(t, "the opt-in again", func() bool {
		_, err := s.svc.Consent.Check(ctx, consent.Message{Person: person, Business: merchant, App: "lunch", Purpose: "lunch-deals", Surface: "messenger"})
		return err == nil
	})
	clk.Add(200 * 24 * time.Hour) // a daily token lasts about 6 months
	if _, err := s.op("chat.notify", person, conv, "ev_late", `{"text":"Deals","purpose":"lunch-deals"}`); host.StatusOf(err) != host.StatusNotOptedIn ||
		!strings.Contains(err.Error(), "expired") {
		t.Fatalf("chat.notify past the token's expiry: %v, want not_opted_in saying it expired", err)
	}
	n := len(s.ms.Sent())
	s.notify(conv, "msg_deal2", "Deals", &host.Basis{Purpose: "lunch-deals"}) // let through before the expiry, sent after
	waitFor(t, "the refusal", func() bool {
		return slices.ContainsFunc(s.appLog.all(), func(l string) bool {
			return strings.HasPrefix(l, "lunch optin_expired:") && strings.Contains(l, "msg_deal2") && strings.Contains(l, "expired")
		})
	})
	if got := len(s.ms.Sent()); got != n {
		t.Fatalf("%d sends with an expired token", got-n)
	}
}
