package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/connstore"
	"github.com/passerelle/passerelle/runtime/registry"
)

// Connections keeps the merchants' connections to WhatsApp, Messenger and
// Instagram (gateway/connector/connstore's Store satisfies it).
type Connections interface {
	Connect(ctx context.Context, c connector.Connection) (info connstore.Info, created bool, err error)
	Info(ctx context.Context, id string) (connstore.Info, error)
	Infos(ctx context.Context, merchant string) ([]connstore.Info, error)
	Rotate(ctx context.Context, id string, s connector.Secrets) (connstore.Info, error)
	Delete(ctx context.Context, id string) error
}

// ConnectionView is a connection as the API shows it: never a secret,
// only which are set and when each was last set, and the URL to paste in
// the Meta app dashboard.
type ConnectionView struct {
	connstore.Info
	WebhookURL string `json:"webhook_url"`
}

// secretsBody is the secrets of a request. They are read from the body
// only, never from the URL, and never written back.
type secretsBody struct {
	AccessToken string `json:"access_token"`
	AppSecret   string `json:"app_secret"`
	VerifyToken string `json:"verify_token"`
}

func (s secretsBody) secrets() connector.Secrets {
	return connector.Secrets{AccessToken: s.AccessToken, AppSecret: s.AppSecret, VerifyToken: s.VerifyToken}
}

func (h *Handler) connectionRoutes() {
	h.mux.HandleFunc("POST /v1/connections", h.merchant(h.connections(h.connect)))
	h.mux.HandleFunc("GET /v1/connections", h.merchant(h.connections(h.listConnections)))
	h.mux.HandleFunc("GET /v1/connections/{id}", h.merchant(h.connections(h.ownConnection(h.showConnection))))
	h.mux.HandleFunc("PATCH /v1/connections/{id}", h.merchant(h.connections(h.ownConnection(h.rotate))))
	h.mux.HandleFunc("POST /v1/connections/{id}/rotate", h.merchant(h.connections(h.ownConnection(h.rotate))))
	h.mux.HandleFunc("DELETE /v1/connections/{id}", h.merchant(h.connections(h.ownConnection(h.deleteConnection))))
	h.templateRoutes()
}

// connections refuses the endpoints on a server that keeps no connections.
func (h *Handler) connections(next func(w http.ResponseWriter, r *http.Request, merchant string)) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, merchant string) {
		if h.cfg.Connections == nil {
			writeError(w, errorf(CodeUnavailable, "this server keeps no connections to WhatsApp, Messenger or Instagram"))
			return
		}
		next(w, r, merchant)
	}
}

// ownConnection loads the connection named in the path and answers
// connection_not_found unless merchant owns it.
func (h *Handler) ownConnection(next func(w http.ResponseWriter, r *http.Request, c connstore.Info)) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, merchant string) {
		id := r.PathValue("id")
		c, err := h.cfg.Connections.Info(r.Context(), id)
		if errors.Is(err, connector.ErrNoConnection) || err == nil && c.Merchant != merchant {
			writeError(w, errorf(CodeConnectionNotFound, fmt.Sprintf("you have no connection %q; list yours with GET /v1/connections", id)))
			return
		}
		if err != nil {
			writeError(w, h.connectionError(err))
			return
		}
		next(w, r, c)
	}
}

// connectionError maps the store's errors to codes; its messages carry no
// secret.
func (h *Handler) connectionError(err error) *Error {
	switch {
	case errors.Is(err, connstore.ErrInvalid):
		return errorf(CodeBadRequest, err.Error())
	case errors.Is(err, connstore.ErrAccountTaken):
		return errorf(CodeAccountTaken, err.Error())
	case errors.Is(err, connstore.ErrNoKey):
		return errorf(CodeNoSecretKey, "this server cannot store secrets yet: its operator has configured no secret key "+
			"(they generate one with 'passerelle secret-key' and set PASSERELLE_SECRET_KEY or secret_key_file); nothing was stored")
	case errors.Is(err, connector.ErrNoConnection):
		return errorf(CodeConnectionNotFound, "the connection no longer exists; list yours with GET /v1/connections")
	}
	h.log.Error("connections", "err", err)
	return errorf(CodeInternal, "the connection could not be read or written ("+err.Error()+"); try again")
}

