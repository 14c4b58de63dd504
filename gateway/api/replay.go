package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/replay"
)

// CodeReplayRefused: a promotion with replay_last was refused because the
// version trapped on, or diverged from, recorded events; the report says
// where.
const CodeReplayRefused = "replay_refused"

// Replayer is what /v1/apps/{app}/replay and the promote field
// replay_last need of the router (runtime/apps.Router satisfies it). An
// Apps that is no Replayer answers both with unavailable.
type Replayer interface {
	Replay(ctx context.Context, appID, version string, q replay.Query, accept []string) (*replay.Report, error)
	PromoteReplayed(ctx context.Context, appID, version string, percent, last int, accept []string) (*registry.App, *replay.Report, error)
	Recordings(ctx context.Context, appID string, q replay.Query) ([]replay.Record, error)
}

// replayRequest is the body of POST /v1/apps/{app}/replay (API.md).
type replayRequest struct {
	Version string   `json:"version"`
	From    string   `json:"from"` // RFC 3339
	To      string   `json:"to"`
	Session string   `json:"session"`
	Last    int      `json:"last"`
	Accept  []string `json:"accept"`
}

func (h *Handler) replayer() (Replayer, *Error) {
	rp, ok := h.cfg.Apps.(Replayer)
	if !ok {
		return nil, errorf(CodeUnavailable, "this server does not replay recorded events")
	}
	return rp, nil
}

func (h *Handler) replay(w http.ResponseWriter, r *http.Request, a *registry.App) {
	var req replayRequest
	if e := decode(r, w, &req); e != nil {
		writeError(w, e)
		return
	}
	if req.Version == "" {
		writeError(w, errorf(CodeBadRequest, `name the version to replay against: {"version":"1.2.0","last":100}`))
		return
	}
	q, e := req.query()
	if e != nil {
		writeError(w, e)
		return
	}
	rp, e := h.replayer()
	if e != nil {
		writeError(w, e)
		return
	}
	rep, err := rp.Replay(r.Context(), a.ID, req.Version, q, req.Accept)
	if err != nil {
		writeError(w, toError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"report": rep, "refused": rep.Refused()})
}

func (req *replayRequest) query() (replay.Query, *Error) {
	q := replay.Query{Session: req.Session, Last: req.Last}
	if req.Last < 0 {
		return q, errorf(CodeBadRequest, "last is negative; give the number of recent events to replay, or 0 for all")
	}
	for _, f := range []struct {
		name, v string
		t       *time.Time
	}{{"from", req.From, &q.From}, {"to", req.To, &q.To}} {
		if f.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, f.v)
		if err != nil {
			return q, errorf(CodeBadRequest, f.name+" is not an RFC 3339 time ("+err.Error()+"); write it like 2026-01-02T15:04:05Z")
		}
		*f.t = t
	}
	for _, op := range req.Accept {
		if strings.TrimSpace(op) == "" {
			return q, errorf(CodeBadRequest, "accept names an empty operation; list operations like \"chat.send\"")
		}
	}
	return q, nil
}

// promoteReplayed is promote with replay_last: the version is promoted
// only when the last replay_last recorded events replay without a trap or
// a divergence outside accept.
func (h *Handler) promoteReplayed(w http.ResponseWriter, r *http.Request, a *registry.App, version string, percent, last int, accept []string) {
	rp, e := h.replayer()
	if e != nil {
		writeError(w, e)
		return
	}
	app, rep, err := rp.PromoteReplayed(r.Context(), a.ID, version, percent, last, accept)
	if err != nil && app == nil {
		out := toError(err)
		if rep != nil {
			out.Report = rep
		}
		writeError(w, out)
		return
	}
	if err != nil {
		h.log.Error("promote: unload old versions", "app", a.ID, "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"app": app, "report": rep})
}

// recordings serves GET /v1/apps/{app}/recordings: the recorded events
// themselves, for a replay on the merchant's machine.
func (h *Handler) recordings(w http.ResponseWriter, r *http.Request, a *registry.App) {
	qs := r.URL.Query()
	req := replayRequest{From: qs.Get("from"), To: qs.Get("to"), Session: qs.Get("session")}
	if v := qs.Get("last"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, errorf(CodeBadRequest, "last="+v+" is not a number; give the number of recent events"))
			return
		}
		req.Last = n
	}
	q, e := req.query()
	if e != nil {
		writeError(w, e)
		return
	}
	rp, e := h.replayer()
	if e != nil {
		writeError(w, e)
		return
	}
	recs, err := rp.Recordings(r.Context(), a.ID, q)
	if err != nil {
		writeError(w, toError(err))
		return
	}
	if recs == nil {
		recs = []replay.Record{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs})
}
