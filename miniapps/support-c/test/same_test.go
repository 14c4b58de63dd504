//go:build !wasip1

package supportc_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apptest"
)

// bots runs the Go bot and the C bot side by side, each on its own
// platform, with the same person doing the same things.
type bots struct {
	goP, cP *apptest.Platform
	goB, cB *apptest.Person
}

func newBots(t testing.TB) *bots {
	b := &bots{}
	b.goP, b.goB = load(t, goDir)
	b.cP, b.cB = load(t, cDir)
	return b
}

// normal replaces what differs between two platforms by design (the
// person's pseudonymous id, hence the ticket reference, and the handoff
// ids) in s.
func normal(s, user string) string {
	return handoffRE.ReplaceAllString(refRE.ReplaceAllString(strings.ReplaceAll(s, user, "USER"), "S-REF"), "HANDOFF")
}

var handoffRE = regexp.MustCompile(`ho_[0-9a-f]+`)

// step sends ev to both bots and fails t unless they sent the same.
func (b *bots) step(t testing.TB, ev host.Event) []host.Message {
	t.Helper()
	goMsgs, _, goErr := b.goB.TrySend(ev)
	cMsgs, _, cErr := b.cB.TrySend(ev)
	if (goErr == nil) != (cErr == nil) {
		t.Fatalf("%+v: Go bot error %v, C bot error %v", ev, goErr, cErr)
	}
	g, _ := json.Marshal(goMsgs)
	c, _ := json.Marshal(cMsgs)
	if gs, cs := normal(string(g), b.goB.OpenID()), normal(string(c), b.cB.OpenID()); gs != cs {
		t.Fatalf("%+v:\nGo sent %s\nC  sent %s", ev, gs, cs)
	}
	return cMsgs
}

// logs fails t unless both bots logged the same lines.
func (b *bots) logs(t testing.TB) {
	t.Helper()
	gl, cl := b.goP.Log(), b.cP.Log()
	if len(gl) != len(cl) {
		t.Fatalf("Go logged %q\nC logged %q", gl, cl)
	}
	for i := range gl {
		if g, c := normal(gl[i], b.goB.OpenID()), normal(cl[i], b.cB.OpenID()); g != c {
			t.Fatalf("log line %d:\nGo %q\nC  %q", i, g, c)
		}
	}
}

// TestSameAsGo walks both bots through conversations, pressing what they
// drew, and compares every message and log line.
func TestSameAsGo(t *testing.T) {
	b := newBots(t)
	msg := func(s string) host.Event { return host.Event{Type: host.EventMessage, Text: s} }
	act := func(id, value string) host.Event {
		return host.Event{Type: host.EventAction, Action: &host.Action{ID: id, Value: value}}
	}
	script := []host.Event{
		{Type: host.EventOpen},
		act("topic:orders", ""), act("topic:payments", ""), act("topic:account", ""), act("topic:gone", ""),
		act("faq:where", ""), act("faq:address", ""), act("faq:damaged", ""), act("faq:refund", ""),
		act("faq:declined", ""), act("faq:stop", ""), act("faq:data", ""), act("faq:gone", ""),
		act("helped", ""), act("topics", ""), act("what", ""), {Type: host.EventAction},
		msg("where is my parcel?"), msg("REFUNDS!!!"), msg("my refund hasn't arrived yet"),
		msg("why did my payment fail"), msg("the shirt came broken"), msg("how do I unsubscribe"),
		msg("delete my personal data"), msg("I moved, new address"), msg("what's the weather like"),
		msg(""), msg("   ?!  "), msg("the a an"), msg("ÉTÉ Über straße ĞÜŞ İstanbul Ÿ"), msg("Ça coûte ¿cuánto? µ ª"),
		msg("tracking shipping returns declined notifications"), msg(strings.Repeat("refund ", 400)),
		msg(" \u00a0 payment\u2003failed\u3000"), msg("payment\u200bfailed"), msg("emoji 🙂 refund"),
		{Type: host.EventPayment, Payment: &host.PaymentEvent{Order: "o", Status: "paid", Amount: 1, Currency: "EUR"}},
		{Type: "future"},
		act("human", "my parcel <is> \"late\" & \u00ad\u0085 \x7f"), msg("talk to a human"), act("human", ""),
	}
	for _, ev := range script {
		b.step(t, ev)
	}
	// The merchant's staff take the conversation and hand it back.
	b.staff(t, "Ana", "refund sent")
	b.step(t, msg("my refund hasn't arrived yet"))
	b.logs(t)
}

