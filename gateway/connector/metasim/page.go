package metasim

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

//go:embed static
var static embed.FS

var pages = template.Must(template.ParseFS(static, "static/index.html", "static/phone.html"))

var titles = map[Network]string{WhatsApp: "WhatsApp", Messenger: "Messenger", Instagram: "Instagram"}

// ServeHTTP serves the Graph API paths of the accounts (POST
// /{version}/{id}/messages, /{version}/me/messages,
// /{version}/{waba-id}/message_templates) and the phone pages: GET / lists
// the people; GET /phone/{network}/{user} is a person's phone, with
// /thread (JSON), /events (server-sent events, the thread at every
// change), and POST /say (text), /tap (message, choice), /photo
// (caption) and, on Messenger and Instagram, /page-reply (text: the
// business answers from Meta's own inbox; its echo is posted). Mounted
// under SimConfig.Prefix, it expects the prefix stripped
// (http.StripPrefix).
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m := graphRE.FindStringSubmatch(r.URL.Path); m != nil {
		s.serveGraph(w, r, m[1])
		return
	}
	s.pages.ServeHTTP(w, r)
}

func (s *Sim) mux() *http.ServeMux {
	mux := http.NewServeMux()
	sub, _ := fs.Sub(static, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(sub)))
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("POST /users", s.addUser)
	mux.HandleFunc("GET /phone/{network}/{user}", s.phone)
	mux.HandleFunc("GET /phone/{network}/{user}/thread", s.thread)
	mux.HandleFunc("GET /phone/{network}/{user}/events", s.events)
	mux.HandleFunc("POST /phone/{network}/{user}/say", s.say)
	mux.HandleFunc("POST /phone/{network}/{user}/tap", s.tap)
	mux.HandleFunc("POST /phone/{network}/{user}/photo", s.photo)
	mux.HandleFunc("POST /phone/{network}/{user}/page-reply", s.pageReply)
	return mux
}

func (s *Sim) index(w http.ResponseWriter, r *http.Request) {
	s.renderIndex(w, r.URL.Query().Get("problem"))
}

// recentAttempts is how many webhook posts the index shows.
const recentAttempts = 20

func (s *Sim) renderIndex(w http.ResponseWriter, problem string) {
	as := s.Attempts()
	as = as[max(0, len(as)-recentAttempts):]
	slices.Reverse(as)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pages.ExecuteTemplate(w, "index.html", map[string]any{
		"Accounts": s.Accounts(), "Users": s.Users(), "Problem": problem, "Prefix": s.cfg.Prefix, "Attempts": as,
		"Networks": []Network{WhatsApp, Messenger, Instagram},
	})
}

func (s *Sim) addUser(w http.ResponseWriter, r *http.Request) {
	u := User{Network: Network(r.FormValue("network")), ID: strings.TrimSpace(r.FormValue("id")), Name: strings.TrimSpace(r.FormValue("name"))}
	if err := s.AddUser(u); err != nil {
		http.Redirect(w, r, s.cfg.Prefix+"/?problem="+url.QueryEscape(err.Error()), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, s.cfg.Prefix+"/phone/"+url.PathEscape(string(u.Network))+"/"+url.PathEscape(u.ID), http.StatusSeeOther)
}

// who returns the person a phone path names, or answers 404.
func (s *Sim) who(w http.ResponseWriter, r *http.Request) (User, []Bubble, bool) {
	n, id := Network(r.PathValue("network")), r.PathValue("user")
	th, err := s.Thread(n, id)
	if err != nil {
		http.Error(w, err.Error()+"; see / for the simulated people", http.StatusNotFound)
		return User{}, nil, false
	}
	for _, u := range s.Users() {
		if u.Network == n && u.ID == id {
			return u, th, true
		}
	}
	return User{}, nil, false
}

func (s *Sim) phone(w http.ResponseWriter, r *http.Request) {
	u, th, ok := s.who(w, r)
	if !ok {
		return
	}
	business := u.Account
	for _, a := range s.accounts {
		if a.ID == u.Account {
			business = a.Name
		}
	}
	raw, _ := json.Marshal(th)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pages.ExecuteTemplate(w, "phone.html", map[string]any{
		"User": u, "Title": titles[u.Network], "Business": business, "Prefix": s.cfg.Prefix,
		"Base":       s.cfg.Prefix + "/phone/" + url.PathEscape(string(u.Network)) + "/" + url.PathEscape(u.ID),
		"ThreadJSON": template.JS(raw),
	})
}

func (s *Sim) thread(w http.ResponseWriter, r *http.Request) {
	_, th, ok := s.who(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(th)
}

// events streams the thread as server-sent events: once at once, then
// at every change, until the client goes or the simulator closes.
func (s *Sim) events(w http.ResponseWriter, r *http.Request) {
	u, _, ok := s.who(w, r)
	if !ok {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here; poll the thread", http.StatusNotImplemented)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	var last []byte
	for {
		ch := s.watch()
		th, _ := s.Thread(u.Network, u.ID)
		raw, _ := json.Marshal(th)
		if string(raw) != string(last) {
			if _, err := fmt.Fprintf(w, "data: %s\n\n", raw); err != nil {
				return
			}
			fl.Flush()
			last = raw
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-ch:
		}
	}
}

func (s *Sim) say(w http.ResponseWriter, r *http.Request) {
	u, _, ok := s.who(w, r)
	if !ok {
		return
	}
	id, err := s.Say(u.Network, u.ID, r.FormValue("text"))
	s.answer(w, r, id, err)
}

func (s *Sim) photo(w http.ResponseWriter, r *http.Request) {
	u, _, ok := s.who(w, r)
	if !ok {
		return
	}
	id, err := s.SendPhoto(u.Network, u.ID, r.FormValue("caption"))
	s.answer(w, r, id, err)
}

// pageReply answers the person as the business from Meta's own inbox
// (PageReply).
func (s *Sim) pageReply(w http.ResponseWriter, r *http.Request) {
	u, _, ok := s.who(w, r)
	if !ok {
		return
	}
	id, err := s.PageReply(u.Network, u.ID, r.FormValue("text"))
	s.answer(w, r, id, err)
}

func (s *Sim) tap(w http.ResponseWriter, r *http.Request) {
	u, _, ok := s.who(w, r)
	if !ok {
		return
	}
	id, err := s.Tap(u.Network, u.ID, r.FormValue("message"), r.FormValue("choice"))
	s.answer(w, r, id, err)
}

// answer ends a person's action: {"id"} of the person's message to a
// script (Accept: application/json), back to the phone for a plain form,
// or the error.
func (s *Sim) answer(w http.ResponseWriter, r *http.Request, id string, err error) {
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrNoChoice) {
			status = http.StatusConflict
		}
		http.Error(w, err.Error(), status)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"id": id})
		return
	}
	http.Redirect(w, r, s.cfg.Prefix+r.URL.Path[:strings.LastIndex(r.URL.Path, "/")], http.StatusSeeOther)
}
