// Package metasim plays Meta's business messaging APIs for tests and
// demos. Server is the WhatsApp Cloud API: it serves the messages
// endpoint, checks requests as Meta documents them (token, phone number
// id, body shape, the limits of each message type) and answers in Meta's
// shapes, errors included; a test can make it refuse the next sends with
// any code, and throttle messages to one person (Meta's pair rate limit).
// MessengerServer is the Messenger Platform's Send API for a Page or an
// Instagram account: the same checks against Messenger's limits (quick
// replies, generic templates, messaging types and tags), injected codes
// with their subcodes, and, when asked, the 24-hour and 7-day
// (HUMAN_AGENT) windows. Sign and Deliver sign and post webhook
// notifications as Meta does, for either network.
//
// It does not import the connectors: it checks what Meta checks, from
// Meta's documentation, not what a connector happens to send.
//
// It is the seed of the local Meta simulator: the phone-like pages and
// the status webhooks that follow a send come on top of it.
package metasim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Config is the business number the simulator plays.
type Config struct {
	PhoneNumberID string // the id in the endpoint's path
	Token         string // the access token it accepts
	// PairInterval, when set, refuses a message to a person sooner than
	// this after the previous one with 131056 (Meta documents about one
	// message every 6 seconds per business and person).
	PairInterval time.Duration
	Now          func() time.Time // time.Now if nil
}

// Sent is a message the simulator accepted.
type Sent struct {
	ID   string          // the wamid it answered
	To   string          // the "to" of the request
	Type string          // text, interactive, template
	Body json.RawMessage // the request body as received
}

// Server is the simulator; it is an http.Handler (serve it with
// httptest.NewServer or any http.Server). It is safe for concurrent use.
type Server struct {
	cfg Config

	mu    sync.Mutex
	sent  []Sent
	fails []int // codes to answer the next sends with, in order
	last  map[string]time.Time
	seq   int
}

// New returns a simulator for cfg.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{cfg: cfg, last: map[string]time.Time{}}
}

// FailNext makes the next len(codes) sends fail with these codes, in
// order, in Meta's error shape (after the request is checked).
func (s *Server) FailNext(codes ...int) {
	s.mu.Lock()
	s.fails = append(s.fails, codes...)
	s.mu.Unlock()
}

// Sent returns the messages accepted so far.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

var pathRE = regexp.MustCompile(`^/(v[0-9]+\.[0-9]+)/([^/]+)/messages$`)

// ServeHTTP serves POST /{version}/{phone-number-id}/messages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := pathRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		writeError(w, 400, 100, "Unknown path components: "+r.URL.Path, "")
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, 400, 100, "Unsupported get request.", "the messages endpoint takes POST")
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		writeError(w, 400, 2500, "An active access token must be used to query information about the current user.", "")
		return
	}
	if !hmac.Equal([]byte(tok), []byte(s.cfg.Token)) {
		writeError(w, 401, 190, "Invalid OAuth access token - Cannot parse access token", "")
		return
	}
	if m[2] != s.cfg.PhoneNumberID {
		writeError(w, 400, 100, fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", m[2]), "")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeError(w, 400, 100, "Invalid parameter", "the body must be JSON (Content-Type: application/json)")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, 400, 100, "Invalid parameter", err.Error())
		return
	}
	var req map[string]any
	if err := json.Unmarshal(raw, &req); err != nil {
		writeError(w, 400, 100, "Invalid parameter", "the body is not a JSON object: "+err.Error())
		return
	}
	to, typ, err := check(req)
	if err != nil {
		writeError(w, 400, 131009, "(#131009) Parameter value is not valid", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fails) > 0 {
		code := s.fails[0]
		s.fails = s.fails[1:]
		refuse(w, code)
		return
	}
	now := s.cfg.Now()
	if s.cfg.PairInterval > 0 {
		if t, ok := s.last[to]; ok && now.Sub(t) < s.cfg.PairInterval {
			refuse(w, 131056)
			return
		}
		s.last[to] = now
	}
	s.seq++
	id := "wamid." + base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "sim-%s-%d", s.cfg.PhoneNumberID, s.seq))
	s.sent = append(s.sent, Sent{ID: id, To: to, Type: typ, Body: raw})
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []any{map[string]any{"input": to, "wa_id": strings.TrimPrefix(to, "+")}},
		"messages":          []any{map[string]any{"id": id}},
	})
}

