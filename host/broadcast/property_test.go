package broadcast_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/broadcast"
	"github.com/passerelle/passerelle/host/consent"
)

// bmodel is what the rules say about one business's people, kept by the
// test beside the service: the order of events, the last STOP, STOPALL,
// START, opt-in to "news" and withdrawal of it, per person.
type bmodel struct {
	event                                    int
	stop, stopAll, start, granted, withdrawn map[string]int
}

func (m *bmodel) optedOut(p string) bool { return max(m.stop[p], m.stopAll[p]) > m.start[p] }

// newsInForce: an opt-in given after the last withdrawal and the last STOP.
func (m *bmodel) newsInForce(p string) bool {
	return m.granted[p] > max(m.withdrawn[p], m.stop[p], m.stopAll[p])
}

// TestBroadcastProperty runs random interleavings of opt-ins, one-time
// subscriptions, withdrawals, STOP, STOPALL, START, ordinary messages,
// clock advances (windows closing, days passing), broadcasts made (by
// purpose or template, some ids made again), broadcast steps, and
// restarts: plain, after the check and before anything else, after the
// intent and before the message is stored, and after it is stored and
// before its outcome. Whenever a message is stored it checks that its
// person is not opted out and (for a purpose) holds the opt-in at that
// moment; at the end, with every broadcast finished, that no message was
// stored twice, that every stored message has its send record in the
// ledger relying on that person's consent, that the outcomes say sent for
// exactly the messages stored, that no subscription was used twice and
// that the ledger verifies.
func TestBroadcastProperty(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 10
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { runBroadcastProperty(t, uint64(seed), 200) })
	}
}

