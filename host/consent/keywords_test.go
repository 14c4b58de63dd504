package consent_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/passerelle/passerelle/host/consent"
)

func TestParseKeyword(t *testing.T) {
	cases := []struct {
		text string
		want consent.Keyword
	}{
		{"STOP", consent.KeywordStop},
		{"stop", consent.KeywordStop},
		{"  Stop \n", consent.KeywordStop},
		{"\u00a0STOP\u3000", consent.KeywordStop}, // Unicode spaces around it
		{"UNSUBSCRIBE", consent.KeywordStop},
		{"cancel", consent.KeywordStop},
		{"End", consent.KeywordStop},
		{"QUIT", consent.KeywordStop},
		{"revoke", consent.KeywordStop},
		{"OptOut", consent.KeywordStop},
		{"STOPALL", consent.KeywordStopAll},
		{"stopAll", consent.KeywordStopAll},
		{"START", consent.KeywordStart},
		{"unstop", consent.KeywordStart},
		{"help", consent.KeywordHelp},
		{"", consent.KeywordNone},
		{"stop it", consent.KeywordNone},
		{"STOP.", consent.KeywordNone},
		{"S TOP", consent.KeywordNone},
		{"STOPP", consent.KeywordNone},
		{"ſtop", consent.KeywordNone}, // U+017F upper-cases to S; only ASCII letters count
		{"opt-out", consent.KeywordNone},
		{"stop all", consent.KeywordNone},
		{"hello", consent.KeywordNone},
	}
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			if got := consent.ParseKeyword(tc.text); got != tc.want {
				t.Fatalf("ParseKeyword(%q) = %s, want %s", tc.text, got, tc.want)
			}
		})
	}
}

// FuzzParseKeyword: whatever a person types, a keyword is only ever one of
// the listed words, ignoring ASCII case and surrounding spaces.
func FuzzParseKeyword(f *testing.F) {
	for _, s := range []string{"STOP", " stop ", "stopall", "UNSTOP", "help", "ſtop", "\u00a0END", "", "x"} {
		f.Add(s)
	}
	words := map[string]consent.Keyword{
		"STOP": consent.KeywordStop, "UNSUBSCRIBE": consent.KeywordStop, "CANCEL": consent.KeywordStop, "END": consent.KeywordStop,
		"QUIT": consent.KeywordStop, "REVOKE": consent.KeywordStop, "OPTOUT": consent.KeywordStop, "STOPALL": consent.KeywordStopAll,
		"START": consent.KeywordStart, "UNSTOP": consent.KeywordStart, "HELP": consent.KeywordHelp,
	}
	f.Fuzz(func(t *testing.T, text string) {
		got := consent.ParseKeyword(text)
		word := strings.TrimSpace(text)
		want := consent.KeywordNone
		for w, k := range words {
			if strings.EqualFold(word, w) && utf8.RuneCountInString(word) == len(w) && isASCII(word) {
				want = k
			}
		}
		if got != want {
			t.Fatalf("ParseKeyword(%q) = %s, want %s", text, got, want)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func TestInboundKeywords(t *testing.T) {
	e := newEnv(t, consent.Config{})
	in := func(business, message, text string) consent.Reply {
		t.Helper()
		r, err := e.svc.Inbound(ctx, consent.Inbound{Person: "p_ann", Business: business, BusinessName: "Chez " + business, App: "app",
			Surface: "whatsapp", Conversation: "cv_1", Message: message, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := in("shop", "m_1", "do you have shoes?"); r.Keyword != consent.KeywordNone || r.Text != "" {
		t.Fatalf("an ordinary message: %+v", r)
	}
	e.touch("p_ann", "ride")

	stop := in("shop", "m_2", " Stop ")
	if stop.Keyword != consent.KeywordStop || stop.Text != consent.StopText("Chez shop") || stop.Record == 0 || !slices.Equal(stop.Businesses, []string{"shop"}) {
		t.Fatalf("STOP: %+v", stop)
	}
	if again := in("shop", "m_2", " Stop "); !again.Duplicate || again.Text != "" || again.Record != stop.Record {
		t.Fatalf("the same STOP message again must not confirm twice: %+v", again)
	}
	if second := in("shop", "m_3", "STOP"); second.Text == "" || len(second.Businesses) != 0 {
		t.Fatalf("a second STOP confirms but changes nothing: %+v", second)
	}
	recs, err := e.svc.Records(ctx, stop.Record, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := recs[0]; r.Kind != consent.KindOptOut || r.Business != "shop" || r.Surface != "whatsapp" || r.Seen != "Stop" || r.Message != "m_2" || r.Via != "keyword" {
		t.Errorf("STOP record %+v", r)
	}

	help := in("shop", "m_4", "HELP")
	if !strings.Contains(help.Text, "Chez shop") || !strings.Contains(help.Text, "STOP") || !strings.Contains(help.Text, "24 hours") || help.Record != 0 {
		t.Errorf("HELP: %+v", help)
	}

	all := in("lunch", "m_5", "stopall")
	if all.Text != consent.StopAllText || !slices.Equal(all.Businesses, []string{"lunch", "ride"}) {
		t.Fatalf("STOPALL: %+v (shop was already stopped; lunch and ride learn of it)", all)
	}
	start := in("ride", "m_6", "START")
	if start.Text != consent.StartText("Chez ride") || !slices.Equal(start.Businesses, []string{"ride"}) {
		t.Fatalf("START: %+v", start)
	}
	sts, err := e.svc.Standings(ctx, "p_ann")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, st := range sts {
		out[st.Business] = st.OptedOut
	}
	if want := map[string]bool{"lunch": true, "ride": false, "shop": true}; !maps(out, want) {
		t.Errorf("opted out after STOP shop, STOPALL, START ride: %v, want %v", out, want)
	}
}

func maps(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestHelpTextSpellsTheWindow(t *testing.T) {
	for w, want := range map[time.Duration]string{24 * time.Hour: "24 hours", time.Hour: "an hour", 90 * time.Minute: "90 minutes"} {
		if got := consent.HelpText("Shop", "shop", w); !strings.Contains(got, " "+want+" ") {
			t.Errorf("HelpText with window %s: %q does not say %q", w, got, want)
		}
	}
}

// TestStopDeliveredTwiceAtOnce: the same STOP message handled by two
// goroutines at once (a redelivery racing the first) confirms once.
func TestStopDeliveredTwiceAtOnce(t *testing.T) {
	e := newEnv(t, consent.Config{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var texts []string
	for range 8 {
		wg.Go(func() {
			r, err := e.svc.Inbound(ctx, consent.Inbound{Person: "p_ann", Business: "shop", Surface: "whatsapp", Message: "wamid.1", Text: "STOP"})
			if err != nil {
				t.Error(err)
				return
			}
			if r.Text != "" {
				mu.Lock()
				texts = append(texts, r.Text)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(texts) != 1 {
		t.Fatalf("%d confirmations for one STOP message, want 1: %q", len(texts), texts)
	}
	recs, _ := e.svc.Records(ctx, 1, 0)
	if len(recs) != 1 || recs[0].Kind != consent.KindOptOut {
		t.Errorf("records %+v, want one opt_out", recs)
	}
}