// refusal is how Meta answers a code.
type refusal struct {
	status           int
	message, details string
}

// refusals are Meta's documented answers to the codes tests inject most;
// another code gets a generic message with HTTP 400.
var refusals = map[int]refusal{
	130429: {429, "(#130429) Rate limit hit", "Cloud API message throughput has been reached."},
	131056: {429, "(#131056) (Business Account, Consumer Account) pair rate limit hit", "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time."},
	131047: {400, "(#131047) Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
	131026: {400, "(#131026) Message undeliverable", "Unable to deliver message."},
	131050: {400, "(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.", ""},
	190:    {401, "Error validating access token: Session has expired.", ""},
	131000: {500, "(#131000) Something went wrong", "Message failed to send due to an unknown error."},
	132001: {404, "(#132001) Template name does not exist in the translation", "template name does not exist in the language"},
}

// refuse answers with code as Meta does.
func refuse(w http.ResponseWriter, code int) {
	r, ok := refusals[code]
	if !ok {
		r = refusal{400, fmt.Sprintf("(#%d) Simulated error", code), ""}
	}
	writeError(w, r.status, code, r.message, r.details)
}

func writeError(w http.ResponseWriter, status, code int, message, details string) {
	e := map[string]any{"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Asim" + fmt.Sprint(code)}
	if details != "" {
		e["error_data"] = map[string]any{"messaging_product": "whatsapp", "details": details}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": e})
}

// Sign returns the X-Hub-Signature-256 value Meta sends with body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Deliver posts a webhook notification to url, signed with the app
// secret, as Meta does, and returns the HTTP status it got.
func Deliver(ctx context.Context, c *http.Client, url string, secret, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", Sign(secret, body))
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Limits Meta documents for the messages it checks (characters).
const (
	maxText       = 4096
	maxBody       = 1024
	maxHeader     = 60
	maxFooter     = 60
	maxButtons    = 3
	maxBtnTitle   = 20
	maxBtnID      = 256
	maxListButton = 20
	maxSections   = 10
	maxRows       = 10
	maxRowTitle   = 24
	maxRowID      = 200
	maxRowDesc    = 72
	maxSecTitle   = 24
)

// check validates a request body as Meta does, returning its recipient
// and type.
func check(req map[string]any) (to, typ string, err error) {
	if str(req["messaging_product"]) != "whatsapp" {
		return "", "", fmt.Errorf("messaging_product is required and must be \"whatsapp\"")
	}
	to = str(req["to"])
	if to == "" {
		return "", "", fmt.Errorf("to is required")
	}
	if rt, ok := req["recipient_type"]; ok && str(rt) != "individual" && str(rt) != "group" {
		return "", "", fmt.Errorf("recipient_type must be individual")
	}
	typ = str(req["type"])
	if typ == "" {
		typ = "text" // Meta's default
	}
	switch typ {
	case "text":
		t, _ := req["text"].(map[string]any)
		return to, typ, length("text.body", str(t["body"]), 1, maxText)
	case "interactive":
		return to, typ, checkInteractive(req["interactive"])
	case "template":
		t, _ := req["template"].(map[string]any)
		lang, _ := t["language"].(map[string]any)
		if str(t["name"]) == "" {
			return "", "", fmt.Errorf("template.name is required")
		}
		if str(lang["code"]) == "" {
			return "", "", fmt.Errorf("template.language.code is required")
		}
		return to, typ, nil
	}
	return "", "", fmt.Errorf("type %q is not one the simulator serves (text, interactive, template)", typ)
}

func checkInteractive(v any) error {
	in, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("interactive is required for type interactive")
	}
	if h, ok := in["header"].(map[string]any); ok && str(h["type"]) == "text" {
		if err := length("interactive.header.text", str(h["text"]), 1, maxHeader); err != nil {
			return err
		}
	}
	if f, ok := in["footer"].(map[string]any); ok {
		if err := length("interactive.footer.text", str(f["text"]), 1, maxFooter); err != nil {
			return err
		}
	}
	b, _ := in["body"].(map[string]any)
	if err := length("interactive.body.text", str(b["text"]), 1, maxBody); err != nil {
		return err
	}
	action, _ := in["action"].(map[string]any)
	switch str(in["type"]) {
	case "button":
		bs, _ := action["buttons"].([]any)
		if len(bs) < 1 || len(bs) > maxButtons {
			return fmt.Errorf("interactive.action.buttons must have 1 to %d buttons, has %d", maxButtons, len(bs))
		}
		ids, titles := map[string]bool{}, map[string]bool{}
		for i, x := range bs {
			bt, _ := x.(map[string]any)
			if str(bt["type"]) != "reply" {
				return fmt.Errorf("interactive.action.buttons[%d].type must be reply", i)
			}
			r, _ := bt["reply"].(map[string]any)
			id, title := str(r["id"]), str(r["title"])
			if err := length(fmt.Sprintf("buttons[%d].reply.title", i), title, 1, maxBtnTitle); err != nil {
				return err
			}
			if err := length(fmt.Sprintf("buttons[%d].reply.id", i), id, 1, maxBtnID); err != nil {
				return err
			}
			if ids[id] || titles[title] {
				return fmt.Errorf("buttons[%d]: button ids and titles must be unique", i)
			}
			ids[id], titles[title] = true, true
		}
	case "list":
		if err := length("interactive.action.button", str(action["button"]), 1, maxListButton); err != nil {
			return err
		}
		ss, _ := action["sections"].([]any)
		if len(ss) < 1 || len(ss) > maxSections {
			return fmt.Errorf("interactive.action.sections must have 1 to %d sections, has %d", maxSections, len(ss))
		}
		rows := 0
		for i, x := range ss {
			sec, _ := x.(map[string]any)
			if len(ss) > 1 || sec["title"] != nil {
				if err := length(fmt.Sprintf("sections[%d].title", i), str(sec["title"]), 1, maxSecTitle); err != nil {
					return err
				}
			}
			rs, _ := sec["rows"].([]any)
			if len(rs) == 0 {
				return fmt.Errorf("sections[%d].rows must have at least 1 row", i)
			}
			for j, y := range rs {
				row, _ := y.(map[string]any)
				if err := length(fmt.Sprintf("sections[%d].rows[%d].title", i, j), str(row["title"]), 1, maxRowTitle); err != nil {
					return err
				}
				if err := length(fmt.Sprintf("sections[%d].rows[%d].id", i, j), str(row["id"]), 1, maxRowID); err != nil {
					return err
				}
				if d, ok := row["description"]; ok {
					if err := length(fmt.Sprintf("sections[%d].rows[%d].description", i, j), str(d), 0, maxRowDesc); err != nil {
						return err
					}
				}
			}
			rows += len(rs)
		}
		if rows > maxRows {
			return fmt.Errorf("a list has at most %d rows in all sections, has %d", maxRows, rows)
		}
	default:
		return fmt.Errorf("interactive.type %q is not one the simulator serves (button, list)", str(in["type"]))
	}
	return nil
}

func str(v any) string { s, _ := v.(string); return s }

func length(field, s string, min, max int) error {
	n := utf8.RuneCountInString(s)
	if n < min || n > max {
		return fmt.Errorf("%s must have %d to %d characters, has %d", field, min, max, n)
	}
	return nil
}
