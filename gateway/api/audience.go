package api

import (
	"context"
	"net/http"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
)

// Audience exports a merchant's audience (host/consent's Service
// satisfies it).
type Audience interface {
	Audience(ctx context.Context, business, purpose string) ([]consent.Member, error)
}

// audience serves GET /v1/consent/audience[?purpose=P]: the people the
// merchant may send business-initiated messages to, under the merchant's
// own ids for them, with the evidence of each consent. The token's
// merchant is the only business read.
func (h *Handler) audience(w http.ResponseWriter, r *http.Request, merchant string) {
	if h.cfg.Audience == nil {
		writeError(w, errorf(CodeUnavailable, "this server keeps no consent ledger"))
		return
	}
	purpose := r.URL.Query().Get("purpose")
	members, err := h.cfg.Audience.Audience(r.Context(), merchant, purpose)
	if err != nil {
		if host.StatusOf(err) == host.StatusBadRequest {
			writeError(w, errorf(CodeBadRequest, host.MessageOf(err)))
			return
		}
		h.log.Error("audience export", "merchant", merchant, "err", err)
		writeError(w, errorf(CodeInternal, "the audience could not be read; try again"))
		return
	}
	if members == nil {
		members = []consent.Member{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"merchant": merchant, "purpose": purpose, "members": members})
}
