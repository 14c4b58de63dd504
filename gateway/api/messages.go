package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/passerelle/passerelle/gateway/msgstate"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/registry"
)

// Messages is what the API reads of what became of apps' messages on
// persons' surfaces (gateway/msgstate's Store satisfies it).
type Messages interface {
	Get(ctx context.Context, app, id string) (msgstate.Message, error)
	Figures(ctx context.Context, app string) ([]msgstate.Figure, error)
}

func (h *Handler) messageRoutes() {
	h.mux.HandleFunc("GET /v1/apps/{app}/messages/{id}", h.merchant(h.ownApp(h.message)))
}

// message answers what became of one of the app's messages: its state on
// the person's surface and its history. The person is never named.
func (h *Handler) message(w http.ResponseWriter, r *http.Request, a *registry.App) {
	if h.cfg.Messages == nil {
		writeError(w, errorf(CodeUnavailable, "this server keeps no message states"))
		return
	}
	id := r.PathValue("id")
	m, err := h.cfg.Messages.Get(r.Context(), a.ID, id)
	if errors.Is(err, msgstate.ErrNotFound) {
		writeError(w, errorf(CodeMessageNotFound, fmt.Sprintf("no state is known for message %q of %s: use the id chat.send or chat.notify answered (msg_...); states are kept for 30 days", id, a.ID)))
		return
	}
	if err != nil {
		writeError(w, toError(err))
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// MessageFigures is what became of an app's messages on one surface: how
// many reached each state (a read message counts as delivered), the
// failures by code, and the delivery and read rates over those sent.
type MessageFigures struct {
	Surface      string            `json:"surface"`
	Sent         uint64            `json:"sent"`
	Delivered    uint64            `json:"delivered"`
	Read         uint64            `json:"read"`
	Failed       uint64            `json:"failed"`
	Failures     map[string]uint64 `json:"failures,omitempty"` // by code
	DeliveryRate float64           `json:"delivery_rate"`      // delivered / sent
	ReadRate     float64           `json:"read_rate"`          // read / sent
}

// messageFigures sums figs by surface, sorted by surface.
func messageFigures(figs []msgstate.Figure) []MessageFigures {
	by := map[string]*MessageFigures{}
	for _, f := range figs {
		m := by[f.Surface]
		if m == nil {
			m = &MessageFigures{Surface: f.Surface}
			by[f.Surface] = m
		}
		switch f.State {
		case host.StateSent:
			m.Sent += f.Count
		case host.StateDelivered:
			m.Delivered += f.Count
		case host.StateRead:
			m.Read += f.Count
		case host.StateFailed:
			m.Failed += f.Count
			if m.Failures == nil {
				m.Failures = map[string]uint64{}
			}
			code := f.Code
			if code == "" {
				code = "unknown"
			}
			m.Failures[code] += f.Count
		}
	}
	out := make([]MessageFigures, 0, len(by))
	for _, m := range by {
		if m.Sent > 0 {
			m.DeliveryRate = float64(m.Delivered) / float64(m.Sent)
			m.ReadRate = float64(m.Read) / float64(m.Sent)
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Surface < out[j].Surface })
	return out
}

// appMessageFigures returns app's message figures for the stats, an empty
// list without Messages.
func (h *Handler) appMessageFigures(ctx context.Context, app string) ([]MessageFigures, error) {
	if h.cfg.Messages == nil {
		return []MessageFigures{}, nil
	}
	figs, err := h.cfg.Messages.Figures(ctx, app)
	if err != nil {
		return nil, err
	}
	return messageFigures(figs), nil
}
