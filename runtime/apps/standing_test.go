package apps_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/runtime/apps"
)

// told is one call of Config.Standing.
type told struct {
	App, Conv, Type string
}

// TestStandingEvents: STOP typed to one app of a business tells every
// live app of that business (the conversation's app in the conversation,
// the others without one) with an optout event, and no other business;
// START tells them optin; STOPALL tells every business the person dealt
// with; a keyword message seen again, HELP and ordinary text tell nobody.
func TestStandingEvents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.upload(t, "m1", "shop", "1")
	e.upload(t, "m1", "lunch", "1")
	e.upload(t, "m2", "ride", "1")
	svc, err := consent.Open(e.db, consent.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var got []told
	r, err := apps.New(ctx, apps.Config{Registry: e.reg, Engine: e.eng, Identity: pseudonyms{}, Outbox: e.out, Consent: svc,
		Standing: func(_ context.Context, ref host.AppRef, ev host.AppEvent) {
			if ev.Person != "p_ana" || ref.Version != "" {
				t.Errorf("Standing(%+v, %+v): want ana's event for an app, any version", ref, ev)
			}
			got = append(got, told{ref.Merchant + "/" + ref.App, ev.Conversation, ev.Event.Type})
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(ctx) })
	say := func(app, conv, id, text string) {
		t.Helper()
		if err := r.Deliver(ctx, app, host.AppEvent{Person: "p_ana", Conversation: conv, Surface: "web",
			Event: host.Event{Type: host.EventMessage, ID: id, Text: text}}); err != nil {
			t.Fatal(err)
		}
		e.out.take()
	}
	say("ride", "cv_r", "m0", "hello") // ana deals with m2 too

	for _, tc := range []struct {
		name, app, conv, id, text string
		want                      []told
	}{
		{"text", "shop", "cv_s", "m1", "hi", nil},
		{"help", "shop", "cv_s", "m2", "HELP", nil},
		{"stop", "shop", "cv_s", "m3", " stop ", []told{{"m1/lunch", "", "optout"}, {"m1/shop", "cv_s", "optout"}}},
		{"stop seen again", "shop", "cv_s", "m3", " stop ", nil},
		{"start", "lunch", "cv_l", "m4", "START", []told{{"m1/lunch", "cv_l", "optin"}, {"m1/shop", "", "optin"}}},
		{"stopall", "lunch", "cv_l", "m5", "stopall", []told{{"m1/lunch", "cv_l", "optout"}, {"m1/shop", "", "optout"}, {"m2/ride", "", "optout"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got = nil
			say(tc.app, tc.conv, tc.id, tc.text)
			slices.SortFunc(got, func(a, b told) int {
				if a.App < b.App {
					return -1
				}
				if a.App > b.App {
					return 1
				}
				return 0
			})
			if !slices.Equal(got, tc.want) {
				t.Fatalf("%q told %+v, want %+v", tc.text, got, tc.want)
			}
		})
	}
}

// TestRevokedTellsTheApps: a revocation in the consent screen tells every
// live app of the business, and no other business, without a
// conversation: the whole business with optout, as STOP does; one purpose
// with a consent event naming it, not granted. Nothing recorded (a
// revocation of what was not in force) tells nobody.
func TestRevokedTellsTheApps(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.upload(t, "m1", "shop", "1")
	e.upload(t, "m1", "lunch", "1")
	e.upload(t, "m2", "ride", "1")
	svc, err := consent.Open(e.db, consent.Config{})
	if err != nil {
		t.Fatal(err)
	}
	type event struct {
		App, Conv, Type, Purpose string
		Granted                  bool
	}
	var got []event
	r, err := apps.New(ctx, apps.Config{Registry: e.reg, Engine: e.eng, Identity: pseudonyms{}, Outbox: e.out, Consent: svc,
		Standing: func(_ context.Context, ref host.AppRef, ev host.AppEvent) {
			if ev.Person != "p_ana" || ev.Surface != "web" {
				t.Errorf("Standing(%+v, %+v): want ana's event, on the web", ref, ev)
			}
			got = append(got, event{App: ref.Merchant + "/" + ref.App, Conv: ev.Conversation, Type: ev.Event.Type})
			if c := ev.Event.Consent; c != nil {
				got[len(got)-1].Purpose, got[len(got)-1].Granted = c.Purpose, c.Granted
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(ctx) })
	for _, b := range []string{"m1", "m2"} {
		if _, err := svc.OptIn(ctx, consent.Grant{Person: "p_ana", Business: b, App: "shop", Purpose: "updates", Prompt: "Allow?"}); err != nil {
			t.Fatal(err)
		}
	}
	byApp := func(a, b event) int { return strings.Compare(a.App, b.App) }
	for _, tc := range []struct {
		name, purpose string
		want          []event
	}{
		{"one purpose", "updates", []event{{App: "m1/lunch", Type: "consent", Purpose: "updates"}, {App: "m1/shop", Type: "consent", Purpose: "updates"}}},
		{"the purpose again", "updates", nil},
		{"the whole business", "", []event{{App: "m1/lunch", Type: "optout"}, {App: "m1/shop", Type: "optout"}}},
		{"the whole business again", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got = nil
			rec, err := svc.Revoke(ctx, "p_ana", "m1", tc.purpose, "web")
			if err != nil {
				t.Fatal(err)
			}
			r.Revoked(ctx, rec)
			slices.SortFunc(got, byApp)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("told %+v, want %+v", got, tc.want)
			}
		})
	}
}
