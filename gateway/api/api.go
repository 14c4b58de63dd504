package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/sandbox/report"
)

// Authenticator verifies a bearer token (host/identity).
type Authenticator interface {
	Verify(token string) (subject, role string, err error)
}

// RoleMerchant is the token role the API accepts.
const RoleMerchant = "merchant"

// Apps is what the API needs of the mini-app router (runtime/apps.Router
// satisfies it): the registry it reads, and the changes that load or
// unload versions.
type Apps interface {
	Registry() *registry.Registry
	Upload(ctx context.Context, merchant, uploadedBy, appID string, wasm []byte) (registry.Version, *registry.App, error)
	Promote(ctx context.Context, appID, version string, percent int) (*registry.App, error)
	Rollback(ctx context.Context, appID, version string) (*registry.App, error)
	Pools(appID string) map[string]report.PoolStats
}

// Config wires a Handler. Auth and Apps are required.
type Config struct {
	Auth Authenticator
	Apps Apps
	// Audience, if set, serves GET /v1/consent/audience (host/consent).
	Audience  Audience
	MaxUpload int64 // largest module accepted, bytes (default 32 MiB)
	// Uploads is how many uploads are received and checked at once (default
	// 2); more wait. It bounds the memory uploads take to about
	// Uploads × MaxUpload plus the compiler's.
	Uploads   int
	TempDir   string        // where uploads are spooled ("" = os.TempDir())
	Heartbeat time.Duration // idle interval after which a log follower gets an empty line (default 30s)
	Logger    *slog.Logger

	// Connections, if set, serves /v1/connections (gateway/connector/connstore).
	Connections Connections
	// PublicURL is the server's public base URL (https://chat.example.com),
	// the start of the webhook URLs shown; "" uses the host of each request.
	PublicURL string
	// Broadcasts, if set, serves /v1/broadcasts (host/broadcast).
	Broadcasts Broadcasts

	// Handoffs and Conversations, if both set, serve the merchant inbox,
	// /v1/handoffs (handoffs.go).
	Handoffs      Handoffs
	Conversations Conversations
	// Staff, if set, serves /v1/staff (members of a merchant's staff and
	// their inbox sessions, gateway/staff): a member's session opens the
	// handoff endpoints, never the rest of /v1.
	Staff Staff
	// Standings, if set, refuses an agent's answer to a person who sent
	// the business STOP (host/consent).
	Standings Standings

	// Messages, if set, serves GET /v1/apps/{app}/messages/{id} and the
	// message figures of /stats (gateway/msgstate).
	Messages Messages
}

// Handler serves /v1. Mount it on the server's mux at "/v1/".
type Handler struct {
	cfg  Config
	reg  *registry.Registry
	log  *slog.Logger
	mux  *http.ServeMux
	done chan struct{} // closed by Close: ends log followers
	slot chan struct{} // upload slots
	once sync.Once
}

// New returns the /v1 handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Auth == nil || cfg.Apps == nil {
		return nil, errors.New("api: Config needs Auth and Apps")
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = 32 << 20
	}
	if cfg.Uploads <= 0 {
		cfg.Uploads = 2
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, reg: cfg.Apps.Registry(), log: cfg.Logger, mux: http.NewServeMux(),
		done: make(chan struct{}), slot: make(chan struct{}, cfg.Uploads)}
	h.mux.HandleFunc("POST /v1/apps/{app}/versions", h.merchant(h.upload))
	h.mux.HandleFunc("GET /v1/apps", h.merchant(h.listApps))
	h.mux.HandleFunc("GET /v1/apps/{app}/versions", h.merchant(h.ownApp(h.listVersions)))
	h.mux.HandleFunc("POST /v1/apps/{app}/promote", h.merchant(h.ownApp(h.promote)))
	h.mux.HandleFunc("POST /v1/apps/{app}/replay", h.merchant(h.ownApp(h.replay)))
	h.mux.HandleFunc("GET /v1/apps/{app}/recordings", h.merchant(h.ownApp(h.recordings)))
	h.mux.HandleFunc("POST /v1/apps/{app}/rollback", h.merchant(h.ownApp(h.rollback)))
	h.mux.HandleFunc("GET /v1/apps/{app}/logs", h.merchant(h.ownApp(h.logs)))
	h.mux.HandleFunc("GET /v1/apps/{app}/stats", h.merchant(h.ownApp(h.stats)))
	h.messageRoutes()
	h.mux.HandleFunc("GET /v1/consent/audience", h.merchant(h.audience))
	h.mux.HandleFunc("POST /v1/broadcasts", h.merchant(h.createBroadcast))
	h.mux.HandleFunc("GET /v1/broadcasts", h.merchant(h.listBroadcasts))
	h.mux.HandleFunc("GET /v1/broadcasts/{id}", h.merchant(h.getBroadcast))
	h.mux.HandleFunc("GET /v1/broadcasts/{id}/outcomes", h.merchant(h.broadcastOutcomes))
	h.connectionRoutes()
	h.handoffRoutes()
	h.staffRoutes()
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(CodeNoSuchEndpoint, fmt.Sprintf("%s %s is not an endpoint of this API; see API.md", r.Method, r.URL.Path)))
	})
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Close ends every log follower so that the server can shut down. Requests
// already answered are not affected.
func (h *Handler) Close() { h.once.Do(func() { close(h.done) }) }

