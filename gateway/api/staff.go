package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/passerelle/passerelle/gateway/staff"
	"github.com/passerelle/passerelle/host/handoff"
)

// Staff keeps the members of merchants' staff and their inbox sessions
// (gateway/staff's Store satisfies it).
type Staff interface {
	Add(ctx context.Context, merchant, name string) (staff.Member, staff.Link, error)
	Members(ctx context.Context, merchant string) ([]staff.Member, error)
	Remove(ctx context.Context, merchant, id string) (staff.Member, error)
	NewLink(ctx context.Context, merchant, id string) (staff.Member, staff.Link, error)
	SignIn(ctx context.Context, code string) (staff.Session, error)
	Refresh(ctx context.Context, token string) (staff.Session, error)
	SignOut(ctx context.Context, session string) error
	Verify(token string) (staff.Member, string, error)
}

// The cookies of a member's inbox session: both HttpOnly (the page's
// script never holds a credential) and SameSite=Strict (another site's
// page cannot make the browser send them).
const (
	// CookieAccess holds the access token, sent to /v1 (it opens the
	// handoff endpoints only).
	CookieAccess = "passerelle_inbox"
	// CookieRefresh holds the refresh token, sent to /v1/staff/session
	// only.
	CookieRefresh = "passerelle_inbox_refresh"
)

const refreshPath = "/v1/staff/session"

// actor is who makes an inbox request: the merchant itself (its API
// token; member empty) or a member of its staff (an inbox session).
type actor struct {
	merchant string
	member   string // member id
	name     string // the member's name
}

func (h *Handler) staffRoutes() {
	h.mux.HandleFunc("POST /v1/staff", h.merchant(h.withStaff(h.addMember)))
	h.mux.HandleFunc("GET /v1/staff", h.merchant(h.withStaff(h.listMembers)))
	h.mux.HandleFunc("DELETE /v1/staff/{id}", h.merchant(h.withStaff(h.removeMember)))
	h.mux.HandleFunc("POST /v1/staff/{id}/link", h.merchant(h.withStaff(h.newLink)))
	h.mux.HandleFunc("POST /v1/staff/session", h.session(h.signIn))
	h.mux.HandleFunc("GET /v1/staff/session", h.agent(h.whoAmI))
	h.mux.HandleFunc("POST /v1/staff/session/refresh", h.session(h.refresh))
	h.mux.HandleFunc("DELETE /v1/staff/session", h.session(h.signOut))
}

// withStaff refuses the staff endpoints on a server that keeps no staff.
func (h *Handler) withStaff(next func(w http.ResponseWriter, r *http.Request, merchant string)) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, merchant string) {
		if h.cfg.Staff == nil {
			writeError(w, errorf(CodeUnavailable, "this server keeps no staff accounts"))
			return
		}
		next(w, r, merchant)
	}
}

// session serves the session endpoints: refused on a server that keeps
// no staff, and from another site's page.
func (h *Handler) session(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.cfg.Staff == nil {
			writeError(w, errorf(CodeUnavailable, "this server keeps no staff accounts"))
			return
		}
		if e := crossSite(r); e != nil {
			writeError(w, e)
			return
		}
		next(w, r)
	}
}

// agent authenticates an inbox request: the merchant's token (Bearer)
// or a member's inbox session (the access cookie).
func (h *Handler) agent(next func(w http.ResponseWriter, r *http.Request, who actor)) http.HandlerFunc {
	asMerchant := h.merchant(func(w http.ResponseWriter, r *http.Request, merchant string) {
		next(w, r, actor{merchant: merchant})
	})
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(CookieAccess)
		if r.Header.Get("Authorization") != "" || err != nil || h.cfg.Staff == nil {
			asMerchant(w, r)
			return
		}
		if e := crossSite(r); e != nil {
			writeError(w, e)
			return
		}
		m, _, err := h.cfg.Staff.Verify(c.Value)
		if err != nil {
			writeError(w, toError(err))
			return
		}
		next(w, r, actor{merchant: m.Merchant, member: m.ID, name: m.Name})
	}
}

// crossSite refuses a cookie-authenticated request another site's page
// made: SameSite=Strict keeps the cookies from it in today's browsers,
// and Sec-Fetch-Site says so where a browser sends it.
func crossSite(r *http.Request) *Error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return nil
	}
	return errorf(CodeForbidden, "the inbox answers its own pages only; open "+r.Host+"/inbox")
}

// staffOnly refuses a member's session on an endpoint for merchants.
func staffOnly(r *http.Request) *Error {
	if _, err := r.Cookie(CookieAccess); err != nil {
		return nil
	}
	return errorf(CodeStaffOnly, "your inbox sign-in opens the merchant inbox only (/v1/handoffs); "+
		"this endpoint needs your merchant's API token")
}

type signInView struct {
	URL     string `json:"url"`  // the page that signs the member in
	Code    string `json:"code"` // the one-time code in it
	Expires int64  `json:"expires"`
}

func (h *Handler) signInOf(r *http.Request, l staff.Link) signInView {
	base := strings.TrimSuffix(h.cfg.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	// In the fragment: it never reaches a server's or a proxy's log.
	return signInView{URL: base + "/inbox#signin=" + l.Code, Code: l.Code, Expires: l.Expires.UnixMilli()}
}

// addMember serves POST /v1/staff {"name"}: the member and its sign-in
// link, shown this once.
func (h *Handler) addMember(w http.ResponseWriter, r *http.Request, merchant string) {
	var req struct {
		Name string `json:"name"`
	}
	if e := decode(r, w, &req); e != nil {
		writeError(w, e)
		return
	}
	if req.Name == "" {
		writeError(w, errorf(CodeBadRequest, `give the member's name as people will see it: {"name":"Alice"}`))
		return
	}
	m, l, err := h.cfg.Staff.Add(r.Context(), merchant, req.Name)
	if err != nil {
		writeError(w, toError(err))
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"member": m, "signin": h.signInOf(r, l)})
}

