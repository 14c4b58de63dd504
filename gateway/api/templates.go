package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/passerelle/passerelle/gateway/connector/connstore"
)

// Templates keeps the WhatsApp message templates merchants register for
// their connections. The Connections given in Config serves them when it
// implements Templates too (connstore's Store does).
type Templates interface {
	RegisterTemplate(ctx context.Context, conn string, t connstore.Template) (connstore.Template, error)
	Templates(ctx context.Context, conn string) ([]connstore.Template, error)
	DeleteTemplate(ctx context.Context, conn, name, lang string) error
}

func (h *Handler) templateRoutes() {
	h.mux.HandleFunc("POST /v1/connections/{id}/templates", h.merchant(h.connections(h.ownConnection(h.templates(h.registerTemplate)))))
	h.mux.HandleFunc("GET /v1/connections/{id}/templates", h.merchant(h.connections(h.ownConnection(h.templates(h.listTemplates)))))
	h.mux.HandleFunc("DELETE /v1/connections/{id}/templates/{name}", h.merchant(h.connections(h.ownConnection(h.templates(h.deleteTemplate)))))
}

// templates refuses the endpoints when the connection store keeps no
// templates.
func (h *Handler) templates(next func(w http.ResponseWriter, r *http.Request, c connstore.Info, ts Templates)) func(http.ResponseWriter, *http.Request, connstore.Info) {
	return func(w http.ResponseWriter, r *http.Request, c connstore.Info) {
		ts, ok := h.cfg.Connections.(Templates)
		if !ok {
			writeError(w, errorf(CodeUnavailable, "this server keeps no message templates"))
			return
		}
		next(w, r, c, ts)
	}
}

// registerTemplate serves POST /v1/connections/{id}/templates: a WhatsApp
// template, validated as Meta validates one (201); one of the same name
// and language is replaced.
func (h *Handler) registerTemplate(w http.ResponseWriter, r *http.Request, c connstore.Info, ts Templates) {
	var req connstore.Template
	if e := decode(r, w, &req); e != nil {
		writeError(w, e)
		return
	}
	req.Created = 0
	t, err := ts.RegisterTemplate(r.Context(), c.ID, req)
	if err != nil {
		writeError(w, h.connectionError(err))
		return
	}
	h.log.Info("template registered", "connection", c.ID, "template", t.Name, "language", t.Language)
	writeJSON(w, http.StatusCreated, map[string]any{"template": t})
}

func (h *Handler) listTemplates(w http.ResponseWriter, r *http.Request, c connstore.Info, ts Templates) {
	list, err := ts.Templates(r.Context(), c.ID)
	if err != nil {
		writeError(w, h.connectionError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"templates": list})
}

// deleteTemplate serves DELETE /v1/connections/{id}/templates/{name}
// (?language=en_US for one language only).
func (h *Handler) deleteTemplate(w http.ResponseWriter, r *http.Request, c connstore.Info, ts Templates) {
	name := r.PathValue("name")
	err := ts.DeleteTemplate(r.Context(), c.ID, name, r.URL.Query().Get("language"))
	if errors.Is(err, connstore.ErrNoTemplate) {
		writeError(w, errorf(CodeTemplateNotFound, fmt.Sprintf("connection %s has no template %q; list them with GET /v1/connections/%s/templates", c.ID, name, c.ID)))
		return
	}
	if err != nil {
		writeError(w, h.connectionError(err))
		return
	}
	h.log.Info("template deleted", "connection", c.ID, "template", name)
	writeJSON(w, http.StatusOK, map[string]any{"deleted": name})
}
