package gateway

import (
	"context"
	"net/http"

	"github.com/passerelle/passerelle/gateway/convlog"
)

// inboxRoutes serves the merchant inbox's page at /inbox (web/inbox.html,
// inbox.js and inbox.css): members of the merchant's staff sign in with
// their one-time link (a session in HttpOnly cookies, gateway/staff), the
// merchant with its token, and answer the conversations apps handed off,
// through the /v1/handoffs endpoints of the API (gateway/api).
func (s *Server) inboxRoutes() {
	s.mux.HandleFunc("GET /inbox", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, webFiles, "web/inbox.html")
	})
}

// Messages returns the messages of conversation after the seq after, the
// newest limit of them when there are more: what the merchant inbox
// shows of a handed-off conversation (gateway/api's Conversations).
func (s *Server) Messages(ctx context.Context, conversation string, after uint64, limit int) ([]convlog.Message, error) {
	_, last, err := s.msgs.Conv(ctx, conversation)
	if err != nil {
		return nil, err
	}
	if last > after && last-after > uint64(limit) {
		after = last - uint64(limit)
	}
	return s.msgs.Range(ctx, conversation, after, limit)
}
