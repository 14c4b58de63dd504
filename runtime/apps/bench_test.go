package apps_test

import (
	"context"
	"testing"

	"github.com/passerelle/passerelle/host"
)

// BenchmarkDeliver measures one message event end to end through the
// router: pick the version, build the guest event, dispatch it to the
// fixture guest (which makes one chat.send host call), record the figures.
func BenchmarkDeliver(b *testing.B) {
	e := newEnv(b)
	if _, _, err := e.router.Upload(context.Background(), "m1", "m1", "shop", module(b, "shop", "1")); err != nil {
		b.Fatal(err)
	}
	ev := host.AppEvent{Person: "p", Conversation: "c", Surface: "web", Event: host.Event{Type: host.EventMessage, Text: "hi"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := e.router.Deliver(ctx, "shop", ev); err != nil {
			b.Fatal(err)
		}
		e.out.take()
	}
}
