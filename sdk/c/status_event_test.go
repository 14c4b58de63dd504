//go:build !wasip1

package csdk_test

import (
	"slices"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apptest"
)

// TestStatusEvent: a C app that asks for status events (testdata/status)
// gets each field of one through pl_event.status, and its on_status
// handler runs; the echo, which does not ask, is not run for one.
func TestStatusEvent(t *testing.T) {
	p := apptest.New(t, "testdata/status", apptest.Options{})
	a := p.NewPerson("Ada")
	for _, st := range []host.StatusEvent{
		{Message: "msg_1", State: host.StateDelivered, Surface: "whatsapp"},
		{Message: "msg_1", State: host.StateRead, Surface: "whatsapp"},
		{Message: "msg_2", State: host.StateFailed, Code: "window_closed", NetworkCode: 131047, Surface: "whatsapp"},
	} {
		if _, _, err := a.TrySend(host.Event{Type: host.EventStatus, Status: &st}); err != nil {
			t.Fatalf("status %+v: %v", st, err)
		}
	}
	want := []string{
		"log INFO status message=msg_1 state=delivered code= network_code=0 surface=whatsapp",
		"log INFO status message=msg_1 state=read code= network_code=0 surface=whatsapp",
		"log INFO status message=msg_2 state=failed code=window_closed network_code=131047 surface=whatsapp",
	}
	if got := p.Log(); !slices.Equal(got, want) {
		t.Fatalf("log %q\nwant %q", got, want)
	}

	echo := apptest.New(t, echoDir, apptest.Options{})
	msgs, _, err := echo.NewPerson("Ada").TrySend(host.Event{Type: host.EventStatus,
		Status: &host.StatusEvent{Message: "msg_1", State: host.StateRead, Surface: "web"}})
	if err != nil || len(msgs) != 0 || len(echo.Log()) != 0 {
		t.Fatalf("echo (no status in its manifest): sent %+v, logged %q, err %v; want nothing run", msgs, echo.Log(), err)
	}
}