// webhookURL is the callback URL of connection c, on the public base URL
// if one is configured, else on the host the request came to.
func (h *Handler) webhookURL(r *http.Request, c connstore.Info) string {
	base := strings.TrimRight(h.cfg.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + "/webhooks/" + c.Network + "/" + c.ID
}

func (h *Handler) view(r *http.Request, c connstore.Info) ConnectionView {
	return ConnectionView{Info: c, WebhookURL: h.webhookURL(r, c)}
}

// connect serves POST /v1/connections: a new connection (201), or the
// merchant's existing one for that network and account replaced (200,
// the same id and webhook URL).
func (h *Handler) connect(w http.ResponseWriter, r *http.Request, merchant string) {
	var req struct {
		Network string      `json:"network"`
		Account string      `json:"account"`
		App     string      `json:"app"`
		Secrets secretsBody `json:"secrets"`
	}
	if e := decode(r, w, &req); e != nil {
		writeError(w, e)
		return
	}
	if req.App == "" {
		writeError(w, errorf(CodeBadRequest, `name the app that answers the account: {"network":"whatsapp","account":"106540352242922","app":"lunch","secrets":{...}}`))
		return
	}
	a, err := h.reg.App(req.App)
	if errors.Is(err, registry.ErrNotFound) || err == nil && a.Merchant != merchant {
		writeError(w, errorf(CodeAppNotFound, fmt.Sprintf("you have no app %q; upload it first (passerelle app upload) or name one of GET /v1/apps", req.App)))
		return
	}
	if err != nil {
		writeError(w, toError(err))
		return
	}
	c := connector.Connection{Merchant: merchant, Network: req.Network, Account: req.Account, App: req.App, Secrets: req.Secrets.secrets()}
	info, created, err := h.cfg.Connections.Connect(r.Context(), c)
	if err != nil {
		writeError(w, h.connectionError(err))
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	h.log.Info("connection stored", "merchant", merchant, "connection", info.ID, "network", info.Network, "account", info.Account, "app", info.App, "created", created)
	writeJSON(w, status, map[string]any{"connection": h.view(r, info), "created": created})
}

func (h *Handler) listConnections(w http.ResponseWriter, r *http.Request, merchant string) {
	list, err := h.cfg.Connections.Infos(r.Context(), merchant)
	if err != nil {
		writeError(w, h.connectionError(err))
		return
	}
	out := make([]ConnectionView, 0, len(list))
	for _, c := range list {
		out = append(out, h.view(r, c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"connections": out})
}

func (h *Handler) showConnection(w http.ResponseWriter, r *http.Request, c connstore.Info) {
	writeJSON(w, http.StatusOK, map[string]any{"connection": h.view(r, c)})
}

// rotate serves PATCH /v1/connections/{id} and POST
// /v1/connections/{id}/rotate: the secrets given replace the stored ones
// at once; the others stay.
func (h *Handler) rotate(w http.ResponseWriter, r *http.Request, c connstore.Info) {
	var req struct {
		Secrets secretsBody `json:"secrets"`
	}
	if e := decode(r, w, &req); e != nil {
		writeError(w, e)
		return
	}
	info, err := h.cfg.Connections.Rotate(r.Context(), c.ID, req.Secrets.secrets())
	if err != nil {
		writeError(w, h.connectionError(err))
		return
	}
	var which []string
	for _, f := range []struct {
		name string
		set  bool
	}{{connstore.FieldAccessToken, req.Secrets.AccessToken != ""}, {connstore.FieldAppSecret, req.Secrets.AppSecret != ""},
		{connstore.FieldVerifyToken, req.Secrets.VerifyToken != ""}} {
		if f.set {
			which = append(which, f.name)
		}
	}
	h.log.Info("connection secrets rotated", "merchant", c.Merchant, "connection", c.ID, "fields", strings.Join(which, ","))
	writeJSON(w, http.StatusOK, map[string]any{"connection": h.view(r, info)})
}

func (h *Handler) deleteConnection(w http.ResponseWriter, r *http.Request, c connstore.Info) {
	if err := h.cfg.Connections.Delete(r.Context(), c.ID); err != nil {
		writeError(w, h.connectionError(err))
		return
	}
	h.log.Info("connection deleted", "merchant", c.Merchant, "connection", c.ID, "network", c.Network, "account", c.Account)
	writeJSON(w, http.StatusOK, map[string]any{"deleted": c.ID})
}
