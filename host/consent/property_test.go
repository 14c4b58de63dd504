package consent_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
)

// model is what the rules say, kept by the test beside the service.
type model struct {
	event     int               // order of keyword events
	stop      map[[2]string]int // (person, business) → event of the last STOP or revocation
	start     map[[2]string]int // → event of the last START
	stopAll   map[string]int    // person → event of the last STOPALL
	wrote     map[[2]string]time.Time
	sentDay   map[string]int    // person|business|day → business-initiated sends allowed
	sentSec   map[string]int    // business|second → business-initiated sends allowed
	relied    map[uint64]bool   // subscription records a send relied on
	sends     map[uint64]bool   // send records of allowed business-initiated messages
	grantedAt map[uint64]int    // grant or subscription record → event count when granted
	granted   map[[2]string]int // (person, business) → event of the last opt-in to "updates"
	withdrawn map[[2]string]int // → event of the last withdrawal of "updates"
}

// inForce reports whether the person's opt-in to "updates" is in force:
// given after the last withdrawal and the last STOP.
func (m *model) inForce(p, b string) bool {
	k := [2]string{p, b}
	return m.granted[k] > max(m.withdrawn[k], m.stop[k], m.stopAll[p])
}

func (m *model) optedOut(p, b string) bool {
	k := [2]string{p, b}
	return max(m.stop[k], m.stopAll[p]) > m.start[k]
}

// TestConsentProperty runs random sequences of STOP, STOPALL, START, HELP,
// ordinary messages, opt-ins, one-time subscriptions, revocations, clock
// advances, restarts (the bbolt file closed and opened again), sends, and
// sends checked again by their id (a retry, a broadcast resumed after a
// restart). After every send it checks that no message reaches an
// opted-out person, that the service window is never stretched, that every
// business-initiated send has its record relying on consent given after
// the last STOP, that no one-time subscription is used twice, that a send
// checked again is not sent again and that the rate limits hold; at the
// end, that the ledger verifies and holds exactly the sends allowed.
func TestConsentProperty(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { runProperty(t, uint64(seed), 250) })
	}
}

