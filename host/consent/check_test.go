package consent_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
)

func TestCheckRules(t *testing.T) {
	const p, b = "p_ann", "shop"
	msg := func(purpose, template string) consent.Message {
		return consent.Message{Person: p, Business: b, App: "store", Purpose: purpose, Template: template, Surface: "web", Conversation: "cv_1"}
	}
	cases := []struct {
		name   string
		setup  func(e *env)
		msg    consent.Message
		rule   consent.Rule       // when allowed
		status host.Status        // when refused
		says   string             // a word the refusal's message must contain
		cfg    consent.Config     // service config
		then   func(e *env) error // a second step whose outcome is checked instead, if set
	}{
		{name: "never wrote", msg: msg("", ""), status: host.StatusWindowClosed, says: "never written"},
		{name: "wrote an hour ago", setup: func(e *env) { e.touch(p, b); e.clk.Add(time.Hour) }, msg: msg("", ""), rule: consent.RuleWindow},
		{name: "wrote 25 hours ago", setup: func(e *env) { e.touch(p, b); e.clk.Add(25 * time.Hour) }, msg: msg("", ""), status: host.StatusWindowClosed, says: "outside the 24h0m0s"},
		{name: "configured window of one hour", cfg: consent.Config{Window: time.Hour}, setup: func(e *env) { e.touch(p, b); e.clk.Add(61 * time.Minute) },
			msg: msg("", ""), status: host.StatusWindowClosed},
		{name: "wrote to another business", setup: func(e *env) { e.touch(p, "ride") }, msg: msg("", ""), status: host.StatusWindowClosed},
		{name: "opted in, outside the window", setup: func(e *env) { e.optIn(p, b, "updates") }, msg: msg("updates", ""), rule: consent.RuleOptIn},
		{name: "opted in to another purpose", setup: func(e *env) { e.optIn(p, b, "updates") }, msg: msg("marketing", ""), status: host.StatusNotOptedIn, says: "opt-in prompt"},
		{name: "opted in to another business", setup: func(e *env) { e.optIn(p, "ride", "updates") }, msg: msg("updates", ""), status: host.StatusNotOptedIn},
		{name: "opt-in withdrawn", setup: func(e *env) {
			e.optIn(p, b, "updates")
			if _, err := e.svc.Revoke(ctx, p, b, "updates", "web"); err != nil {
				t.Fatal(err)
			}
		}, msg: msg("updates", ""), status: host.StatusNotOptedIn},
		{name: "STOP overrides an opt-in", setup: func(e *env) { e.optIn(p, b, "updates"); e.say(p, b, "web", "STOP") }, msg: msg("updates", ""), status: host.StatusOptedOut, says: "START"},
		{name: "STOP overrides the window", setup: func(e *env) { e.touch(p, b); e.say(p, b, "web", "stop") }, msg: msg("", ""), status: host.StatusOptedOut},
		{name: "STOP on whatsapp silences every app on every surface", setup: func(e *env) { e.optIn(p, b, "updates"); e.say(p, b, "whatsapp", " Unsubscribe ") },
			msg: consent.Message{Person: p, Business: b, App: "other-app", Purpose: "updates", Surface: "messenger", Conversation: "cv_9"}, status: host.StatusOptedOut},
		{name: "STOP then START: the window is back", setup: func(e *env) { e.say(p, b, "web", "STOP"); e.say(p, b, "web", "START") }, msg: msg("", ""), rule: consent.RuleWindow},
		{name: "STOP then START: the opt-in before it is spent", setup: func(e *env) {
			e.optIn(p, b, "updates")
			e.say(p, b, "web", "STOP")
			e.say(p, b, "web", "UNSTOP")
			e.clk.Add(25 * time.Hour)
		}, msg: msg("updates", ""), status: host.StatusNotOptedIn},
		{name: "STOP then START then a new opt-in", setup: func(e *env) {
			e.say(p, b, "web", "STOP")
			e.say(p, b, "web", "START")
			e.optIn(p, b, "updates")
			e.clk.Add(25 * time.Hour)
		}, msg: msg("updates", ""), rule: consent.RuleOptIn},
		{name: "an opt-in given while opted out waits for START", setup: func(e *env) { e.say(p, b, "web", "STOP"); e.optIn(p, b, "updates") },
			msg: msg("updates", ""), status: host.StatusOptedOut},
		{name: "STOPALL typed to another business", setup: func(e *env) { e.optIn(p, b, "updates"); e.say(p, "ride", "web", "STOPALL") },
			msg: msg("updates", ""), status: host.StatusOptedOut},
		{name: "STOPALL then START to this business", setup: func(e *env) { e.say(p, "ride", "web", "stopall"); e.say(p, b, "web", "start") },
			msg: msg("", ""), rule: consent.RuleWindow},
		{name: "STOPALL then START to another business", setup: func(e *env) { e.say(p, b, "web", "stopall"); e.say(p, "ride", "web", "start") },
			msg: msg("", ""), status: host.StatusOptedOut},
		{name: "revoking the business in the consent screen", setup: func(e *env) {
			e.optIn(p, b, "updates")
			if _, err := e.svc.Revoke(ctx, p, b, "", "web"); err != nil {
				t.Fatal(err)
			}
		}, msg: msg("updates", ""), status: host.StatusOptedOut},
		{name: "one-time subscription", setup: func(e *env) { e.subscribe(p, b, "table-ready") }, msg: msg("", "table-ready"), rule: consent.RuleSubscription},
		{name: "one-time subscription used twice", setup: func(e *env) { e.subscribe(p, b, "table-ready") }, msg: msg("", "table-ready"),
			then: func(e *env) error {
				if _, err := e.svc.Check(ctx, msg("", "table-ready")); err != nil {
					t.Fatalf("first send: %v", err)
				}
				_, err := e.svc.Check(ctx, msg("", "table-ready"))
				return err
			}, status: host.StatusNotOptedIn, says: "one-time subscription"},
		{name: "subscription to another template", setup: func(e *env) { e.subscribe(p, b, "table-ready") }, msg: msg("", "order-shipped"), status: host.StatusNotOptedIn},
		{name: "a template inside the window keeps its subscription", setup: func(e *env) { e.subscribe(p, b, "table-ready"); e.touch(p, b) }, msg: msg("", "table-ready"),
			then: func(e *env) error {
				d, err := e.svc.Check(ctx, msg("", "table-ready"))
				if err != nil || d.Rule != consent.RuleWindow {
					t.Fatalf("inside the window: %+v, %v", d, err)
				}
				e.clk.Add(25 * time.Hour)
				d, err = e.svc.Check(ctx, msg("", "table-ready"))
				if err == nil && d.Rule != consent.RuleSubscription {
					t.Fatalf("outside the window: rule %s", d.Rule)
				}
				return err
			}},
		{name: "rate limit per person per day", cfg: consent.Config{Limits: consent.Limits{PerPersonDay: 2}},
			setup: func(e *env) { e.optIn(p, b, "updates") }, msg: msg("updates", ""),
			then: func(e *env) error {
				for i := range 2 {
					if _, err := e.svc.Check(ctx, msg("updates", "")); err != nil {
						t.Fatalf("send %d: %v", i, err)
					}
				}
				_, err := e.svc.Check(ctx, msg("updates", ""))
				return err
			}, status: host.StatusRateLimited, says: "per person per UTC day"},
		{name: "rate limit per person per day, the next day", cfg: consent.Config{Limits: consent.Limits{PerPersonDay: 1}},
			setup: func(e *env) { e.optIn(p, b, "updates") }, msg: msg("updates", ""),
			then: func(e *env) error {
				if _, err := e.svc.Check(ctx, msg("updates", "")); err != nil {
					t.Fatal(err)
				}
				e.clk.Add(24 * time.Hour)
				_, err := e.svc.Check(ctx, msg("updates", ""))
				return err
			}},
		{name: "rate limit per business per second", cfg: consent.Config{Limits: consent.Limits{PerBusinessSecond: 2}},
			setup: func(e *env) {
				for _, q := range []string{"p_a", "p_b", "p_c"} {
					e.optIn(q, b, "updates")
				}
			}, msg: msg("updates", ""),
			then: func(e *env) error {
				for _, q := range []string{"p_a", "p_b"} {
					if _, err := e.svc.Check(ctx, consent.Message{Person: q, Business: b, Purpose: "updates"}); err != nil {
						t.Fatal(err)
					}
				}
				_, err := e.svc.Check(ctx, consent.Message{Person: "p_c", Business: b, Purpose: "updates"})
				if status(err) != host.StatusRateLimited {
					t.Fatalf("third send in the second: %v", err)
				}
				e.clk.Add(time.Second)
				_, err = e.svc.Check(ctx, consent.Message{Person: "p_c", Business: b, Purpose: "updates"})
				return err
			}},
		{name: "an operator's limit for one business", cfg: consent.Config{Business: map[string]consent.Limits{b: {PerPersonDay: 1}}},
			setup: func(e *env) { e.optIn(p, b, "updates"); e.optIn(p, "ride", "updates") }, msg: msg("updates", ""),
			then: func(e *env) error {
				for range 2 {
					if _, err := e.svc.Check(ctx, consent.Message{Person: p, Business: "ride", Purpose: "updates"}); err != nil {
						t.Fatalf("ride keeps the default limit: %v", err)
					}
				}
				if _, err := e.svc.Check(ctx, msg("updates", "")); err != nil {
					t.Fatal(err)
				}
				_, err := e.svc.Check(ctx, msg("updates", ""))
				return err
			}, status: host.StatusRateLimited},
		{name: "replies inside the window are not rate limited", cfg: consent.Config{Limits: consent.Limits{PerPersonDay: 1, PerBusinessSecond: 1}},
			setup: func(e *env) { e.touch(p, b) }, msg: msg("", ""),
			then: func(e *env) error {
				for range 5 {
					if _, err := e.svc.Check(ctx, msg("", "")); err != nil {
						return err
					}
				}
				return nil
			}},
		{name: "purpose and template together", msg: msg("updates", "table-ready"), status: host.StatusBadRequest, says: "one of them"},
		{name: "a purpose that is not a name", msg: msg("Big Sale!", ""), status: host.StatusBadRequest, says: "a-z"},
		{name: "no person", msg: consent.Message{Business: b}, status: host.StatusBadRequest, says: "person is empty"},
		{name: "a control character in an id", msg: consent.Message{Person: "p_\x00", Business: b}, status: host.StatusBadRequest, says: "control character"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			if tc.setup != nil {
				tc.setup(e)
			}
			var d consent.Decision
			var err error
			if tc.then != nil {
				err = tc.then(e)
			} else {
				d, err = e.svc.Check(ctx, tc.msg)
			}
			if got := status(err); got != tc.status {
				t.Fatalf("status %s (%v), want %s", got, err, tc.status)
			}
			kinds := map[host.Status]error{host.StatusOptedOut: consent.ErrOptedOut, host.StatusWindowClosed: consent.ErrWindowClosed,
				host.StatusNotOptedIn: consent.ErrNotOptedIn, host.StatusRateLimited: consent.ErrRateLimited, host.StatusBadRequest: consent.ErrInvalid}
			if err != nil && !errors.Is(err, kinds[tc.status]) {
				t.Errorf("%v is no instance of %v", err, kinds[tc.status])
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.says) {
					t.Errorf("refusal %q does not say %q", err, tc.says)
				}
				return
			}
			if tc.then != nil {
				return
			}
			if d.Rule != tc.rule {
				t.Fatalf("rule %q, want %q", d.Rule, tc.rule)
			}
			if tc.rule == consent.RuleWindow {
				if d.Record != 0 || d.Relies != 0 {
					t.Errorf("a window reply wrote record %d relying on %d; want none", d.Record, d.Relies)
				}
				return
			}
			recs, err := e.svc.Records(ctx, d.Record, 1)
			if err != nil || len(recs) != 1 {
				t.Fatalf("record %d: %v %v", d.Record, recs, err)
			}
			r := recs[0]
			if r.Kind != consent.KindSend || r.Relies != d.Relies || r.Person != p || r.Business != b || r.App != "store" {
				t.Errorf("send record %+v does not match decision %+v", r, d)
			}
			relied, err := e.svc.Records(ctx, d.Relies, 1)
			if err != nil || len(relied) != 1 {
				t.Fatal(err)
			}
			want := map[consent.Rule]consent.Kind{consent.RuleOptIn: consent.KindGrant, consent.RuleSubscription: consent.KindSubscription}[d.Rule]
			if relied[0].Kind != want {
				t.Errorf("the send relies on a %s record, want %s", relied[0].Kind, want)
			}
		})
	}
}