type merchantKey struct{}

// merchant authenticates the request and requires the merchant role.
func (h *Handler) merchant(next func(w http.ResponseWriter, r *http.Request, merchant string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			if e := staffOnly(r); e != nil {
				writeError(w, e)
				return
			}
			writeError(w, errorf(CodeUnauthorized, "send your merchant token as 'Authorization: Bearer TOKEN' (get one with 'passerelle token merchant NAME')"))
			return
		}
		subject, role, err := h.cfg.Auth.Verify(strings.TrimSpace(token))
		if err != nil {
			h.log.Info("api token refused", "err", err)
			writeError(w, errorf(CodeUnauthorized, "the token is not valid ("+err.Error()+"); get a new merchant token"))
			return
		}
		if role != RoleMerchant || subject == "" {
			writeError(w, errorf(CodeMerchantOnly, "this API is for merchants; use a merchant token, not a "+role+" token"))
			return
		}
		next(w, r, subject)
	}
}

// ownApp loads the app named in the path and refuses it unless merchant owns it.
func (h *Handler) ownApp(next func(w http.ResponseWriter, r *http.Request, a *registry.App)) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, merchant string) {
		id := r.PathValue("app")
		a, err := h.reg.App(id)
		if errors.Is(err, registry.ErrNotFound) || err == nil && a.Merchant != merchant {
			writeError(w, errorf(CodeAppNotFound, fmt.Sprintf("you have no app %q; list yours with GET /v1/apps", id)))
			return
		}
		if err != nil {
			writeError(w, toError(err))
			return
		}
		next(w, r, a)
	}
}

// upload receives a module: streamed to a temporary file under the cap,
// then checked, compiled and stored by the router.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request, merchant string) {
	id := r.PathValue("app")
	limit := h.cfg.MaxUpload
	if r.ContentLength > limit {
		writeError(w, errorf(CodeUploadTooLarge, fmt.Sprintf("the module is %d bytes, over the %d-byte limit; make it smaller (build with -ldflags=-s, strip debug sections)", r.ContentLength, limit)))
		return
	}
	// Refuse someone else's id before reading the body.
	if err := h.reg.CheckOwner(id, merchant); err != nil {
		writeError(w, toError(err))
		return
	}
	select {
	case h.slot <- struct{}{}:
		defer func() { <-h.slot }()
	case <-r.Context().Done():
		return
	case <-h.done:
		writeError(w, errorf(CodeUnavailable, "the server is shutting down; upload again in a moment"))
		return
	}
	f, err := os.CreateTemp(h.cfg.TempDir, "passerelle-upload-*.wasm")
	if err != nil {
		writeError(w, toError(fmt.Errorf("spool upload: %w", err)))
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, http.MaxBytesReader(w, r.Body, limit))
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		writeError(w, errorf(CodeUploadTooLarge, fmt.Sprintf("the module is over the %d-byte limit; make it smaller (build with -ldflags=-s, strip debug sections)", limit)))
		return
	}
	if err != nil {
		writeError(w, errorf(CodeBadRequest, "the upload was interrupted ("+err.Error()+"); send it again"))
		return
	}
	// The size is now known to be under the cap: read it back for the engine.
	wasm := make([]byte, n)
	if _, err := f.ReadAt(wasm, 0); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, toError(fmt.Errorf("read spooled upload: %w", err)))
		return
	}
	v, a, err := h.cfg.Apps.Upload(r.Context(), merchant, merchant, id, wasm)
	if err != nil {
		e := toError(err)
		h.log.Info("upload refused", "merchant", merchant, "app", id, "code", e.Code, "err", err)
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"version": versionView(v, a), "app": a})
}

// VersionView is a version as the API shows it.
type VersionView struct {
	registry.Version
	Live      bool `json:"live"`
	Candidate bool `json:"candidate"`
	Percent   int  `json:"percent,omitempty"` // share of people it serves, when live or candidate
}

func versionView(v registry.Version, a *registry.App) VersionView {
	out := VersionView{Version: v}
	switch v.Version {
	case a.Live:
		out.Live, out.Percent = true, 100-a.Percent
	case a.Candidate:
		out.Candidate, out.Percent = true, a.Percent
	}
	return out
}

func (h *Handler) listApps(w http.ResponseWriter, r *http.Request, merchant string) {
	list, err := h.reg.Apps(merchant)
	if err != nil {
		writeError(w, toError(err))
		return
	}
	if list == nil {
		list = []registry.App{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"apps": list})
}

