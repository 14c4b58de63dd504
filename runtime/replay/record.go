package replay

import (
	"encoding/json"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
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
	Effects      int             `json:"effects"` // effects the event staged (storage writes, messages, timers, requests)
	Redacted     bool            `json:"redacted,omitempty"`
}

// Capture collects the host calls of one event for its Record. Attach
// Trace to the sandbox.Event before Dispatch.
type Capture struct {
	calls []Call
}

// Trace records one host call; it copies what it keeps.
func (c *Capture) Trace(t sandbox.CallTrace) {
	c.calls = append(c.calls, Call{Op: t.Op, Request: clone(t.Request), Response: clone(t.Response), Status: t.Status})
}

// Calls returns the calls captured so far.
func (c *Capture) Calls() []Call { return c.calls }

// Record returns the record of the event se that ran in ref, once
// Dispatch returned with the guest's status.
func (c *Capture) Record(ref host.AppRef, se *sandbox.Event, typ string, status uint32) *Record {
	effects := 0
	if se.Tx != nil {
		effects = len(se.Tx.Effects())
	}
	calls := c.calls
	if calls == nil {
		calls = []Call{}
	}
	return &Record{Merchant: ref.Merchant, App: ref.App, Version: ref.Version, Event: se.Caller.EventID, Type: typ,
		Person: se.Caller.Person, Conversation: se.Caller.Conversation, Surface: se.Caller.Surface,
		Clock: se.Clock.UTC(), Seed: se.Seed, Payload: clone(se.Payload), Calls: calls, Status: status, Effects: effects}
}

func clone(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return append(json.RawMessage(nil), b...)
}
