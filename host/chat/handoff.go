package chat

import (
	"context"
	"encoding/json"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/handoff"
)

// Handoffs starts the handoffs of conversations to the merchant's staff
// (host/handoff's Service).
type Handoffs interface {
	Start(ctx context.Context, app host.AppRef, conversation, person, surface string, r handoff.Request) (*handoff.Begin, error)
}

// HandoffResponse is the response of chat.handoff.
type HandoffResponse struct {
	ID     string `json:"id"`     // the handoff; handoff and handback events name it
	Status string `json:"status"` // waiting, or taken when Already
	// Already is true when the conversation was already handed off: the
	// response is that handoff, and nothing changed.
	Already bool `json:"already,omitempty"`
}

// handoff serves chat.handoff: the event's conversation goes to the
// merchant's staff, with the app's reason, summary and fields, until an
// agent hands it back. The person's messages in it no longer reach the
// app meanwhile. The handoff commits with the event's other effects when
// the call has a transaction.
func (s *Service) handoff(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	var r handoff.Request
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "chat.handoff: request must be {\"reason\":\"...\",\"summary\":\"...\",\"fields\":{\"order\":\"...\"}}: %v", err)
	}
	if err := r.Validate(); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "chat.handoff: %s", host.MessageOf(err))
	}
	if c.Caller.Person == "" || c.Caller.Conversation == "" {
		return nil, host.Errorf(host.StatusBadRequest, "chat.handoff: this event has no person and conversation to hand off; call it from a message, action or open event")
	}
	if s.inbox == nil {
		return nil, host.Errorf(host.StatusUnavailable, "chat.handoff: this host has no merchant inbox; tell the person how to reach you instead")
	}
	b, err := s.inbox.Start(ctx, c.Caller.App, c.Caller.Conversation, c.Caller.Person, c.Caller.Surface, r)
	if err != nil {
		if host.StatusOf(err) == host.StatusBadRequest {
			return nil, host.Errorf(host.StatusBadRequest, "chat.handoff: %s", host.MessageOf(err))
		}
		return nil, err
	}
	if c.Tx != nil {
		c.Tx.Stage(host.Effect{Apply: b.Apply, Committed: b.Committed})
	} else if err := b.Commit(); err != nil {
		return nil, err
	}
	if c.Log != nil && !b.Already {
		c.Log.Info("conversation handed off to the merchant's staff", "handoff", b.Handoff.ID, "reason", b.Handoff.Reason)
	}
	return json.Marshal(HandoffResponse{ID: b.Handoff.ID, Status: b.Handoff.Status, Already: b.Already})
}