func runProperty(t *testing.T, seed uint64, steps int) {
	const perDay, perSecond = 3, 2
	rng := rand.New(rand.NewPCG(seed, 7))
	e := newEnv(t, consent.Config{Limits: consent.Limits{PerPersonDay: perDay, PerBusinessSecond: perSecond}})
	m := &model{stop: map[[2]string]int{}, start: map[[2]string]int{}, stopAll: map[string]int{}, wrote: map[[2]string]time.Time{},
		sentDay: map[string]int{}, sentSec: map[string]int{}, relied: map[uint64]bool{}, sends: map[uint64]bool{}, grantedAt: map[uint64]int{},
		granted: map[[2]string]int{}, withdrawn: map[[2]string]int{}}
	people := []string{"p_a", "p_b", "p_c"}
	businesses := []string{"shop", "lunch"}
	surfaces := []string{"web", "whatsapp", "messenger"}
	words := []string{"STOP", "stopall", "START", "HELP", "hello", "unstop", " end "}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	type allowed struct {
		msg consent.Message
		d   consent.Decision
	}
	var sent []allowed // business-initiated sends allowed, to check again
	var trace []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d, after %v:\n"+format, append([]any{seed, trace}, args...)...)
	}

	for step := range steps {
		p, b := pick(people), pick(businesses)
		k := [2]string{p, b}
		switch op := rng.IntN(15); {
		case op == 14 && len(sent) > 0: // a send checked again (a retry, a resumed broadcast)
			a := sent[rng.IntN(len(sent))]
			trace = append(trace, fmt.Sprintf("again %s", a.msg.ID))
			d, err := e.svc.Check(ctx, a.msg)
			k := [2]string{a.msg.Person, a.msg.Business}
			last, wrote := m.wrote[k]
			switch {
			case m.optedOut(a.msg.Person, a.msg.Business):
				if host.StatusOf(err) != host.StatusOptedOut {
					fail("a send checked again after STOP: %+v, %v", d, err)
				}
			case a.msg.Purpose != "" && d.Rule != consent.RuleWindow && !m.inForce(a.msg.Person, a.msg.Business):
				if host.StatusOf(err) != host.StatusNotOptedIn {
					fail("a send checked again after its opt-in was withdrawn or spent: %+v, %v", d, err)
				}
			case err != nil:
				fail("a send checked again: %v", err)
			case d.Rule == consent.RuleWindow:
				if !wrote || e.clk.Now().Sub(last) >= consent.DefaultWindow {
					fail("a window decision outside the window")
				}
			case !d.Again || d.Record != a.d.Record || d.Relies != a.d.Relies:
				fail("checked again: %+v, first %+v", d, a.d)
			}
		case op < 3: // the person writes
			text := pick(words)
			trace = append(trace, fmt.Sprintf("%s→%s %q", p, b, text))
			r, err := e.svc.Inbound(ctx, consent.Inbound{Person: p, Business: b, Surface: pick(surfaces), Message: fmt.Sprint("m", step), Text: text})
			if err != nil {
				fail("Inbound: %v", err)
			}
			if last, ok := m.wrote[k]; !ok || e.clk.Now().Sub(last) >= consent.TouchResolution || r.Keyword != consent.KeywordNone {
				m.wrote[k] = e.clk.Now()
			}
			m.event++
			switch r.Keyword {
			case consent.KeywordStop:
				m.stop[k] = m.event
			case consent.KeywordStopAll:
				m.stopAll[p] = m.event
			case consent.KeywordStart:
				m.start[k] = m.event
			}
			if (r.Keyword == consent.KeywordNone) != (r.Text == "") {
				fail("reply %+v to %q", r, text)
			}
		case op < 5:
			trace = append(trace, fmt.Sprintf("opt-in %s %s", p, b))
			m.event++
			m.grantedAt[e.optIn(p, b, "updates").Seq] = m.event
			m.granted[k] = m.event
		case op < 7:
			trace = append(trace, fmt.Sprintf("subscribe %s %s", p, b))
			m.event++
			m.grantedAt[e.subscribe(p, b, "ready").Seq] = m.event
		case op < 8:
			purpose := ""
			if rng.IntN(2) == 0 {
				purpose = "updates"
			}
			trace = append(trace, fmt.Sprintf("revoke %s %s %q", p, b, purpose))
			r, err := e.svc.Revoke(ctx, p, b, purpose, "web")
			if err != nil {
				fail("Revoke: %v", err)
			}
			m.event++
			if purpose == "" && r.Seq != 0 {
				m.stop[k] = m.event
			}
			if purpose != "" && r.Seq != 0 {
				m.withdrawn[k] = m.event
			}
		case op < 9:
			d := []time.Duration{time.Second, 30 * time.Second, time.Minute, time.Hour, 13 * time.Hour, 25 * time.Hour}[rng.IntN(6)]
			trace = append(trace, fmt.Sprint("+", d))
			e.clk.Add(d)
		case op < 10:
			trace = append(trace, "restart")
			e.restart()
		default: // a send
			msg := consent.Message{Person: p, Business: b, App: "app", Surface: pick(surfaces), ID: fmt.Sprint("s", step)}
			switch rng.IntN(3) {
			case 1:
				msg.Purpose = "updates"
			case 2:
				msg.Template = "ready"
			}
			trace = append(trace, fmt.Sprintf("send %s %s %q%q", p, b, msg.Purpose, msg.Template))
			d, err := e.svc.Check(ctx, msg)
			now := e.clk.Now()
			out := m.optedOut(p, b)
			last, wrote := m.wrote[k]
			inWindow := wrote && now.Sub(last) < consent.DefaultWindow
			switch {
			case out:
				if host.StatusOf(err) != host.StatusOptedOut {
					fail("a send to an opted-out person: %+v, %v", d, err)
				}
				continue
			case err != nil:
				st := host.StatusOf(err)
				if st == host.StatusOptedOut {
					fail("opted_out for a person who is not: %v", err)
				}
				if inWindow && now.Sub(last) < consent.DefaultWindow-consent.TouchResolution {
					fail("refused inside the window: %v", err)
				}
				continue
			}
			if d.Rule == consent.RuleWindow {
				if !inWindow {
					fail("a window send %s after the person last wrote (at %s, wrote %v)", now, last, wrote)
				}
				if d.Record != 0 {
					fail("a window send wrote record %d", d.Record)
				}
				continue
			}
			// Business-initiated: its record, relying on consent given after the last stop.
			recs, err := e.svc.Records(ctx, d.Relies, 1)
			if err != nil || len(recs) != 1 {
				fail("relied-on record %d: %v", d.Relies, err)
			}
			g := recs[0]
			if g.Person != p || g.Business != b || g.Purpose != msg.Purpose || g.Template != msg.Template {
				fail("send %+v relies on %+v", msg, g)
			}
			if m.grantedAt[g.Seq] <= max(m.stop[k], m.stopAll[p]) {
				fail("send relies on record %d, given before the last STOP", g.Seq)
			}
			if d.Rule == consent.RuleSubscription {
				if m.relied[d.Relies] {
					fail("subscription %d used twice", d.Relies)
				}
				m.relied[d.Relies] = true
			}
			m.sends[d.Record] = true
			sent = append(sent, allowed{msg, d})
			day := fmt.Sprint(p, b, now.UTC().Unix()/86400)
			sec := fmt.Sprint(b, now.Unix())
			m.sentDay[day]++
			m.sentSec[sec]++
			if m.sentDay[day] > perDay || m.sentSec[sec] > perSecond {
				fail("rate limits passed: %d to %s today, %d from %s this second", m.sentDay[day], p, m.sentSec[sec], b)
			}
		}
	}

	if _, err := e.svc.Verify(ctx); err != nil {
		fail("Verify: %v", err)
	}
	recs, err := e.svc.Records(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	consumed := map[uint64]int{}
	sends := 0
	for _, r := range recs {
		switch r.Kind {
		case consent.KindSend:
			sends++
			if !m.sends[r.Seq] {
				fail("send record %d matches no allowed send", r.Seq)
			}
		case consent.KindConsumption:
			consumed[r.Relies]++
			if consumed[r.Relies] > 1 {
				fail("subscription %d consumed twice", r.Relies)
			}
		}
	}
	if sends != len(m.sends) {
		fail("%d send records for %d business-initiated sends allowed", sends, len(m.sends))
	}
}

