package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/broadcast"
	"github.com/passerelle/passerelle/runtime/registry"
)

// Broadcasts makes and reads a merchant's broadcasts (host/broadcast's
// Engine satisfies it). Every method is given the token's merchant and
// reads nothing of another merchant.
type Broadcasts interface {
	Create(ctx context.Context, merchant string, r broadcast.Request) (broadcast.Broadcast, bool, error)
	Get(ctx context.Context, merchant, id string) (broadcast.Broadcast, error)
	List(ctx context.Context, merchant string) ([]broadcast.Broadcast, error)
	Outcomes(ctx context.Context, merchant, id string, after, limit int) ([]broadcast.Outcome, error)
}

// Limits of the broadcast endpoints.
const (
	maxBroadcastBody    = 64 << 10 // bytes of a POST /v1/broadcasts body
	defaultOutcomesPage = 1000
	maxOutcomesPage     = 10000
)

// broadcasts checks that the server runs broadcasts.
func (h *Handler) broadcasts(w http.ResponseWriter) bool {
	if h.cfg.Broadcasts == nil {
		writeError(w, errorf(CodeUnavailable, "this server sends no broadcasts"))
		return false
	}
	return true
}

// createBroadcast serves POST /v1/broadcasts: {"id","app","purpose" or
// "template","message"}. 201 with the broadcast when it is new, 200 with
// the broadcast as it is now when the id was used before with the same
// content, 409 when with other content.
func (h *Handler) createBroadcast(w http.ResponseWriter, r *http.Request, merchant string) {
	if !h.broadcasts(w) {
		return
	}
	var req broadcast.Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBroadcastBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeError(w, errorf(CodeBadRequest, fmt.Sprintf("the body is over %d bytes; a broadcast is one message", maxBroadcastBody)))
			return
		}
		writeError(w, errorf(CodeBadRequest, `the body must be {"id":"winter-sale","app":"shop","purpose":"news","message":{"text":"..."}} (or "template" instead of "purpose"): `+err.Error()))
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeError(w, errorf(CodeBadRequest, "the body holds more than one JSON object; send one broadcast"))
		return
	}
	if req.App != "" {
		a, err := h.reg.App(req.App)
		if errors.Is(err, registry.ErrNotFound) || err == nil && a.Merchant != merchant {
			writeError(w, errorf(CodeAppNotFound, fmt.Sprintf("you have no app %q; a broadcast speaks as one of yours (GET /v1/apps)", req.App)))
			return
		}
		if err != nil {
			writeError(w, toError(err))
			return
		}
	}
	b, created, err := h.cfg.Broadcasts.Create(r.Context(), merchant, req)
	if err != nil {
		h.broadcastError(w, merchant, "make the broadcast", err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		h.log.Info("broadcast made", "merchant", merchant, "id", b.ID, "people", b.Total)
	}
	writeJSON(w, status, b)
}

// listBroadcasts serves GET /v1/broadcasts: the merchant's broadcasts
// with their progress, by id.
func (h *Handler) listBroadcasts(w http.ResponseWriter, r *http.Request, merchant string) {
	if !h.broadcasts(w) {
		return
	}
	list, err := h.cfg.Broadcasts.List(r.Context(), merchant)
	if err != nil {
		h.broadcastError(w, merchant, "list your broadcasts", err)
		return
	}
	if list == nil {
		list = []broadcast.Broadcast{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"broadcasts": list})
}

// getBroadcast serves GET /v1/broadcasts/{id}: its progress.
func (h *Handler) getBroadcast(w http.ResponseWriter, r *http.Request, merchant string) {
	if !h.broadcasts(w) {
		return
	}
	b, err := h.cfg.Broadcasts.Get(r.Context(), merchant, r.PathValue("id"))
	if err != nil {
		h.broadcastError(w, merchant, "read the broadcast", err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// broadcastOutcomes serves GET /v1/broadcasts/{id}/outcomes[?after=N&limit=M]:
// one outcome per person, in sending order, under the app's id for the
// person; "next" is the after of the following page.
func (h *Handler) broadcastOutcomes(w http.ResponseWriter, r *http.Request, merchant string) {
	if !h.broadcasts(w) {
		return
	}
	q := r.URL.Query()
	after, err := queryInt(q.Get("after"), 0, 0, 1<<31-1)
	if err != nil {
		writeError(w, errorf(CodeBadRequest, "after "+err.Error()))
		return
	}
	limit, err := queryInt(q.Get("limit"), defaultOutcomesPage, 1, maxOutcomesPage)
	if err != nil {
		writeError(w, errorf(CodeBadRequest, "limit "+err.Error()))
		return
	}
	id := r.PathValue("id")
	outs, err := h.cfg.Broadcasts.Outcomes(r.Context(), merchant, id, after, limit)
	if err != nil {
		h.broadcastError(w, merchant, "read the broadcast's outcomes", err)
		return
	}
	if outs == nil {
		outs = []broadcast.Outcome{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"broadcast": id, "after": after, "next": after + len(outs), "outcomes": outs})
}

// queryInt reads an optional integer query parameter between lo and hi.
func queryInt(s string, def, lo, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q must be a whole number from %d to %d", s, lo, hi)
	}
	return n, nil
}

// broadcastError answers an engine error: a *host.Error by its code, any
// other as internal, logged.
func (h *Handler) broadcastError(w http.ResponseWriter, merchant, what string, err error) {
	if host.MessageOf(err) == "" {
		h.log.Error("broadcast: could not "+what, "merchant", merchant, "err", err)
		writeError(w, errorf(CodeInternal, "could not "+what+"; try again"))
		return
	}
	writeError(w, toError(err))
}
