package chat_test

import (
	"context"
	"errors"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/chat"
)

// taking is the gateway's side of the seam: it takes the typed message.
type taking struct{}

func (taking) Emit(_ context.Context, out host.Outgoing) error {
	if out.Message == nil {
		return errors.New("no message")
	}
	return nil // a typed value: nothing to decode
}

// BenchmarkSendToOutbox is one chat.send of a card with three buttons, from
// the guest's request bytes to the message in the outbox (the gateway).
func BenchmarkSendToOutbox(b *testing.B) {
	send := op(chat.New(chat.Config{}), "chat.send")
	c := newCall(taking{})
	req := []byte(`{"card":{"title":"Lunch","text":"What would you like?","buttons":[{"id":"soup","title":"Soup"},{"id":"salad","title":"Salad"},{"id":"pasta","title":"Pasta"}]}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := send.Handle(context.Background(), c, req); err != nil {
			b.Fatal(err)
		}
	}
}
