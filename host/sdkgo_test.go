package host_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/passerelle/passerelle/host"
	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// The Go SDK is its own module and does not import host; these tests keep its
// copies of the wire types, statuses and log levels equal to host's.

// roundTrip encodes from with JSON, decodes into to, and checks that encoding
// to gives the same document: the SDK type carries every field of the host type.
func roundTrip(t *testing.T, from, to any) {
	t.Helper()
	a, err := json.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(a, to); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(to)
	if err != nil {
		t.Fatal(err)
	}
	var x, y any
	_ = json.Unmarshal(a, &x)
	_ = json.Unmarshal(b, &y)
	if !reflect.DeepEqual(x, y) {
		t.Fatalf("JSON differs:\nhost %s\nsdk  %s", a, b)
	}
}

func TestTypesMatchHost(t *testing.T) {
	tests := []struct {
		name     string
		from, to any
	}{
		{"message event", &host.Event{V: 1, Type: host.EventMessage, ID: "e1", App: "echo", Conversation: "c", User: "u", Surface: "web", Text: "hi"}, &passerelle.Event{}},
		{"action event", &host.Event{V: 1, Type: host.EventAction, ID: "e2", App: "a", Action: &host.Action{ID: "f", Value: "v", Fields: map[string]string{"n": "1"}}}, &passerelle.Event{}},
		{"payment event", &host.Event{V: 1, Type: host.EventPayment, ID: "e3", App: "a", Payment: &host.PaymentEvent{Order: "o", Status: "declined", Amount: 1250, Currency: "EUR", Refunded: 5, IdempotencyKey: "k", Reason: "funds"}}, &passerelle.Event{}},
		{"timer event", &host.Event{V: 1, Type: host.EventTimer, ID: "e4", App: "a", Timer: &host.TimerEvent{ID: "t", Payload: json.RawMessage(`{"n":1}`)}}, &passerelle.Event{}},
		{"card message", &host.Message{Text: "t", Card: &host.Card{
			Title: "T", Text: "x", Image: "https://x/y.png",
			Buttons: []host.Button{{ID: "b", Title: "B", Value: "v"}},
			List:    &host.List{Button: "Pick", Items: []host.ListItem{{ID: "i", Title: "I", Description: "d"}}},
			Form:    &host.Form{ID: "f", Submit: "Go", Fields: []host.FormField{{Name: "n", Label: "N", Type: "number", Required: true}}},
			Share:   &host.Share{App: "shop", Payload: "p"},
		}}, &passerelle.Message{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { roundTrip(t, tt.from, tt.to) })
	}
}

func TestStatusesMatchHost(t *testing.T) {
	for s := passerelle.StatusOK; s <= passerelle.StatusRateLimited+1; s++ {
		if got, want := s.String(), host.Status(s).String(); got != want {
			t.Errorf("status %d: sdk %q, host %q", s, got, want)
		}
	}
	levels := map[passerelle.Level]uint32{passerelle.LevelDebug: 0, passerelle.LevelInfo: 1, passerelle.LevelWarn: 2, passerelle.LevelError: 3}
	for l, n := range levels {
		if uint32(l) != n {
			t.Errorf("level %d should be %d", l, n)
		}
	}
}
