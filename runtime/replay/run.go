package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/passerelle/passerelle/host"
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

// Answer answers a host call of a replayed event: the response and status
// the guest gets.
type Answer func(op string, req []byte) ([]byte, host.Status)

// Runner runs one recorded event in a version with rec's clock and seed,
// its host calls answered by answer (after the permission check) and each
// call, answered or refused, passed to trace; nothing is committed or
// sent. It returns the status the guest returned, or the failure (a trap,
// a limit, an ABI violation) that stopped the event. runtime/apps makes
// one over a loaded sandbox version.
type Runner interface {
	Version() string
	RunRecorded(ctx context.Context, rec *Record, answer Answer, trace func(Call)) (status uint32, failure error)
}

// Run replays recs, in order, against sa. Each event runs with its
// recorded clock and seed; its host calls are answered from its record,
// a call the record does not have (another operation or request at that
// place, or past its last call) with StatusUnavailable. Nothing is
// committed and nothing is sent. accept names operations (and OpStatus)
// whose divergences the merchant accepts. ctx ends the replay early: the
// events not run are left out of the report.
func Run(ctx context.Context, sa Runner, recs []Record, accept []string) Report {
	start := time.Now()
	app := ""
	if len(recs) > 0 {
		app = recs[0].App
	}
	rep := Report{App: app, Version: sa.Version(), Accept: accept, Events: make([]EventReport, 0, len(recs))}
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
func One(ctx context.Context, sa Runner, rec *Record, accept []string) EventReport {
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
	answer := func(op string, req []byte) ([]byte, host.Status) {
		if i := len(made); i < len(rec.Calls) && rec.Calls[i].Op == op && sameJSON(rec.Calls[i].Request, req) {
			return rec.Calls[i].Response, rec.Calls[i].Status
		}
		return missing, host.StatusUnavailable
	}
	trace := func(c Call) {
		i := len(made)
		made = append(made, c)
		switch {
		case i >= len(rec.Calls):
			diverge(&Divergence{Index: i, Op: c.Op, Replayed: &made[i]})
		case !sameCall(rec.Calls[i], c):
			r := rec.Calls[i]
			diverge(&Divergence{Index: i, Op: c.Op, Recorded: &r, Replayed: &made[i]})
		}
	}
	status, failure := sa.RunRecorded(ctx, rec, answer, trace)
	er.Calls = len(made)
	if failure != nil {
		er.Outcome, er.Failure = Trapped, failure.Error()
		return er
	}
	er.ReplayedStatus = status
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
