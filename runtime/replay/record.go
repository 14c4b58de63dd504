package replay

import (
	"encoding/json"
	"time"

	"github.com/passerelle/passerelle/host"
)

// Call is one host call of a recorded event.
type Call struct {
	Op       string          `json:"op"`
	Request  json.RawMessage `json:"request"`
	Response json.RawMessage `json:"response"`
	Status   host.Status     `json:"status"`
}

// Record is one event an app version handled.
type Record struct {
	Merchant     string          `json:"merchant"`
	App          string          `json:"app"`
	Version      string          `json:"version"`
	Event        string          `json:"event"` // the event's id
	Type         string          `json:"type"`
	Person       string          `json:"person,omitempty"` // the platform's person id, for Forget
	Conversation string          `json:"conversation,omitempty"`
	Surface      string          `json:"surface,omitempty"`
	Clock        time.Time       `json:"clock"` // the guest's clock at the event's start
	Seed         uint64          `json:"seed"`  // the event's random seed
	Payload      json.RawMessage `json:"payload"`
	Calls        []Call          `json:"calls"`
	Status       uint32          `json:"status"`  // what on_event returned
	Effects      int             `json:"effects"` // effects the event staged (storage writes, messages, timers, requests, log lines)
	Redacted     bool            `json:"redacted,omitempty"`
}

// Capture collects the host calls of one event for its Record: the
// runtime calls Trace after each of them.
type Capture struct {
	calls []Call
}

// Trace records one host call; it copies what it keeps.
func (c *Capture) Trace(op string, req, resp []byte, status host.Status) {
	c.calls = append(c.calls, Call{Op: op, Request: clone(req), Response: clone(resp), Status: status})
}

// Calls returns the calls captured so far.
func (c *Capture) Calls() []Call { return c.calls }

// Ran describes an event that ran, for its Record.
type Ran struct {
	Ref     host.AppRef
	Caller  host.Caller // Person, Conversation, Surface and EventID
	Type    string      // the event's type
	Payload []byte      // the guest-visible event
	Clock   time.Time   // the event's clock and seed (sandbox.Event)
	Seed    uint64
	Status  uint32 // what on_event returned
	Effects int    // effects staged
}

// Record returns the record of the event r with the calls captured.
func (c *Capture) Record(r Ran) *Record {
	calls := c.calls
	if calls == nil {
		calls = []Call{}
	}
	return &Record{Merchant: r.Ref.Merchant, App: r.Ref.App, Version: r.Ref.Version, Event: r.Caller.EventID, Type: r.Type,
		Person: r.Caller.Person, Conversation: r.Caller.Conversation, Surface: r.Caller.Surface,
		Clock: r.Clock.UTC(), Seed: r.Seed, Payload: clone(r.Payload), Calls: calls, Status: r.Status, Effects: r.Effects}
}

func clone(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return append(json.RawMessage(nil), b...)
}