func (h *Handler) listVersions(w http.ResponseWriter, r *http.Request, a *registry.App) {
	vs, err := h.reg.Versions(a.ID)
	if err != nil {
		writeError(w, toError(err))
		return
	}
	out := make([]VersionView, 0, len(vs))
	for _, v := range vs {
		out = append(out, versionView(v, a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"app": a, "versions": out})
}

// decode reads a small JSON body into v; an empty body leaves v as it is.
func decode(r *http.Request, w http.ResponseWriter, v any) *Error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return errorf(CodeBadRequest, "could not read the request body: "+err.Error())
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(CodeBadRequest, "the body is not the expected JSON ("+err.Error()+"); see API.md")
	}
	return nil
}

func (h *Handler) promote(w http.ResponseWriter, r *http.Request, a *registry.App) {
	var req struct {
		Version string `json:"version"`
		Percent *int   `json:"percent"`
		// replay_last and accept: replay.go
		ReplayLast int      `json:"replay_last"`
		Accept     []string `json:"accept"`
	}
	if e := decode(r, w, &req); e != nil {
		writeError(w, e)
		return
	}
	if req.Version == "" {
		writeError(w, errorf(CodeBadRequest, `name the version to promote: {"version":"1.2.0","percent":10}`))
		return
	}
	percent := 100
	if req.Percent != nil {
		percent = *req.Percent
	}
	if req.ReplayLast != 0 || req.Accept != nil {
		if req.ReplayLast <= 0 {
			writeError(w, errorf(CodeBadRequest, "replay_last must be a positive number of recorded events to replay before promoting"))
			return
		}
		h.promoteReplayed(w, r, a, req.Version, percent, req.ReplayLast, req.Accept)
		return
	}
	app, err := h.cfg.Apps.Promote(r.Context(), a.ID, req.Version, percent)
	if err != nil && app == nil {
		writeError(w, toError(err))
		return
	}
	if err != nil {
		h.log.Error("promote: unload old versions", "app", a.ID, "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"app": app})
}

func (h *Handler) rollback(w http.ResponseWriter, r *http.Request, a *registry.App) {
	var req struct {
		Version string `json:"version"`
	}
	if e := decode(r, w, &req); e != nil {
		writeError(w, e)
		return
	}
	app, err := h.cfg.Apps.Rollback(r.Context(), a.ID, req.Version)
	if err != nil && app == nil {
		writeError(w, toError(err))
		return
	}
	if err != nil {
		h.log.Error("rollback: load versions", "app", a.ID, "err", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"app": app})
}

// logs writes the app's log as newline-delimited JSON; with follow=1 it
// keeps the response open and writes new records as they come.
func (h *Handler) logs(w http.ResponseWriter, r *http.Request, a *registry.App) {
	q := r.URL.Query()
	var after uint64
	limit := 0
	follow := false
	var err error
	if s := q.Get("after"); s != "" {
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			writeError(w, errorf(CodeBadRequest, "after must be a record seq (a whole number)"))
			return
		}
	}
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 0 {
			writeError(w, errorf(CodeBadRequest, "limit must be a whole number ≥ 0"))
			return
		}
	}
	if s := q.Get("follow"); s != "" {
		if follow, err = strconv.ParseBool(s); err != nil {
			writeError(w, errorf(CodeBadRequest, "follow must be 1 or 0"))
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	rc := http.NewResponseController(w)
	recs, changed := h.reg.Logs(a.ID, after, limit)
	for {
		for _, rec := range recs {
			if err := enc.Encode(rec); err != nil {
				return
			}
			after = rec.Seq
		}
		if !follow {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if !h.wait(r.Context(), changed, w, rc) {
			return
		}
		recs, changed = h.reg.Logs(a.ID, after, 0)
	}
}

// wait blocks until changed is closed (true), or the client leaves or the
// handler closes (false), writing an empty line at each heartbeat so that
// proxies keep the stream open and a gone client is noticed.
func (h *Handler) wait(ctx context.Context, changed <-chan struct{}, w io.Writer, rc *http.ResponseController) bool {
	t := time.NewTicker(h.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-changed:
			return true
		case <-ctx.Done():
			return false
		case <-h.done:
			return false
		case <-t.C:
			if _, err := io.WriteString(w, "\n"); err != nil || rc.Flush() != nil {
				return false
			}
		}
	}
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request, a *registry.App) {
	st := h.reg.Stats(a.ID)
	if st == nil {
		st = []registry.Stats{}
	}
	pools := h.cfg.Apps.Pools(a.ID)
	if pools == nil {
		pools = map[string]report.PoolStats{}
	}
	msgs, err := h.appMessageFigures(r.Context(), a.ID)
	if err != nil {
		writeError(w, toError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"app": a.ID, "live": a.Live, "candidate": a.Candidate,
		"percent": a.Percent, "versions": st, "pools": pools, "messages": msgs})
}