// TestSubscriptionConsumedWithTheSend: the consumption and the send are
// consecutive records of one transaction, both relying on the subscription.
func TestSubscriptionConsumedWithTheSend(t *testing.T) {
	e := newEnv(t, consent.Config{})
	sub := e.subscribe("p_ann", "lunch", "table-ready")
	d, err := e.svc.Check(ctx, consent.Message{Person: "p_ann", Business: "lunch", App: "lunch", Template: "table-ready", ID: "m_1"})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := e.svc.Records(ctx, sub.Seq+1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Kind != consent.KindConsumption || recs[1].Kind != consent.KindSend {
		t.Fatalf("records after the subscription: %+v", recs)
	}
	for _, r := range recs {
		if r.Relies != sub.Seq || r.Message != "m_1" || r.Template != "table-ready" {
			t.Errorf("%s record %+v does not name subscription %d and message m_1", r.Kind, r, sub.Seq)
		}
	}
	if d.Record != recs[1].Seq || d.Relies != sub.Seq {
		t.Errorf("decision %+v", d)
	}
}

// TestRateLimitsSurviveRestart: the counts are in the store.
func TestRateLimitsSurviveRestart(t *testing.T) {
	e := newEnv(t, consent.Config{Limits: consent.Limits{PerPersonDay: 2}})
	e.optIn("p_ann", "shop", "updates")
	m := consent.Message{Person: "p_ann", Business: "shop", Purpose: "updates"}
	for range 2 {
		if _, err := e.svc.Check(ctx, m); err != nil {
			t.Fatal(err)
		}
		e.restart()
	}
	if _, err := e.svc.Check(ctx, m); status(err) != host.StatusRateLimited {
		t.Fatalf("third send of the day after restarts: %v, want rate_limited", err)
	}
}

// TestWindowSurvivesRestartAndTouchResolution: the window is in the store;
// a touch within TouchResolution of the stored one is not written, so the
// window may close early by at most that much, never late.
func TestWindowSurvivesRestartAndTouchResolution(t *testing.T) {
	e := newEnv(t, consent.Config{})
	e.touch("p_ann", "shop")
	e.clk.Add(30 * time.Second)
	e.touch("p_ann", "shop") // within the resolution: not written
	e.restart()
	m := consent.Message{Person: "p_ann", Business: "shop"}
	e.clk.Add(24*time.Hour - 31*time.Second)
	if _, err := e.svc.Check(ctx, m); err != nil {
		t.Fatalf("inside the window after a restart: %v", err)
	}
	e.clk.Add(time.Second)
	if _, err := e.svc.Check(ctx, m); status(err) != host.StatusWindowClosed {
		t.Fatalf("24 h after the first touch: %v, want window_closed (early by less than TouchResolution)", err)
	}
	e.clk.Add(time.Hour)
	e.touch("p_ann", "shop")
	if _, err := e.svc.Check(ctx, m); err != nil {
		t.Fatalf("after writing again: %v", err)
	}
}

func TestStatusCodes(t *testing.T) {
	for st, code := range map[host.Status]string{
		host.StatusWindowClosed: "window_closed", host.StatusNotOptedIn: "not_opted_in",
		host.StatusOptedOut: "opted_out", host.StatusRateLimited: "rate_limited",
	} {
		if st.String() != code {
			t.Errorf("status %d is %q, want %q", st, st.String(), code)
		}
	}
}

// TestCheckAgain: a business-initiated message checked again with its id
// (a retry, a broadcast resumed after a restart) is not consumed or counted
// twice, and is refused once the person has opted out.
func TestCheckAgain(t *testing.T) {
	e := newEnv(t, consent.Config{Limits: consent.Limits{PerPersonDay: 1}})
	e.subscribe("p_ann", "lunch", "ready")
	m := consent.Message{Person: "p_ann", Business: "lunch", Template: "ready", ID: "bc_1/p_ann"}
	first, err := e.svc.Check(ctx, m)
	if err != nil || first.Again {
		t.Fatalf("first: %+v, %v", first, err)
	}
	e.restart()
	again, err := e.svc.Check(ctx, m)
	if err != nil || !again.Again || again.Record != first.Record || again.Relies != first.Relies || again.Rule != consent.RuleSubscription {
		t.Fatalf("again after a restart: %+v, %v; want the first decision %+v, marked Again", again, err, first)
	}
	if recs, _ := e.svc.Records(ctx, first.Record+1, 0); len(recs) != 0 {
		t.Errorf("checking again wrote %+v", recs)
	}
	other := m
	other.Person = "p_bob"
	if _, err := e.svc.Check(ctx, other); status(err) != host.StatusConflict {
		t.Errorf("the id reused for another person: %v, want conflict", err)
	}
	e.say("p_ann", "lunch", "web", "STOP")
	e.clk.Add(25 * time.Hour)
	if _, err := e.svc.Check(ctx, m); status(err) != host.StatusOptedOut {
		t.Errorf("again after STOP: %v, want opted_out", err)
	}
}
