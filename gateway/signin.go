package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// DemoSignIn lets anyone sign in, without a password, as one of a fixed
// list of people. It exists for `passerelle demo` only: `passerelle serve`
// never sets it, and without it the endpoints below answer 404.
type DemoSignIn interface {
	// People lists who one may sign in as.
	People(ctx context.Context) ([]DemoPerson, error)
	// Token issues a session token for one of them; ErrNotFound for anyone
	// else.
	Token(ctx context.Context, person string) (string, error)
}

// DemoPerson is one entry of the demo's sign-in list.
type DemoPerson struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Surface string `json:"surface,omitempty"` // the surface the demo suggests for them
}

// sessionRoutes adds the sign-in endpoints: GET /session checks a token
// (the client asks when it cannot connect, to tell an ended session from a
// network fault), and, with Config.DemoSignIn, GET and POST /signin/demo.
func (s *Server) sessionRoutes() {
	s.mux.HandleFunc("GET /session", s.serveSession)
	if s.cfg.DemoSignIn != nil {
		s.mux.HandleFunc("GET /signin/demo", s.serveDemoPeople)
		s.mux.HandleFunc("POST /signin/demo", s.serveDemoSignIn)
	}
}

// authenticate returns the person whose session token r carries, or the
// error to answer: the WebSocket upgrade and GET /session say the same.
func (s *Server) authenticate(r *http.Request) (string, *Error) {
	tok := token(r)
	if tok == "" {
		return "", errorf(CodeUnauthorized, "no token: connect with ?token=, an Authorization bearer header or a bearer.<token> subprotocol")
	}
	person, role, err := s.cfg.Auth.Verify(tok)
	if err != nil || person == "" {
		s.log.Info("gateway: token refused", "err", err, "remote", r.RemoteAddr)
		return "", errorf(CodeUnauthorized, "the token was refused (%v); sign in again", err)
	}
	if role != "person" {
		return "", errorf(CodeForbidden, "a %q token cannot chat; use a person's token", role)
	}
	return person, nil
}

// serveSession answers 200 {"person","name"} for a person's token, else
// the error the WebSocket upgrade would have given.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	person, e := s.authenticate(r)
	if e != nil {
		writeHTTPError(w, e)
		return
	}
	writeJSON(w, map[string]string{"person": person, "name": s.name(r.Context(), person)})
}

func (s *Server) serveDemoPeople(w http.ResponseWriter, r *http.Request) {
	people, err := s.cfg.DemoSignIn.People(r.Context())
	if err != nil {
		writeHTTPError(w, codeOf(err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, map[string]any{"people": people})
}

func (s *Server) serveDemoSignIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	var req struct {
		Person string `json:"person"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || strings.TrimSpace(req.Person) == "" {
		writeHTTPError(w, errorf(CodeBadRequest, `send {"person":"<id>"} with one of the ids GET /signin/demo lists`))
		return
	}
	tok, err := s.cfg.DemoSignIn.Token(r.Context(), req.Person)
	if errors.Is(err, ErrNotFound) {
		writeHTTPError(w, errorf(CodeNotFound, "%q is not one of the demo's people; GET /signin/demo lists them", req.Person))
		return
	}
	if err != nil {
		writeHTTPError(w, codeOf(err))
		return
	}
	writeJSON(w, map[string]string{"token": tok})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
