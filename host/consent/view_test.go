package consent_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
)

func TestStandings(t *testing.T) {
	e := newEnv(t, consent.Config{})
	grant := e.optIn("p_ann", "shop", "updates")
	sub := e.subscribe("p_ann", "lunch", "table-ready")
	e.touch("p_ann", "ride")
	e.say("p_ann", "taxi", "web", "STOP")
	e.clk.Add(time.Hour)

	sts, err := e.svc.Standings(ctx, "p_ann")
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]consent.Standing{}
	var order []string
	for _, st := range sts {
		by[st.Business] = st
		order = append(order, st.Business)
	}
	if got := strings.Join(order, " "); got != "lunch ride shop taxi" {
		t.Fatalf("businesses %q, want every business the person dealt with, by id", got)
	}
	if st := by["shop"]; len(st.OptIns) != 1 || st.OptIns[0].Record != grant.Seq || st.OptIns[0].Purpose != "updates" ||
		st.OptIns[0].Prompt != consent.OptInPrompt("shop", "updates") || st.OptIns[0].Surface != "web" || !st.OptIns[0].Time.Equal(grant.Time) {
		t.Errorf("shop: %+v, want the opt-in with its prompt, surface and time", st)
	}
	if st := by["lunch"]; len(st.Subscriptions) != 1 || st.Subscriptions[0].Record != sub.Seq || st.Subscriptions[0].Template != "table-ready" {
		t.Errorf("lunch: %+v", st)
	}
	if st := by["ride"]; !st.WindowUntil.Equal(e.clk.Now().Add(23*time.Hour)) || st.OptedOut {
		t.Errorf("ride: window until %s, want %s", st.WindowUntil, e.clk.Now().Add(23*time.Hour))
	}
	if st := by["taxi"]; !st.OptedOut || st.OptedOutSince.IsZero() {
		t.Errorf("taxi: %+v, want opted out with a time", st)
	}

	// Revoking from the consent screen.
	if _, err := e.svc.Revoke(ctx, "p_ann", "shop", "updates", "web"); err != nil {
		t.Fatal(err)
	}
	if r, err := e.svc.Revoke(ctx, "p_ann", "shop", "updates", "web"); err != nil || r.Seq != 0 {
		t.Errorf("revoking twice: %+v, %v; want nothing written", r, err)
	}
	if _, err := e.svc.Revoke(ctx, "p_ann", "lunch", "", "web"); err != nil {
		t.Fatal(err)
	}
	sts, _ = e.svc.Standings(ctx, "p_ann")
	for _, st := range sts {
		if st.Business == "shop" && len(st.OptIns) != 0 || st.Business == "lunch" && !st.OptedOut {
			t.Errorf("after revoking: %+v", st)
		}
	}
}

func TestAudienceIsTheMerchantsOnly(t *testing.T) {
	e := newEnv(t, consent.Config{})
	e.optIn("p_ann", "shop", "updates")
	e.optIn("p_bob", "shop", "marketing")
	e.subscribe("p_cat", "shop", "back-in-stock")
	e.optIn("p_dan", "shop", "updates")
	e.say("p_dan", "shop", "web", "STOP")
	e.touch("p_eve", "shop") // a window is not consent
	e.optIn("p_zed", "other", "updates")
	e.optIn("p_ann", "other", "marketing")

	cases := []struct {
		purpose string
		want    string
	}{
		{"", "u-shop-ann u-shop-bob u-shop-cat"},
		{"updates", "u-shop-ann"},
		{"marketing", "u-shop-bob"},
		{"nothing", ""},
	}
	for _, tc := range cases {
		t.Run("purpose "+tc.purpose, func(t *testing.T) {
			ms, err := e.svc.Audience(ctx, "shop", tc.purpose)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range ms {
				ids = append(ids, m.ID)
				if len(m.OptIns)+len(m.Subscriptions) == 0 {
					t.Errorf("member %s without evidence", m.ID)
				}
				for _, ev := range append(m.OptIns, m.Subscriptions...) {
					if ev.Record == 0 || ev.Prompt == "" || ev.PromptHash == "" || ev.Time.IsZero() {
						t.Errorf("member %s: evidence %+v lacks the record, the prompt or the time", m.ID, ev)
					}
				}
			}
			if got := strings.Join(ids, " "); got != tc.want {
				t.Fatalf("audience %q, want %q", got, tc.want)
			}
			data, _ := json.Marshal(ms)
			for _, leak := range []string{"p_ann", "p_bob", "p_cat", "p_zed", "other", "marketing\",\"app\":\"app\",\"surface\":\"web\",\"conversation\":\"cv_1\",\"prompt\":\"Allow other"} {
				if strings.Contains(string(data), leak) {
					t.Errorf("the export %s contains %q (a platform id or another merchant's data)", data, leak)
				}
			}
		})
	}

	noIDs := newEnv(t, consent.Config{Pseudonyms: nil})
	noIDs.cfg.Pseudonyms = nil
	noIDs.restart()
	if _, err := noIDs.svc.Audience(ctx, "shop", ""); !errors.Is(err, consent.ErrNoPseudonyms) {
		t.Errorf("Audience without pseudonyms: %v, want ErrNoPseudonyms", err)
	}
}

