package apps

import (
	"context"

	"github.com/passerelle/passerelle/host"
)

// Handoffs tells whether a conversation is handed to the merchant's
// staff (host/handoff's Service satisfies it). With Config.Commit the
// router asks HoldsTx, which stages the check that the handoff is still
// open in the transaction that consumes the held event; without, Holds.
type Handoffs interface {
	Holds(ctx context.Context, conversation string) (bool, error)
	HoldsTx(ctx context.Context, tx *host.Tx, conversation string) (bool, error)
}

// held is Held with the router's Config.Handoffs; when the state cannot
// be read the event goes to the app: a person is never left unanswered by
// both.
func (r *Router) held(ctx context.Context, ref host.AppRef, ev host.AppEvent) bool {
	if r.cfg.Handoffs == nil {
		return false
	}
	held, err := Held(ctx, r.cfg.Handoffs, ev)
	if err != nil {
		r.log.Warn("apps: handoff state not read; the app gets the event", "app", ref.String(), "conversation", ev.Conversation, "err", err)
		return false
	}
	if held {
		r.log.Debug("apps: event held for the merchant's staff", "app", ref.String(), "conversation", ev.Conversation, "type", ev.Event.Type)
	}
	return held
}

// Held reports whether ev is a person's message, action or open in a
// conversation its app handed off (h): the person talks to the
// merchant's staff there, who read the message in the inbox, so the app
// must not get it. The events the host causes (payment outcomes, timers,
// handoff and handback) reach the app all the same. Deliver asks it
// after the consent rules (a STOP is still the platform's);
// runtime/apptest, which runs one app without a Router, asks it too.
func Held(ctx context.Context, h Handoffs, ev host.AppEvent) (bool, error) {
	if ev.Person == "" || ev.Conversation == "" {
		return false, nil
	}
	switch ev.Event.Type {
	case host.EventMessage, host.EventAction, host.EventOpen:
		return h.Holds(ctx, ev.Conversation)
	}
	return false, nil
}
