package passerelle

// HandoffRequest is what the app tells the merchant's staff when it hands
// a conversation to them: why (Reason, required, at most 200 characters),
// what happened so far (Summary, at most 2000) and named facts the agent
// needs (Fields, at most 20: an order number, a ticket reference).
type HandoffRequest struct {
	Reason  string            `json:"reason"`
	Summary string            `json:"summary,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// HandoffResult is the answer of Handoff.
type HandoffResult struct {
	ID     string `json:"id"`     // the handoff; the handoff and handback events name it
	Status string `json:"status"` // waiting (no agent yet) or taken
	// Already is true when the conversation was already handed off: the
	// result is that handoff, and nothing changed.
	Already bool `json:"already,omitempty"`
}

// Handoff hands the event's conversation to the merchant's staff
// (operation chat.handoff, permission "chat"): they answer the person in
// the merchant inbox, in the same conversation, and the person's
// messages no longer reach the app (payment outcomes and timers still
// do) until an agent hands it back. The app learns that an agent took it
// (OnHandoff) and that it is back, with the agent's note (OnHandback).
// Tell the person in the same event that a person will answer.
func (c *Context) Handoff(r HandoffRequest) (HandoffResult, error) {
	var res HandoffResult
	err := c.call("chat.handoff", importChatHandoff, &r, &res)
	return res, err
}
