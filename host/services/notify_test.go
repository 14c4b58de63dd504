package services_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/services"
)

// opFunc returns the operation op of s.
func opFunc(t *testing.T, s *services.Services, op string) host.Func {
	t.Helper()
	for _, f := range s.Funcs() {
		if f.Op == op {
			return f
		}
	}
	t.Fatalf("no operation %s", op)
	return host.Func{}
}

// TestNotifyUnderSubscription: outside the service window chat.send is
// refused (window_closed) and chat.notify needs the template; the app asks
// with consent.request_subscription, the host draws a prompt naming the
// business and the template's plain words; an accepted answer is recorded
// in the ledger with that text and reaches the app as a consent event;
// then one chat.notify under the template goes out and the next is
// refused. A declined prompt records nothing and tells the app so.
func TestNotifyUnderSubscription(t *testing.T) {
	ctx := context.Background()
	var events []services.Event
	s, err := services.Open(openDB(t), services.Config{Consent: &consent.Config{},
		Events: func(_ context.Context, ev services.Event) { events = append(events, ev) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity.CreateMerchant(ctx, "trattoria", "Trattoria Roma"); err != nil {
		t.Fatal(err)
	}
	alice, err := s.Identity.CreatePerson(ctx, "Alice", "")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]*host.PromptKind{}
	for _, k := range s.PromptKinds() {
		kinds[k.Name] = k
	}
	kind := kinds[consent.PromptName]
	if kind == nil || !kind.Takes(consent.AnswerAccept) || !kind.Takes(consent.AnswerDecline) {
		t.Fatalf("PromptKinds has no %q kind taking accept and decline", consent.PromptName)
	}
	app := host.AppRef{Merchant: "trattoria", App: "lunch", Version: "1.0.0"}
	call := func(out host.Outbox, ev string) *host.Call {
		return &host.Call{Caller: host.Caller{App: app, Permissions: []host.Permission{host.PermChat},
			Person: alice.ID, Conversation: "cv_1", Surface: "web", EventID: ev}, Out: out}
	}
	notify := opFunc(t, s, "chat.notify")
	ready := `{"text":"Your table is ready","template":"table-ready"}`
	sent := &prompts{}

	for _, tc := range []struct{ op, req string }{
		{"chat.send", `{"text":"Your table is ready"}`},
		{"chat.notify", `{"text":"Your table is ready"}`},
	} {
		if _, err := opFunc(t, s, tc.op).Handle(ctx, call(sent, "ev_0"), []byte(tc.req)); host.StatusOf(err) != host.StatusWindowClosed {
			t.Fatalf("%s outside the window without a template: %v, want window_closed", tc.op, err)
		}
	}
	if _, err := notify.Handle(ctx, call(sent, "ev_0"), []byte(ready)); host.StatusOf(err) != host.StatusNotOptedIn {
		t.Fatalf("chat.notify before a subscription: %v, want not_opted_in", err)
	}

	for _, choice := range []string{consent.AnswerDecline, consent.AnswerAccept} {
		out := &prompts{}
		res, err := opFunc(t, s, "consent.request_subscription").Handle(ctx, call(out, "ev_"+choice),
			[]byte(`{"template":"table-ready","text":"your table is ready"}`))
		if err != nil {
			t.Fatal(err)
		}
		var resp consent.AskResponse
		var body consent.PromptBody
		if json.Unmarshal(res, &resp) != nil || len(out.out) != 1 || out.out[0].Prompt == nil ||
			json.Unmarshal(out.out[0].Prompt.Body, &body) != nil {
			t.Fatalf("response %s, emitted %+v: want one prompt", res, out.out)
		}
		p := out.out[0].Prompt
		if p.Kind != kind || p.Person != alice.ID || p.ID != resp.Prompt || body.ID != p.ID || body.Template != "table-ready" ||
			!strings.Contains(body.Text, "Trattoria Roma") || !strings.Contains(body.Text, "your table is ready") {
			t.Fatalf("prompt %+v body %+v: want a subscribe prompt to Alice naming Trattoria Roma and the message", p, body)
		}
		events = nil
		settled, err := kind.Apply(ctx, host.Answer{Prompt: p.ID, Person: alice.ID, App: app, Conversation: "cv_1",
			Body: p.Body, Choice: choice, Surface: "web"})
		if !settled || err != nil {
			t.Fatalf("Apply %s = %v, %v", choice, settled, err)
		}
		granted := choice == consent.AnswerAccept
		if len(events) != 1 || events[0].Event.Type != host.EventConsent || events[0].App != app || events[0].Person != alice.ID ||
			events[0].Conversation != "cv_1" || !reflect.DeepEqual(*events[0].Event.Consent, host.ConsentEvent{Prompt: p.ID, Template: "table-ready", Granted: granted}) {
			t.Fatalf("%s: events %+v, want one consent event for lunch", choice, events)
		}
		_, err = notify.Handle(ctx, call(sent, "ev_t"+choice), []byte(ready))
		if want := map[bool]host.Status{false: host.StatusNotOptedIn, true: host.StatusOK}[granted]; host.StatusOf(err) != want {
			t.Fatalf("chat.notify after %s: %v, want %s", choice, err, want)
		}
		if granted {
			recs, err := s.Consent.Records(ctx, 1, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 3 || recs[0].Kind != consent.KindSubscription || recs[0].Seen != body.Text || recs[0].Message != p.ID ||
				recs[2].Kind != consent.KindSend || recs[2].Relies != recs[0].Seq {
				t.Fatalf("ledger %+v: want the subscription with the prompt's text, its consumption and the send relying on it", recs)
			}
		}
	}
	if _, err := notify.Handle(ctx, call(sent, "ev_again"), []byte(ready)); host.StatusOf(err) != host.StatusNotOptedIn {
		t.Fatalf("a second chat.notify on one subscription: %v, want not_opted_in", err)
	}
	if len(sent.out) != 1 || sent.out[0].Message == nil || sent.out[0].Message.Text != "Your table is ready" {
		t.Fatalf("sent %+v, want exactly the one notification", sent.out)
	}
}

// TestAskRefusesBadRequests: the request operations name what is wrong.
func TestAskRefusesBadRequests(t *testing.T) {
	ctx := context.Background()
	s, err := services.Open(openDB(t), services.Config{Consent: &consent.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	caller := host.Caller{App: host.AppRef{Merchant: "acme", App: "shop", Version: "1"}, Person: "p_1", Conversation: "cv_1"}
	for _, tc := range []struct {
		name, op, req string
		noPerson      bool
		want          string
	}{
		{"optin without purpose", "consent.request_optin", `{"text":"news"}`, false, "purpose"},
		{"optin with template", "consent.request_optin", `{"template":"x","text":"news"}`, false, "request_subscription"},
		{"subscription with purpose", "consent.request_subscription", `{"purpose":"x","text":"news"}`, false, "request_optin"},
		{"bad name", "consent.request_optin", `{"purpose":"New Stuff","text":"news"}`, false, "purpose"},
		{"no text", "consent.request_subscription", `{"template":"ready"}`, false, "text"},
		{"control in text", "consent.request_subscription", `{"template":"ready","text":"a\nb"}`, false, "control"},
		{"no person", "consent.request_optin", `{"purpose":"updates","text":"news"}`, true, "no person"},
		{"notify with both", "chat.notify", `{"text":"hi","purpose":"a","template":"b"}`, false, "one of them"},
		{"notify without person", "chat.notify", `{"text":"hi","purpose":"a"}`, true, "no person"},
		{"notify bad purpose", "chat.notify", `{"text":"hi","purpose":"A B"}`, false, "purpose"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &host.Call{Caller: caller, Out: &prompts{}}
			if tc.noPerson {
				c.Caller.Person = ""
			}
			_, err := opFunc(t, s, tc.op).Handle(ctx, c, []byte(tc.req))
			if host.StatusOf(err) != host.StatusBadRequest || !strings.Contains(host.MessageOf(err), tc.want) {
				t.Fatalf("%s %s: %v, want bad_request naming %q", tc.op, tc.req, err, tc.want)
			}
		})
	}
}