// release hands back each bot's open handoff without delivering the
// handback event (the platforms' t is the fuzz target's F, which a fuzz
// function must not use).
func (b *bots) release(t *testing.T) {
	ctx := context.Background()
	for _, p := range []*apptest.Platform{b.goP, b.cP} {
		open, err := p.Services.Handoffs.List(ctx, p.Ref.Merchant, true, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range open {
			if _, err := p.Services.Handoffs.Return(ctx, p.Ref.Merchant, h.ID, "Ana", ""); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// staff plays an agent taking each bot's open handoff, then handing it
// back with note, and fails t unless both bots answered the handoff and
// handback events alike. It does nothing for a bot with no open handoff.
func (b *bots) staff(t testing.TB, agent, note string) {
	t.Helper()
	ctx := context.Background()
	var sent [2][2]string
	for i, p := range []*apptest.Platform{b.goP, b.cP} {
		open, err := p.Services.Handoffs.List(ctx, p.Ref.Merchant, true, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range open {
			if _, err := p.Services.Handoffs.Take(ctx, p.Ref.Merchant, h.ID, agent); err != nil {
				t.Fatal(err)
			}
			m, _ := p.Deliver(host.EventHandoff)
			j, _ := json.Marshal(m)
			sent[i][0] += string(j)
			if _, err := p.Services.Handoffs.Return(ctx, p.Ref.Merchant, h.ID, agent, note); err != nil {
				t.Fatal(err)
			}
			m, _ = p.Deliver(host.EventHandback)
			j, _ = json.Marshal(m)
			sent[i][1] += string(j)
		}
	}
	if sent[0] != sent[1] {
		t.Fatalf("the bots answered the staff differently:\nGo %q\nC  %q", sent[0], sent[1])
	}
}

// FuzzSameAsGo sends free text, as people type it, to both bots: they
// answer alike, and the C bot always answers with one message. Text with
// letters beyond Latin Extended-A, or with U+0000, is only checked for one
// answer: there the C bot's notion of a letter and of lower case is an
// approximation of Go's unicode tables (see faq.c), and the C SDK's strings
// end at a NUL (see sdk/c/include/passerelle.h).
func FuzzSameAsGo(f *testing.F) {
	for _, s := range []string{"where is my parcel", "REFUND", "", "ééé", "\xff\xfe", "talk to a human", "Ünïcödé refunds", "a\u0301b refund"} {
		f.Add(s)
	}
	b := newBots(f)
	f.Fuzz(func(t *testing.T, s string) {
		b.release(t) // a person who asked for a human is handed back before the next input
		ev := host.Event{Type: host.EventMessage, Text: s}
		if !latin(s) {
			msgs, _, err := b.cB.TrySend(ev)
			if err != nil || len(msgs) != 1 {
				t.Fatalf("%q: sent %+v, %v; want one message", s, msgs, err)
			}
			return
		}
		b.step(t, ev)
	})
}

// latin reports whether every rune of s is below U+0180 and not U+0000
// (the host turns invalid UTF-8 into U+FFFD before the app sees it).
func latin(s string) bool {
	for _, r := range s {
		if r == 0 || (r >= 0x180 && r != utf8.RuneError) {
			return false
		}
	}
	return true
}
