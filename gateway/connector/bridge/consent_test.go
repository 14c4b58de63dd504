package bridge_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/identity"
)

// TestUndeliverableRecorded: WhatsApp's 131026 for a person is recorded
// in the consent ledger, and the app's log says broadcasts skip them.
func TestUndeliverableRecorded(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, stackOpts{})
	s.wa.FailNext(131026)
	const who = "15550041"
	s.deliver(s.waHook, waText(who, "Ida", s.wamid(), "hi"))
	waitFor(t, "the refusal in the app's log", func() bool {
		return slices.ContainsFunc(s.appLog.all(), func(l string) bool {
			return strings.HasPrefix(l, "lunch undeliverable:") && strings.Contains(l, "broadcasts skip")
		})
	})
	person, _ := s.personConv(who)
	recs, err := s.svc.Consent.Records(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(recs, func(r consent.Record) bool {
		return r.Kind == consent.KindUndeliverable && r.Person == person && r.Business == merchant && r.Surface == "whatsapp"
	}) {
		t.Fatalf("no undeliverable record in %+v", recs)
	}
	if u, err := s.svc.Consent.IsUndeliverable(ctx, person, merchant); err != nil || !u {
		t.Fatalf("IsUndeliverable %v %v", u, err)
	}
}

// TestStopSilencesTheBridge: after STOP, a photo gets no "unsupported"
// answer and LINK no answer; HELP is still answered.
func TestStopSilencesTheBridge(t *testing.T) {
	s := newStack(t, stackOpts{})
	const who = "15550042"
	s.deliver(s.waHook, waText(who, "Jo", s.wamid(), "hi"))
	_, n := s.nextWA(0)
	s.deliver(s.waHook, waText(who, "Jo", s.wamid(), "STOP"))
	stop, n := s.nextWA(n)
	if !strings.Contains(strings.ToLower(stop.Text), "start") {
		t.Fatalf("the STOP confirmation: %+v", stop)
	}
	s.deliver(s.waHook, waMessage(who, "Jo", s.wamid(), map[string]any{"type": "image", "image": map[string]any{"id": "img1", "mime_type": "image/jpeg"}}))
	s.deliver(s.waHook, waText(who, "Jo", s.wamid(), "LINK 123456"))
	s.deliver(s.waHook, waText(who, "Jo", s.wamid(), "HELP"))
	help, n := s.nextWA(n)
	if !strings.Contains(help.Text, "Reply STOP") {
		t.Fatalf("after STOP the person got %+v, want only the HELP answer", help)
	}
	time.Sleep(100 * time.Millisecond) // a withheld message would have gone by now
	if got := len(s.wa.Sent()); got != n {
		t.Fatalf("%d messages after STOP, want 2 (its confirmation and HELP's answer): %+v", got, decodeWA(s.wa.Sent()[got-1]))
	}
}

// TestMessengerUndeliverableRecorded: each of Messenger's and Instagram's
// "this person cannot be reached" refusals is recorded in the consent
// ledger as undeliverable, like WhatsApp's 131026, and the app's log says
// so with the code.
func TestMessengerUndeliverableRecorded(t *testing.T) {
	ctx := context.Background()
	for i, f := range []metasim.Fault{
		{Code: 551},                   // this person isn't receiving messages from you right now (blocked)
		{Code: 551, Subcode: 1545041}, // this person isn't available right now
		{Code: 200, Subcode: 1545041}, // message not sent: this person isn't available right now
		{Code: 10, Subcode: 2018108},  // they can't receive your messages right now
		{Code: 100, Subcode: 2018001}, // no matching user found
		{Code: 100, Subcode: 2534014}, // no matching Instagram user
	} {
		t.Run(fmt.Sprintf("%d_%d", f.Code, f.Subcode), func(t *testing.T) {
			s := newStack(t, stackOpts{})
			psid := fmt.Sprintf("80%02d", i)
			s.ms.FailNext(f)
			s.deliver(s.msHook, msMessage(psid, map[string]any{"mid": "m.u" + psid, "text": "hi"}))
			waitFor(t, "the refusal in the app's log", func() bool {
				return slices.ContainsFunc(s.appLog.all(), func(l string) bool {
					return strings.HasPrefix(l, "lunch undeliverable:") && strings.Contains(l, fmt.Sprintf("code %d", f.Code)) &&
						strings.Contains(l, "broadcasts skip")
				})
			})
			p, err := s.svc.Identity.PersonByAccount(ctx, identity.Account{Surface: connector.NetworkMessenger, External: psid})
			if err != nil {
				t.Fatal(err)
			}
			recs, err := s.svc.Consent.Records(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(recs, func(r consent.Record) bool {
				return r.Kind == consent.KindUndeliverable && r.Person == p.ID && r.Business == merchant && r.Surface == "messenger" &&
					r.Via == fmt.Sprintf("network code %d", f.Code)
			}) {
				t.Fatalf("no undeliverable record in %+v", recs)
			}
			if u, err := s.svc.Consent.IsUndeliverable(ctx, p.ID, merchant); err != nil || !u {
				t.Fatalf("IsUndeliverable %v %v", u, err)
			}
		})
	}
}
