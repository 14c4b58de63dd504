package sandbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// Event.Answer answers the event's host calls instead of the services:
// the guest gets its response (a recorded error response as it was), the
// trace shows it, and the handler never runs.
func TestEventAnswer(t *testing.T) {
	e, _ := newEngine(t, nil)
	for _, c := range []struct {
		name   string
		perms  []host.Permission
		resp   string
		status host.Status
		want   string // the response the guest gets
		wantSt host.Status
	}{
		{"ok", chat, `{"id":"recorded"}`, host.StatusOK, `{"id":"recorded"}`, host.StatusOK},
		{"recorded error", chat, `{"status":4,"code":"quota_exceeded","message":"as recorded"}`, host.StatusQuota,
			`{"status":4,"code":"quota_exceeded","message":"as recorded"}`, host.StatusQuota},
		{"not JSON", chat, ``, host.StatusUnavailable, `{"status":7,"code":"unavailable"`, host.StatusUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := &outbox{}
			a := load(t, e, fixture(t, "echo", c.perms, host.Limits{}))
			defer a.Close(context.Background())
			var asked []string
			var traced []sandbox.CallTrace
			ev := event(out)
			ev.Answer = func(op string, req []byte) ([]byte, host.Status) {
				asked = append(asked, op+" "+string(req))
				return []byte(c.resp), c.status
			}
			ev.Trace = func(tr sandbox.CallTrace) {
				tr.Request, tr.Response = append([]byte(nil), tr.Request...), append([]byte(nil), tr.Response...)
				traced = append(traced, tr)
			}
			a.Dispatch(context.Background(), ev)
			if got := out.all(); len(got) != 0 {
				t.Fatalf("the service ran: %+v", got)
			}
			if len(traced) != 1 || traced[0].Status != c.wantSt || !strings.HasPrefix(string(traced[0].Response), c.want) {
				t.Fatalf("traced %+v (%s)", traced, traced[0].Response)
			}
			if len(asked) != 1 || asked[0] != "chat.send "+payload {
				t.Fatalf("asked %q", asked)
			}
		})
	}
}

// Dispatch fixes an event's clock and seed when the caller leaves them
// zero, and keeps those it gives.
func TestEventClockAndSeed(t *testing.T) {
	e, _ := newEngine(t, nil)
	a := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	ev := event(&outbox{})
	before := time.Now()
	if _, err := a.Dispatch(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if ev.Seed == 0 || ev.Clock.Before(before) || ev.Clock.After(time.Now()) {
		t.Fatalf("clock %v seed %d", ev.Clock, ev.Seed)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev = event(&outbox{})
	ev.Clock, ev.Seed = at, 42
	if _, err := a.Dispatch(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if !ev.Clock.Equal(at) || ev.Seed != 42 {
		t.Fatalf("clock %v seed %d", ev.Clock, ev.Seed)
	}
}
