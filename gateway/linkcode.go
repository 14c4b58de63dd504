package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// LinkCodes issues the one-time codes with which a person signed in here
// links a network account: they send "LINK 123456" from WhatsApp,
// Messenger or Instagram, and the connector runtime redeems it
// (host/identity's Service implements it).
type LinkCodes interface {
	IssueLinkCode(ctx context.Context, person string) (code string, expires time.Time, err error)
}

// linkRoutes adds POST /link-code when Config.LinkCodes is set.
func (s *Server) linkRoutes() {
	if s.cfg.LinkCodes != nil {
		s.mux.HandleFunc("POST /link-code", s.serveLinkCode)
	}
}

// serveLinkCode answers a signed-in person's request for a link code:
// 200 {"code", "expires", "text"}, the text saying what to send where.
func (s *Server) serveLinkCode(w http.ResponseWriter, r *http.Request) {
	person, e := s.authenticate(r)
	if e != nil {
		writeHTTPError(w, e)
		return
	}
	code, exp, err := s.cfg.LinkCodes.IssueLinkCode(r.Context(), person)
	if err != nil {
		writeHTTPError(w, codeOf(err))
		return
	}
	mins := int(time.Until(exp).Round(time.Minute) / time.Minute)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "expires": exp.UTC().Format(time.RFC3339),
		"text": fmt.Sprintf("Send LINK %s to the business from WhatsApp, Messenger or Instagram within %d minutes: that account then shares your wallet, your consents and your STOPs.", code, mins)})
}
