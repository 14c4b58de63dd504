package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/replay"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// capture prepares the recording of se when recording is on: it fixes the
// event's clock and seed and traces its host calls.
func (r *Router) capture(se *sandbox.Event) *replay.Capture {
	if !r.cfg.Recordings.Enabled() {
		return nil
	}
	c := &replay.Capture{}
	prev := se.Trace
	se.Trace = func(t sandbox.CallTrace) {
		if prev != nil {
			prev(t)
		}
		c.Trace(t.Op, t.Request, t.Response, t.Status)
	}
	se.Clock, se.Seed = time.Now(), sandbox.NewSeed()
	return c
}

// record keeps the event c captured once Dispatch returned err: with the
// event's commit when it has a transaction and succeeded. When the guest
// returned a non-zero status (its effects are dropped) it returns the
// record, which the caller keeps with its answer to the failure (keep, or
// the commit of that answer). An event that failed otherwise (a trap, a
// limit) was not handled and is not recorded.
func (r *Router) record(c *replay.Capture, sa *sandbox.App, ev host.AppEvent, se *sandbox.Event, err error) *replay.Record {
	if c == nil {
		return nil
	}
	var status uint32
	var ge *sandbox.GuestError
	switch {
	case err == nil:
	case errors.As(err, &ge):
		status = ge.Status
	default:
		return nil
	}
	effects := 0
	if se.Tx != nil {
		effects = len(se.Tx.Effects())
	}
	rec := c.Record(replay.Ran{Ref: sa.Ref(), Caller: se.Caller, Type: ev.Event.Type, Payload: se.Payload,
		Clock: se.Clock, Seed: se.Seed, Status: status, Effects: effects})
	if err != nil {
		return rec
	}
	if se.Tx != nil {
		se.Tx.Stage(r.cfg.Recordings.Effect(rec))
		return nil
	}
	r.keep(rec)
	return nil
}

// keep stores rec, when not nil, in a write of its own.
func (r *Router) keep(rec *replay.Record) {
	if rec == nil {
		return
	}
	if perr := r.cfg.Recordings.Put(rec); perr != nil {
		r.log.Error("record event", "app", rec.App, "event", rec.Event, "err", perr)
	}
}

// ReplayQuery selects the recorded events a replay runs (replay.Query).
type ReplayQuery = replay.Query

// Replay runs the recorded events of appID that q selects against version
// (loaded for the replay alone, so that serving events do not wait) and
// reports, per event, whether the version made the same calls, diverged
// or trapped (replay.Run). accept names operations whose divergences the
// merchant accepts.
func (r *Router) Replay(ctx context.Context, appID, version string, q ReplayQuery, accept []string) (*replay.Report, error) {
	if r.cfg.Recordings == nil {
		return nil, host.Errorf(host.StatusUnavailable, "this server keeps no recordings; set replay_retention in its config")
	}
	a, err := r.reg.App(appID)
	if err != nil {
		return nil, err
	}
	wasm, err := r.reg.Module(appID, version)
	if err != nil {
		return nil, err
	}
	recs, err := r.cfg.Recordings.Events(a.Merchant, appID, q)
	if err != nil {
		return nil, err
	}
	ref := host.AppRef{Merchant: a.Merchant, App: appID, Version: version}
	sa, err := r.eng.Load(ctx, ref, wasm)
	if err != nil {
		return nil, fmt.Errorf("load %s for the replay: %w", ref, err)
	}
	defer sa.Close(context.WithoutCancel(ctx))
	rep := replay.Run(ctx, ReplayRunner(sa), recs, accept)
	return &rep, ctx.Err()
}

// ErrReplayRefused is the kind of a promotion refused because the
// candidate trapped on, or diverged from, recorded events.
var ErrReplayRefused = &host.Error{Status: host.StatusConflict, Code: "replay_refused",
	Message: "the version trapped on or diverged from recorded events; see the replay report, fix the version or accept the operations that may differ"}

// PromoteReplayed replays the last last recorded events of appID against
// version and promotes it (Promote) only when none trapped and none
// diverged in operations outside accept. The report comes back in both
// cases; a refusal is an ErrReplayRefused.
func (r *Router) PromoteReplayed(ctx context.Context, appID, version string, percent, last int, accept []string) (*registry.App, *replay.Report, error) {
	if last <= 0 {
		a, err := r.Promote(ctx, appID, version, percent)
		return a, nil, err
	}
	rep, err := r.Replay(ctx, appID, version, ReplayQuery{Last: last}, accept)
	if err != nil {
		return nil, rep, err
	}
	if rep.Refused() {
		return nil, rep, host.Wrapf(ErrReplayRefused, "%d of %d events trapped, %d diverged outside the accepted operations",
			rep.Trapped, len(rep.Events), rep.Diverged-rep.Accepted)
	}
	a, err := r.Promote(ctx, appID, version, percent)
	return a, rep, err
}

// Recordings returns the recorded events of appID that q selects, oldest
// first, without the platform's person ids (a merchant knows people by
// the app's pseudonymous ids in the events). Replay them elsewhere with
// replay.Run and ReplayRunner.
func (r *Router) Recordings(ctx context.Context, appID string, q ReplayQuery) ([]replay.Record, error) {
	if r.cfg.Recordings == nil {
		return nil, host.Errorf(host.StatusUnavailable, "this server keeps no recordings; set replay_retention in its config")
	}
	a, err := r.reg.App(appID)
	if err != nil {
		return nil, err
	}
	recs, err := r.cfg.Recordings.Events(a.Merchant, appID, q)
	for i := range recs {
		recs[i].Person = ""
	}
	return recs, err
}

// ReplayRunner runs recorded events on sa, a version loaded for the
// replay (replay.Run): each with its recorded clock and seed, its host
// calls answered by the replay, nothing committed or sent.
func ReplayRunner(sa *sandbox.App) replay.Runner { return recorded{sa} }

// recorded runs recorded events on a loaded version (replay.Runner).
type recorded struct{ sa *sandbox.App }

func (r recorded) Version() string { return r.sa.Ref().Version }

func (r recorded) RunRecorded(ctx context.Context, rec *replay.Record, answer replay.Answer, trace func(replay.Call)) (uint32, error) {
	seed := rec.Seed
	if seed == 0 {
		seed = 1 // a record always has one; 0 would draw a random seed
	}
	se := &sandbox.Event{
		Payload: rec.Payload,
		Caller:  host.Caller{Person: rec.Person, Conversation: rec.Conversation, Surface: rec.Surface, EventID: rec.Event},
		Clock:   rec.Clock,
		Seed:    seed,
		Tx:      &host.Tx{}, // never committed: its log lines and effects are dropped
		Answer:  answer,
		Trace: func(t sandbox.CallTrace) {
			trace(replay.Call{Op: t.Op, Request: append(json.RawMessage(nil), t.Request...),
				Response: append(json.RawMessage(nil), t.Response...), Status: t.Status})
		},
	}
	_, err := r.sa.Dispatch(ctx, se)
	var ge *sandbox.GuestError
	if errors.As(err, &ge) {
		return ge.Status, nil
	}
	return 0, err
}