func runBroadcastProperty(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 11))
	e := newEnv(t, consent.Config{Limits: consent.Limits{PerPersonDay: 4, PerBusinessSecond: 3}})
	m := &bmodel{stop: map[string]int{}, stopAll: map[string]int{}, start: map[string]int{}, granted: map[string]int{}, withdrawn: map[string]int{}}
	people := []string{"pa", "pb", "pc", "pd", "pe"}
	apps := []string{"shop", "lookbook"}
	words := []string{"STOP", "stopall", "START", "unstop", "hello", "HELP"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	var trace []string
	fail := func(format string, args ...any) {
		t.Helper()
		if len(trace) > 60 {
			trace = append([]string{"..."}, trace[len(trace)-60:]...)
		}
		t.Fatalf("seed %d (rerun with -run 'TestBroadcastProperty/seed_%d$'), after %s:\n"+format,
			append([]any{seed, seed, strings.Join(trace, "; ")}, args...)...)
	}
	purposeOf := map[string]string{} // message id → the broadcast's purpose ("" for a template)
	var made []broadcast.Request
	e.box.allowed = func(out host.Outgoing, person string) error {
		if m.optedOut(person) {
			return errors.New("the person is opted out")
		}
		if purposeOf[out.ID] != "" && !m.newsInForce(person) {
			return errors.New("the person holds no opt-in to news given after their last STOP or withdrawal")
		}
		return nil
	}

	// next returns the person whose turn it is in broadcast r, if any.
	next := func(r broadcast.Request) (string, bool) {
		outs, err := e.eng.Outcomes(ctx, "m1", r.ID, 0, 0)
		if err != nil {
			fail("outcomes of %s: %v", r.ID, err)
		}
		for _, o := range outs {
			if o.State == "pending" || o.State == "sending" {
				return personOf(o.ID), true
			}
		}
		return "", false
	}

	for step := range steps {
		p := pick(people)
		switch op := rng.IntN(20); {
		case op < 3: // the person writes: a keyword or an ordinary message
			w := pick(words)
			trace = append(trace, fmt.Sprintf("%s %q", p, w))
			e.say(p, "m1", w)
			m.event++
			switch consent.ParseKeyword(w) {
			case consent.KeywordStop:
				m.stop[p] = m.event
			case consent.KeywordStopAll:
				m.stopAll[p] = m.event
			case consent.KeywordStart:
				m.start[p] = m.event
			}
		case op < 6:
			app := pick(apps)
			trace = append(trace, fmt.Sprintf("opt-in %s via %s", p, app))
			e.optIn(p, "m1", app, "news")
			m.event++
			m.granted[p] = m.event
		case op < 7:
			trace = append(trace, "subscribe "+p)
			e.subscribe(p, "m1", pick(apps), "drop")
			m.event++
		case op < 8:
			trace = append(trace, "withdraw "+p)
			r, err := e.svc.Revoke(ctx, p, "m1", "news", "web")
			if err != nil {
				fail("Revoke: %v", err)
			}
			m.event++
			if r.Seq != 0 {
				m.withdrawn[p] = m.event
			}
		case op < 9:
			d := []time.Duration{time.Second, time.Minute, time.Hour, 25 * time.Hour}[rng.IntN(4)]
			trace = append(trace, fmt.Sprint("+", d))
			e.clk.Add(d)
		case op < 11: // a broadcast made, or one made before sent again
			var r broadcast.Request
			if len(made) > 0 && rng.IntN(4) == 0 {
				r = made[rng.IntN(len(made))]
			} else {
				r = broadcast.Request{ID: fmt.Sprint("b", step), App: pick(apps), Message: text(fmt.Sprint("news ", step))}
				if rng.IntN(3) == 0 {
					r.Template = "drop"
				} else {
					r.Purpose = "news"
				}
				made = append(made, r)
			}
			trace = append(trace, fmt.Sprintf("broadcast %s %q%q", r.ID, r.Purpose, r.Template))
			b, _, err := e.eng.Create(ctx, "m1", r)
			if err != nil {
				fail("Create: %v", err)
			}
			for _, per := range people {
				purposeOf[broadcast.MessageID("m1", r.ID, per)] = r.Purpose
			}
			if b.Total > len(people) {
				fail("a snapshot of %d people", b.Total)
			}
		case op < 17 && len(made) > 0: // steps of a broadcast
			r := made[rng.IntN(len(made))]
			n := 1 + rng.IntN(4)
			trace = append(trace, fmt.Sprintf("step %s ×%d", r.ID, n))
			for range n {
				_, wait, err := e.eng.Step(ctx, "m1", r.ID)
				if err != nil {
					fail("Step: %v", err)
				}
				if wait > 0 {
					e.clk.Add(wait)
				}
			}
		case op < 18:
			trace = append(trace, "restart")
			e.restart()
		case op < 19 && len(made) > 0: // the process stops inside a step
			r := made[rng.IntN(len(made))]
			where := []string{"before", "after", "checked"}[rng.IntN(3)]
			trace = append(trace, fmt.Sprintf("stop %s in %s", where, r.ID))
			if where == "checked" {
				if per, ok := next(r); ok {
					b, _ := e.eng.Get(ctx, "m1", r.ID)
					_, _ = e.svc.Check(ctx, consent.Message{Person: per, Business: "m1", App: b.App, Purpose: b.Purpose, Template: b.Template,
						Surface: "web", Conversation: "a-" + b.App + "-" + per, ID: broadcast.MessageID("m1", r.ID, per), Initiated: true})
				}
			} else {
				e.box.crash = where
				_, wait, err := e.eng.Step(ctx, "m1", r.ID)
				if err != nil && !errors.Is(err, errCrash) {
					fail("Step: %v", err)
				}
				if wait > 0 {
					e.clk.Add(wait)
				}
				e.box.crash = ""
			}
			e.restart()
		default:
			trace = append(trace, p+" writes")
			e.say(p, "m1", "hi")
		}
		if len(e.box.refused) > 0 {
			fail("a message stored for a person opted out: %v", e.box.refused)
		}
	}

	// Every broadcast to its end.
	for _, r := range made {
		b := e.drain("m1", r.ID)
		if b.Sent+b.Skipped != b.Total {
			fail("broadcast %s: %d sent + %d skipped of %d", r.ID, b.Sent, b.Skipped, b.Total)
		}
	}
	if len(e.box.refused) > 0 {
		fail("a message stored for a person opted out: %v", e.box.refused)
	}
	if len(e.box.twice) > 0 {
		fail("messages stored twice: %v", e.box.twice)
	}
	if _, err := e.svc.Verify(ctx); err != nil {
		fail("Verify: %v", err)
	}
	recs, err := e.svc.Records(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	sendOf := map[string]consent.Record{}
	consumed := map[uint64]bool{}
	for _, r := range recs {
		switch r.Kind {
		case consent.KindSend:
			if _, dup := sendOf[r.Message]; dup {
				fail("two send records for message %s", r.Message)
			}
			sendOf[r.Message] = r
		case consent.KindConsumption:
			if consumed[r.Relies] {
				fail("subscription %d consumed twice", r.Relies)
			}
			consumed[r.Relies] = true
		}
	}
	stored := e.box.stored(t)
	for person, idsOf := range stored {
		for _, id := range idsOf {
			r, ok := sendOf[id]
			if !ok {
				fail("message %s to %s has no send record", id, person)
			}
			if r.Person != person || r.Business != "m1" || r.Relies == 0 || r.Relies > uint64(len(recs)) {
				fail("message %s to %s: send record %+v", id, person, r)
			}
			g := recs[r.Relies-1]
			if g.Person != person || (g.Kind != consent.KindGrant && g.Kind != consent.KindSubscription) || g.Purpose != purposeOf[id] {
				fail("message %s to %s relies on %+v", id, person, g)
			}
		}
	}
	// Outcomes and deliveries agree.
	for _, r := range made {
		outs, err := e.eng.Outcomes(ctx, "m1", r.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			per := personOf(o.ID)
			id := broadcast.MessageID("m1", r.ID, per)
			got := false
			for _, x := range stored[per] {
				got = got || x == id
			}
			switch {
			case o.ID == per || !strings.HasPrefix(o.ID, "o-"):
				fail("an outcome shows id %q", o.ID)
			case o.State == "sent" && !got:
				fail("%s says sent to %s, but nothing was stored", r.ID, per)
			case o.State == "skipped" && got:
				fail("%s says %s was skipped (%s), but the message was stored", r.ID, per, o.Reason)
			case o.State != "sent" && o.State != "skipped":
				fail("%s: %s is %s after the end", r.ID, per, o.State)
			case o.State == "sent" && (o.Record == 0 || sendOf[id].Seq != o.Record):
				fail("%s: %s's outcome names record %d, the ledger %d", r.ID, per, o.Record, sendOf[id].Seq)
			}
		}
	}
}
