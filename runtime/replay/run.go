package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// Outcome is what became of one replayed event.
type Outcome string

// Outcomes of a replayed event.
const (
	Same     Outcome = "same"     // every call and the status as recorded
	Diverged Outcome = "diverged" // a call or the status differs (Divergence)
	Trapped  Outcome = "trapped"  // the version failed: a trap, a limit, an ABI violation
)

// OpStatus is the name Divergence.Op takes when the calls agree but the
// status the guest returned differs; --accept takes it like an operation.
const OpStatus = "on_event"

// Divergence is the first difference between a recorded event and its
// replay: the call at Index (counting from 0), as recorded and as
// replayed. Recorded is nil when the replay made a call the recording does
// not have after its last one; Replayed is nil when the replay stopped
// before making a recorded call. For Op OpStatus, Index is the number of
// calls and the statuses differ.
type Divergence struct {
	Index    int    `json:"index"`
	Op       string `json:"op"`
	Recorded *Call  `json:"recorded,omitempty"`
	Replayed *Call  `json:"replayed,omitempty"`
	Accepted bool   `json:"accepted"` // the merchant accepts divergences in Op
}

// EventReport is the replay of one recorded event.
type EventReport struct {
	Event          string      `json:"event"`
	Type           string      `json:"type"`
	Version        string      `json:"version"` // the version that handled it when recorded
	Conversation   string      `json:"conversation,omitempty"`
	Clock          time.Time   `json:"clock"`
	Outcome        Outcome     `json:"outcome"`
	Divergence     *Divergence `json:"divergence,omitempty"`
	Failure        string      `json:"failure,omitempty"` // for Trapped: what failed
	RecordedStatus uint32      `json:"recorded_status"`
	ReplayedStatus uint32      `json:"replayed_status"`
	Calls          int         `json:"calls"` // host calls the replay made
}

// Report is the replay of recorded events against one version.
type Report struct {
	App      string        `json:"app"`
	Version  string        `json:"version"` // the version replayed
	Accept   []string      `json:"accept,omitempty"`
	Events   []EventReport `json:"events"`
	Same     int           `json:"same"`
	Diverged int           `json:"diverged"`
	Accepted int           `json:"accepted"` // of Diverged, those in accepted operations
	Trapped  int           `json:"trapped"`
	Duration time.Duration `json:"duration_ns"`
}

// Refused reports whether the report forbids a promotion: an event
// trapped, or diverged in an operation not accepted.
func (r *Report) Refused() bool { return r.Trapped > 0 || r.Diverged > r.Accepted }

// Run replays recs, in order, against sa. Each event runs with its
// recorded clock and seed; its host calls are answered from its record,
// a call the record does not have (another operation or request at that
// place, or past its last call) with StatusUnavailable. Nothing is
// committed and nothing is sent. accept names operations (and OpStatus)
// whose divergences the merchant accepts. ctx ends the replay early: the
// events not run are left out of the report.
func Run(ctx context.Context, sa *sandbox.App, recs []Record, accept []string) Report {
	start := time.Now()
	ref := sa.Ref()
	rep := Report{App: ref.App, Version: ref.Version, Accept: accept, Events: make([]EventReport, 0, len(recs))}
	for i := range recs {
		if ctx.Err() != nil {
			break
		}
		er := One(ctx, sa, &recs[i], accept)
		switch {
		case er.Outcome == Same:
			rep.Same++
		case er.Outcome == Trapped:
			rep.Trapped++
		default:
			rep.Diverged++
			if er.Divergence.Accepted {
				rep.Accepted++
			}
		}
		rep.Events = append(rep.Events, er)
	}
	rep.Duration = time.Since(start)
	return rep
}

// One replays rec against sa (see Run).
func One(ctx context.Context, sa *sandbox.App, rec *Record, accept []string) EventReport {
	er := EventReport{Event: rec.Event, Type: rec.Type, Version: rec.Version, Conversation: rec.Conversation,
		Clock: rec.Clock, RecordedStatus: rec.Status}
	var made []Call
	var div *Divergence
	diverge := func(d *Divergence) {
		if div == nil {
			d.Accepted = slices.Contains(accept, d.Op)
			div = d
		}
	}
	se := &sandbox.Event{
		Payload: rec.Payload,
		Caller:  host.Caller{Person: rec.Person, Conversation: rec.Conversation, Surface: rec.Surface, EventID: rec.Event},
		Clock:   rec.Clock,
		Seed:    rec.Seed,
		Tx:      &host.Tx{}, // never committed: log lines and effects are dropped
		Answer: func(op string, req []byte) ([]byte, host.Status) {
			if i := len(made); i < len(rec.Calls) && rec.Calls[i].Op == op && sameJSON(rec.Calls[i].Request, req) {
				return rec.Calls[i].Response, rec.Calls[i].Status
			}
			return missing, host.StatusUnavailable
		},
		Trace: func(t sandbox.CallTrace) {
			c := Call{Op: t.Op, Request: clone(t.Request), Response: clone(t.Response), Status: t.Status}
			i := len(made)
			made = append(made, c)
			switch {
			case i >= len(rec.Calls):
				diverge(&Divergence{Index: i, Op: c.Op, Replayed: &made[i]})
			case !sameCall(rec.Calls[i], c):
				r := rec.Calls[i]
				diverge(&Divergence{Index: i, Op: c.Op, Recorded: &r, Replayed: &made[i]})
			}
		},
	}
	if se.Seed == 0 {
		se.Seed = 1 // a record always has one; 0 would draw a random seed
	}
	_, err := sa.Dispatch(ctx, se)
	er.Calls = len(made)
	var ge *sandbox.GuestError
	switch {
	case err == nil:
	case errors.As(err, &ge):
		er.ReplayedStatus = ge.Status
	default:
		er.Outcome, er.Failure = Trapped, err.Error()
		return er
	}
	if div == nil && len(made) < len(rec.Calls) {
		r := rec.Calls[len(made)]
		diverge(&Divergence{Index: len(made), Op: r.Op, Recorded: &r})
	}
	if div == nil && er.ReplayedStatus != rec.Status {
		diverge(&Divergence{Index: len(made), Op: OpStatus})
	}
	er.Outcome, er.Divergence = Same, div
	if div != nil {
		er.Outcome = Diverged
	}
	return er
}

// missing answers a call the recording does not have.
var missing = json.RawMessage(`{"status":7,"code":"unavailable","message":"replay: the recording has no such call at this place; the version diverged from the recorded one"}`)

func sameCall(a, b Call) bool {
	return a.Op == b.Op && a.Status == b.Status && sameJSON(a.Request, b.Request) && sameJSON(a.Response, b.Response)
}

// sameJSON compares two JSON texts byte for byte, then as values.
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}
