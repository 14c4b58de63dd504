package bridge_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host/consent"
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