// TestConcurrentSendsAndStop: many sends race for one subscription and
// against a STOP. Exactly one send uses the subscription, and none is
// allowed once STOP has returned.
func TestConcurrentSendsAndStop(t *testing.T) {
	e := newEnv(t, consent.Config{Limits: consent.Limits{PerPersonDay: -1, PerBusinessSecond: -1}})
	e.subscribe("p_ann", "lunch", "ready")
	e.optIn("p_ann", "lunch", "updates")
	var wg sync.WaitGroup
	var mu sync.Mutex
	used := 0
	for range 16 {
		wg.Go(func() {
			d, err := e.svc.Check(ctx, consent.Message{Person: "p_ann", Business: "lunch", Template: "ready"})
			if err == nil {
				mu.Lock()
				used++
				mu.Unlock()
				if d.Rule != consent.RuleSubscription {
					t.Errorf("rule %s", d.Rule)
				}
			} else if host.StatusOf(err) != host.StatusNotOptedIn {
				t.Errorf("send: %v", err)
			}
		})
	}
	wg.Wait()
	if used != 1 {
		t.Fatalf("one subscription allowed %d sends", used)
	}

	stopped := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for {
				stoppedBefore := false
				select {
				case <-stopped:
					stoppedBefore = true
				default:
				}
				_, err := e.svc.Check(ctx, consent.Message{Person: "p_ann", Business: "lunch", Purpose: "updates"})
				if stoppedBefore {
					if host.StatusOf(err) != host.StatusOptedOut {
						t.Errorf("a send after STOP returned: %v", err)
					}
					return
				}
			}
		})
	}
	time.Sleep(time.Millisecond)
	e.say("p_ann", "lunch", "whatsapp", "STOP")
	close(stopped)
	wg.Wait()
}