func TestMetrics(t *testing.T) {
	m := consent.NewMetrics()
	e := newEnv(t, consent.Config{Metrics: m})
	e.optIn("p_ann", "shop", "updates")
	e.subscribe("p_ann", "shop", "table-ready")
	e.touch("p_bob", "shop")
	send := func(person, purpose, template string) {
		_, _ = e.svc.Check(ctx, consent.Message{Person: person, Business: "shop", Purpose: purpose, Template: template})
	}
	send("p_bob", "", "")                  // window
	send("p_ann", "updates", "")           // opt_in
	send("p_ann", "", "table-ready")       // subscription
	send("p_ann", "", "table-ready")       // not_opted_in
	send("p_ann", "", "")                  // window_closed
	e.say("p_ann", "shop", "web", "STOP")  // stop
	send("p_ann", "updates", "")           // opted_out
	e.say("p_ann", "shop", "web", "START") // start
	e.say("p_ann", "shop", "web", "STOPALL")
	if _, err := e.svc.Revoke(ctx, "p_bob", "shop", "", "web"); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"sends_allowed_total rule=window": 1, "sends_allowed_total rule=opt_in": 1, "sends_allowed_total rule=subscription": 1,
		"sends_refused_total code=not_opted_in": 1, "sends_refused_total code=opted_out": 1, "sends_refused_total code=window_closed": 1,
		"sends_refused_total code=rate_limited": 0,
		"opt_ins_total kind=purpose":            1, "opt_ins_total kind=subscription": 1, "opt_ins_total kind=start": 1,
		"opt_outs_total kind=stop": 1, "opt_outs_total kind=stopall": 1, "opt_outs_total kind=revoke": 1, "opt_outs_total kind=withdrawal": 0,
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, s := range f.GetMetric() {
			l := s.GetLabel()[0]
			got[strings.TrimPrefix(f.GetName(), "passerelle_consent_")+" "+l.GetName()+"="+l.GetValue()] = s.GetCounter().GetValue()
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("counters\n%v\nwant\n%v", got, want)
	}
}

func TestGrantRefusals(t *testing.T) {
	e := newEnv(t, consent.Config{})
	ok := consent.Grant{Person: "p_ann", Business: "shop", Purpose: "updates", Prompt: "Allow Shop to send you updates messages?"}
	cases := []struct {
		name string
		edit func(g *consent.Grant)
		sub  bool
		says string
	}{
		{"no prompt", func(g *consent.Grant) { g.Prompt = "" }, false, "no prompt text"},
		{"a prompt hash that is not one", func(g *consent.Grant) { g.Prompt, g.PromptHash = "", "abc" }, false, "not a lower-case hex SHA-256"},
		{"an opt-in naming a template", func(g *consent.Grant) { g.Template = "ready" }, false, "belongs to a one-time subscription"},
		{"a subscription naming a purpose", func(g *consent.Grant) { g.Template = "ready" }, true, "belongs to an opt-in"},
		{"a subscription without a template", func(g *consent.Grant) { g.Purpose = "" }, true, "template \"\""},
		{"no business", func(g *consent.Grant) { g.Business = "" }, false, "business is empty"},
		{"a purpose in capitals", func(g *consent.Grant) { g.Purpose = "Updates" }, false, "a-z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := ok
			tc.edit(&g)
			var err error
			if tc.sub {
				_, err = e.svc.Subscribe(ctx, g)
			} else {
				_, err = e.svc.OptIn(ctx, g)
			}
			if status(err) != host.StatusBadRequest || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("%v; want bad_request saying %q", err, tc.says)
			}
		})
	}
	if recs, _ := e.svc.Records(ctx, 1, 0); len(recs) != 0 {
		t.Errorf("refused grants wrote %d records", len(recs))
	}
	if err := e.svc.Touch(ctx, "", "shop", e.clk.Now()); status(err) != host.StatusBadRequest {
		t.Errorf("Touch without a person: %v", err)
	}
}
