package sdktest

import (
	"encoding/json"
	"strconv"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// handoffState is the built-in chat.handoff: the handoffs the app made
// and the one holding the conversation, if any.
type handoffState struct {
	all  []passerelle.HandoffRequest
	open string // id of the open handoff; "" when the app has the conversation
	held []passerelle.Event
}

// chatHandoff is the built-in chat.handoff: it checks the reason, records
// the request and, like the platform, holds the person's messages,
// actions and opens from the app until the test hands the conversation
// back (Handback). Handing off again while a handoff is open answers it
// with "already".
func (h *Host) chatHandoff(req []byte) (any, error) {
	var r passerelle.HandoffRequest
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, &passerelle.Error{Status: passerelle.StatusBadRequest, Message: "the request is not a HandoffRequest: " + err.Error()}
	}
	if r.Reason == "" {
		return nil, &passerelle.Error{Status: passerelle.StatusBadRequest, Message: "chat.handoff: reason: empty; say it in a few words"}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.handoff.open != "" {
		return passerelle.HandoffResult{ID: h.handoff.open, Status: "waiting", Already: true}, nil
	}
	h.handoff.all = append(h.handoff.all, r)
	h.handoff.open = "ho" + strconv.Itoa(len(h.handoff.all))
	return passerelle.HandoffResult{ID: h.handoff.open, Status: "waiting"}, nil
}

// Handoffs returns every chat.handoff request the app made, in order.
func (h *Host) Handoffs() []passerelle.HandoffRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]passerelle.HandoffRequest(nil), h.handoff.all...)
}

// HandedOff returns the id of the open handoff, "" when the app has the
// conversation.
func (h *Host) HandedOff() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.handoff.open
}

// Held returns the person's events the platform kept from the app while
// the conversation was handed off (they went to the merchant's staff).
func (h *Host) Held() []passerelle.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]passerelle.Event(nil), h.handoff.held...)
}

// Take plays an agent taking the open handoff: the app gets a handoff
// event naming agent.
func (h *Host) Take(agent string) error {
	id := h.HandedOff()
	return h.Event(passerelle.Event{Type: passerelle.EventHandoff, Handoff: &passerelle.Handoff{ID: id, Status: "taken", Agent: agent}})
}

// Handback plays an agent handing the conversation back with note: the
// person's events reach the app again, and the app gets a handback event.
func (h *Host) Handback(agent, note string) error {
	h.mu.Lock()
	id := h.handoff.open
	h.handoff.open = ""
	h.mu.Unlock()
	return h.Event(passerelle.Event{Type: passerelle.EventHandback, Handoff: &passerelle.Handoff{ID: id, Status: "returned", Agent: agent, Note: note}})
}

// holds reports whether ev is held from the app by an open handoff, and
// records it then. The caller holds h.mu.
func (h *Host) holds(ev passerelle.Event) bool {
	if h.handoff.open == "" {
		return false
	}
	switch ev.Type {
	case passerelle.EventMessage, passerelle.EventAction, passerelle.EventOpen:
		h.handoff.held = append(h.handoff.held, ev)
		return true
	}
	return false
}
