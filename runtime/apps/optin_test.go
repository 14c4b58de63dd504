package apps_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// uploadAsking uploads the fixture guest as id@version with a manifest
// asking for status events.
func (e *env) uploadAsking(t *testing.T, merchant, id, version string) {
	t.Helper()
	wasm, err := os.ReadFile("testdata/guest.wasm")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := wasmfile.EmbedManifest(wasm, &host.Manifest{ABI: "passerelle_v1", ID: id, Name: "App " + id, Version: version,
		Permissions: []host.Permission{host.PermChat}, Events: []string{host.EventStatus}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.router.Upload(context.Background(), merchant, merchant, id, mod); err != nil {
		t.Fatalf("upload %s@%s: %v", id, version, err)
	}
}

// TestStatusEventsOnlyToVersionsThatAsk: Wants says whether an app's
// serving versions ask for status events; a status event is run by a
// version that asks and by none other (the fixture guest answers every
// event it runs), while the other events reach every version.
func TestStatusEventsOnlyToVersionsThatAsk(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.upload(t, "m1", "plain", "1.0.0")
	e.uploadAsking(t, "m1", "asks", "1.0.0")
	if e.router.Wants("plain", host.EventStatus) || !e.router.Wants("asks", host.EventStatus) || !e.router.Wants("plain", host.EventMessage) {
		t.Fatal("Wants does not follow the manifests")
	}
	if e.router.Wants("nobody", host.EventMessage) {
		t.Fatal("an app that does not exist wants events")
	}
	status := func(app, person string) []host.Outgoing {
		t.Helper()
		err := e.router.Deliver(ctx, app, host.AppEvent{Person: person, Conversation: "c-" + person, Surface: "whatsapp",
			Event: host.Event{Type: host.EventStatus, Status: &host.StatusEvent{Message: "msg_1", State: host.StateRead, Surface: "whatsapp"}}})
		if err != nil {
			t.Fatal(err)
		}
		return e.out.take()
	}
	if outs := status("plain", "p1"); len(outs) != 0 {
		t.Fatalf("plain ran a status event: %+v", outs)
	}
	outs := status("asks", "p1")
	if len(outs) != 1 {
		t.Fatalf("asks answered %d times, want once", len(outs))
	}
	var s sent
	if err := json.Unmarshal([]byte(outs[0].Message.Text), &s); err != nil {
		t.Fatal(err)
	}
	if st := s.Event.Status; s.Event.Type != host.EventStatus || st == nil || *st != (host.StatusEvent{Message: "msg_1", State: "read", Surface: "whatsapp"}) {
		t.Fatalf("the guest read %+v", s.Event)
	}

	// plain@2.0.0 asks, as a candidate for half the people: the app wants
	// them, and only the people on 2.0.0 have their status events run.
	e.uploadAsking(t, "m1", "plain", "2.0.0")
	if _, err := e.router.Promote(ctx, "plain", "2.0.0", 50); err != nil {
		t.Fatal(err)
	}
	if !e.router.Wants("plain", host.EventStatus) {
		t.Fatal("a candidate that asks does not make the app want status events")
	}
	ran := map[string]int{}
	for i := range 40 {
		person := fmt.Sprint("p", i)
		v, err := e.deliver(t, "plain", person, "c-"+person, "hi")
		if err != nil {
			t.Fatal(err)
		}
		n := len(status("plain", person))
		if v == "1.0.0" && n != 0 || v == "2.0.0" && n != 1 {
			t.Fatalf("%s on %s: status event run %d times", person, v, n)
		}
		ran[v]++
	}
	if ran["1.0.0"] == 0 || ran["2.0.0"] == 0 {
		t.Fatalf("versions %v: the rollout should split 40 people", ran)
	}
}