// listMembers serves GET /v1/staff.
func (h *Handler) listMembers(w http.ResponseWriter, r *http.Request, merchant string) {
	list, err := h.cfg.Staff.Members(r.Context(), merchant)
	if err != nil {
		writeError(w, toError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"staff": list})
}

// removeMember serves DELETE /v1/staff/{id}: its sessions end at once.
func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request, merchant string) {
	m, err := h.cfg.Staff.Remove(r.Context(), merchant, r.PathValue("id"))
	if err != nil {
		writeError(w, toError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"member": m})
}

// newLink serves POST /v1/staff/{id}/link: a new sign-in link, which
// replaces an unused earlier one.
func (h *Handler) newLink(w http.ResponseWriter, r *http.Request, merchant string) {
	m, l, err := h.cfg.Staff.NewLink(r.Context(), merchant, r.PathValue("id"))
	if err != nil {
		writeError(w, toError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"member": m, "signin": h.signInOf(r, l)})
}

// setSession puts a session's tokens in their cookies.
func (h *Handler) setSession(w http.ResponseWriter, r *http.Request, se staff.Session) {
	secure := r.TLS != nil || strings.HasPrefix(h.cfg.PublicURL, "https://")
	http.SetCookie(w, &http.Cookie{Name: CookieAccess, Value: se.Access, Path: "/v1/", MaxAge: int(time.Until(se.AccessExpires).Seconds()),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: CookieRefresh, Value: se.Refresh, Path: refreshPath, MaxAge: int(time.Until(se.RefreshExpires).Seconds()),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
	w.Header().Set("Cache-Control", "no-store")
}

func clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieAccess, Path: "/v1/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: CookieRefresh, Path: refreshPath, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func sessionView(se staff.Session) map[string]any {
	return map[string]any{"member": map[string]string{"id": se.Member.ID, "name": se.Member.Name},
		"merchant": se.Member.Merchant, "expires": se.AccessExpires.UnixMilli(), "session_expires": se.RefreshExpires.UnixMilli()}
}

// signIn serves POST /v1/staff/session {"code"}: the one-time code of a
// sign-in link for a session, in cookies.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code string `json:"code"`
	}
	if e := decode(r, w, &req); e != nil {
		writeError(w, e)
		return
	}
	if req.Code == "" {
		writeError(w, errorf(CodeBadRequest, `give the code of your sign-in link: {"code":"si_..."}`))
		return
	}
	se, err := h.cfg.Staff.SignIn(r.Context(), req.Code)
	if err != nil {
		writeError(w, toError(err))
		return
	}
	h.setSession(w, r, se)
	writeJSON(w, http.StatusOK, sessionView(se))
}

// refresh serves POST /v1/staff/session/refresh: the refresh cookie for
// new tokens.
func (h *Handler) refresh(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(CookieRefresh)
	if err != nil {
		writeError(w, errorf(CodeSessionExpired, "no inbox session to refresh; sign in with the link your merchant gave you"))
		return
	}
	se, err := h.cfg.Staff.Refresh(r.Context(), c.Value)
	if err != nil {
		clearSession(w)
		writeError(w, toError(err))
		return
	}
	h.setSession(w, r, se)
	writeJSON(w, http.StatusOK, sessionView(se))
}

// signOut serves DELETE /v1/staff/session: the session ends, for every
// tab, at once.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	sid := ""
	if c, err := r.Cookie(CookieRefresh); err == nil {
		sid, _, _ = strings.Cut(c.Value, ".")
	} else if c, err := r.Cookie(CookieAccess); err == nil {
		if _, s, err := h.cfg.Staff.Verify(c.Value); err == nil {
			sid = s
		}
	}
	if sid != "" {
		if err := h.cfg.Staff.SignOut(r.Context(), sid); err != nil {
			writeError(w, toError(err))
			return
		}
	}
	clearSession(w)
	w.WriteHeader(http.StatusNoContent)
}

// whoAmI serves GET /v1/staff/session: who the inbox page is signed in
// as.
func (h *Handler) whoAmI(w http.ResponseWriter, r *http.Request, who actor) {
	if who.member == "" {
		writeJSON(w, http.StatusOK, map[string]any{"merchant": who.merchant, "owner": true})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"member": map[string]string{"id": who.member, "name": who.name}, "merchant": who.merchant})
}

// agentOf is who answers for who: a member answers under its own name;
// the merchant names itself in the request.
func agentOf(who actor, name string) (handoff.Agent, *Error) {
	if who.member == "" {
		if name == "" {
			return handoff.Agent{}, errorf(CodeBadRequest, "give \"agent\": your name as the person will see it, such as \"Ana\"")
		}
		return handoff.Agent{Name: name}, nil
	}
	if name != "" && name != who.name {
		return handoff.Agent{}, errorf(CodeBadRequest, "you are signed in as "+who.name+"; leave \"agent\" out: your answers carry your name")
	}
	return handoff.Agent{ID: who.member, Name: who.name}, nil
}
