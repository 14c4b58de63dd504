package metasim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Config is the business number the simulator plays.
type Config struct {
	PhoneNumberID string // the id in the endpoint's path
	Token         string // the access token it accepts
	// WABAID is the WhatsApp Business Account's id: the node of the
	// message_templates endpoint (which is not served when it is empty).
	WABAID string
	// PairInterval, when set, refuses a message to a person sooner than
	// this after the previous one with 131056 (Meta documents about one
	// message every 6 seconds per business and person).
	PairInterval time.Duration
	// Throughput refuses a send with 130429 when the number already took
	// this many in the last second (DefaultThroughput if 0; none if < 0).
	Throughput int
	// Windows fails a message other than a template to a person whose
	// last message (Inbound) is more than 24 hours old, or who never
	// wrote, as Meta does: the send is accepted with a wamid, and the
	// message's status is failed with 131047 (Sent.Fail; Sim posts it).
	// FailNext(131047) gives the refusal in the send's answer instead.
	Windows bool
	// Templates refuses a template that was not registered (132001) or
	// whose body parameters do not fit it (132000).
	Templates bool
	// OnAccept, when set, is called with each message accepted, before
	// the answer is written.
	OnAccept func(Sent)
	// OnRead, when set, is called with the wamid of each person's message
	// the business marks as read.
	OnRead func(wamid string)
	Now    func() time.Time // time.Now if nil
}

// DefaultThroughput is the messages per second a business number takes
// before Meta answers 130429 (Cloud API's default throughput).
const DefaultThroughput = 80

// ServiceWindow is the customer service window a person's message opens
// on WhatsApp: outside it only a template may be sent.
const ServiceWindow = 24 * time.Hour

// Sent is a message the simulator accepted.
type Sent struct {
	ID   string          // the wamid it answered
	To   string          // the "to" of the request
	Type string          // text, interactive, template
	Body json.RawMessage // the request body as received
	Time time.Time       // when it was accepted (Config.Now)
	// Fail is the code of the failed status Meta reports for the message
	// after accepting it (131047: free-form outside the window), 0 when
	// it goes.
	Fail int
}

// Server is the simulator; it is an http.Handler (serve it with
// httptest.NewServer or any http.Server). It is safe for concurrent use.
type Server struct {
	cfg Config

	mu      sync.Mutex
	sent    []Sent
	fails   []int // codes to answer the next sends with, in order
	last    map[string]time.Time
	inbound map[string]time.Time
	recent  []time.Time // accepted sends of the last second
	tmpl    map[tmplKey]Template
	run     string // distinguishes the ids of this run from an earlier one's
	seq     int
}

// New returns a simulator for cfg.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Throughput == 0 {
		cfg.Throughput = DefaultThroughput
	}
	return &Server{cfg: cfg, last: map[string]time.Time{}, inbound: map[string]time.Time{}, tmpl: map[tmplKey]Template{}, run: runID()}
}

// Inbound records that the person with wa_id wrote at t: it opens the
// customer service window.
func (s *Server) Inbound(waID string, t time.Time) {
	s.mu.Lock()
	if t.After(s.inbound[waID]) {
		s.inbound[waID] = t
	}
	s.mu.Unlock()
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

var pathRE = regexp.MustCompile(`^/(v[0-9]+\.[0-9]+)/([^/]+)/(messages|message_templates)$`)

// ServeHTTP serves POST /{version}/{phone-number-id}/messages, and POST
// and GET /{version}/{waba-id}/message_templates when Config.WABAID is
// set.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := pathRE.FindStringSubmatch(r.URL.Path)
	if m != nil && m[3] == "message_templates" && s.cfg.WABAID != "" {
		s.serveTemplates(w, r, m[2])
		return
	}
	if m == nil || m[3] != "messages" {
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
	if _, ok := req["status"]; ok {
		s.markRead(w, req)
		return
	}
	to, typ, err := check(req)
	if err != nil {
		writeError(w, 400, 131009, "(#131009) Parameter value is not valid", err.Error())
		return
	}
	sent, f := s.accept(req, raw, to, typ)
	if f != nil {
		refuseWith(w, f.code, f.details)
		return
	}
	if s.cfg.OnAccept != nil {
		s.cfg.OnAccept(sent)
	}
	id := sent.ID
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []any{map[string]any{"input": to, "wa_id": strings.TrimPrefix(to, "+")}},
		"messages":          []any{map[string]any{"id": id}},
	})
}

// markRead answers a request marking a person's message as read
// ({"messaging_product": "whatsapp", "status": "read", "message_id"},
// optionally with "typing_indicator": {"type": "text"}).
func (s *Server) markRead(w http.ResponseWriter, req map[string]any) {
	id := str(req["message_id"])
	switch {
	case str(req["messaging_product"]) != "whatsapp":
		writeError(w, 400, 131009, "(#131009) Parameter value is not valid", "messaging_product is required and must be \"whatsapp\"")
		return
	case str(req["status"]) != "read":
		writeError(w, 400, 131009, "(#131009) Parameter value is not valid", "status must be read")
		return
	case !strings.HasPrefix(id, "wamid."):
		writeError(w, 400, 100, "(#100) Invalid parameter", "message_id must be the wamid of a message the person sent")
		return
	}
	if ti, ok := req["typing_indicator"]; ok {
		if m, _ := ti.(map[string]any); str(m["type"]) != "text" {
			writeError(w, 400, 131009, "(#131009) Parameter value is not valid", "typing_indicator.type must be text")
			return
		}
	}
	if s.cfg.OnRead != nil {
		s.cfg.OnRead(id)
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"success":true}`+"\n")
}

// failure is a refusal: its code, and details when the code's own do
// not say enough.
type failure struct {
	code    int
	details string
}

// accept applies the limits that depend on the number's state, in the
// order Meta meets them, and records the message, or returns the refusal.
func (s *Server) accept(req map[string]any, raw []byte, to, typ string) (Sent, *failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fails) > 0 {
		code := s.fails[0]
		s.fails = s.fails[1:]
		return Sent{}, &failure{code, ""}
	}
	now := s.cfg.Now()
	if s.cfg.Throughput > 0 {
		keep := s.recent[:0]
		for _, t := range s.recent {
			if now.Sub(t) < time.Second {
				keep = append(keep, t)
			}
		}
		s.recent = keep
		if len(s.recent) >= s.cfg.Throughput {
			return Sent{}, &failure{130429, fmt.Sprintf("This number takes %d messages per second; send more slowly.", s.cfg.Throughput)}
		}
	}
	if typ == "template" && s.cfg.Templates {
		if f := s.checkTemplateSend(req); f != nil {
			return Sent{}, f
		}
	}
	fail := 0
	if typ != "template" && s.cfg.Windows {
		if t, ok := s.inbound[strings.TrimPrefix(to, "+")]; !ok || now.Sub(t) > ServiceWindow {
			fail = 131047 // accepted; the status says it failed
		}
	}
	if s.cfg.PairInterval > 0 {
		if t, ok := s.last[to]; ok && now.Sub(t) < s.cfg.PairInterval {
			return Sent{}, &failure{131056, ""}
		}
		s.last[to] = now
	}
	if s.cfg.Throughput > 0 {
		s.recent = append(s.recent, now)
	}
	s.seq++
	id := "wamid." + base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "sim-%s-%s-%d", s.cfg.PhoneNumberID, s.run, s.seq))
	sent := Sent{ID: id, To: to, Type: typ, Body: raw, Time: now, Fail: fail}
	s.sent = append(s.sent, sent)
	return sent, nil
}

// refusal is how Meta answers a code.
type refusal struct {
	status           int
	message, details string
}

// refusals are Meta's answers to the WhatsApp Cloud API error codes
// (error codes reference); another code gets a generic message with HTTP
// 400.
var refusals = map[int]refusal{
	0:      {401, "(#0) AuthException", "We were unable to authenticate the app user."},
	4:      {400, "(#4) Application request limit reached", "Too many API calls from this app."},
	10:     {403, "(#10) Application does not have permission for this action", "Permission is either not granted or has been removed."},
	100:    {400, "(#100) Invalid parameter", "The request included one or more unsupported or misspelled parameters."},
	190:    {401, "Error validating access token: Session has expired.", ""},
	368:    {400, "(#368) Temporarily blocked for policies violations", "The WhatsApp Business Account is restricted or disabled on the platform for violating a platform policy."},
	80007:  {400, "(#80007) Rate limit issues", "The WhatsApp Business Account has reached its rate limit."},
	130429: {429, "(#130429) Rate limit hit", "Cloud API message throughput has been reached."},
	130472: {400, "(#130472) User's number is part of an experiment", "Failed to send message because this user's phone number is part of an experiment."},
	130497: {400, "(#130497) Business account is restricted from messaging users in this country", ""},
	131000: {500, "(#131000) Something went wrong", "Message failed to send due to an unknown error."},
	131008: {400, "(#131008) Required parameter is missing", "The request is missing a required parameter."},
	131016: {503, "(#131016) Service unavailable", "A service is temporarily unavailable."},
	131021: {400, "(#131021) Recipient cannot be sender", "Sender and recipient phone number is the same."},
	131026: {400, "(#131026) Message undeliverable", "Unable to deliver message."},
	131031: {400, "(#131031) Account has been locked", "The WhatsApp Business Account associated with the app has been restricted or disabled."},
	131042: {400, "(#131042) Business eligibility payment issue", "There was an error related to your payment method."},
	131045: {400, "(#131045) Incorrect certificate", "Message failed to send due to a phone number registration error."},
	131047: {400, "(#131047) Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
	131048: {400, "(#131048) Spam rate limit hit", "Message failed to send because there are restrictions on how many messages can be sent from this phone number."},
	131049: {400, "(#131049) This message was not delivered to maintain healthy ecosystem engagement.", ""},
	131050: {400, "(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.", ""},
	131051: {400, "(#131051) Unsupported message type", "Unsupported message type."},
	131056: {429, "(#131056) (Business Account, Consumer Account) pair rate limit hit", "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time."},
	132000: {400, "(#132000) Number of parameters does not match the expected number of params", "The number of variable parameter values included in the request did not match the number of variable parameters defined in the template."},
	132001: {404, "(#132001) Template name does not exist in the translation", "template name does not exist in the language"},
	132005: {400, "(#132005) Translated text too long", "Translated text is too long."},
	132007: {400, "(#132007) Template Format Character Policy Violated", "Template content violates a WhatsApp policy."},
	132012: {400, "(#132012) Parameter format does not match format in the created template", ""},
	132015: {400, "(#132015) Template is Paused", "Template is paused due to low quality so it cannot be sent in a template message."},
	132016: {400, "(#132016) Template is Disabled", "Template has been paused too many times due to low quality and is now permanently disabled."},
	133004: {503, "(#133004) Server temporarily unavailable", "Indicates that the server is temporarily unavailable."},
}

// ErrorCode is an error the simulator answers a send with: Meta's code,
// subcode (Messenger), the HTTP status and the message.
type ErrorCode struct {
	Code, Subcode, Status int
	Message               string
}

// WhatsAppCodes returns the codes the WhatsApp simulator answers with
// Meta's own message (FailNext takes any code).
func WhatsAppCodes() []ErrorCode {
	var out []ErrorCode
	for c, r := range refusals {
		out = append(out, ErrorCode{Code: c, Status: r.status, Message: r.message})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// refuseWith answers with code as Meta does; details, when given,
// replace the code's own.
func refuseWith(w http.ResponseWriter, code int, details string) {
	r, ok := refusals[code]
	if !ok {
		r = refusal{400, fmt.Sprintf("(#%d) Simulated error", code), ""}
	}
	if details != "" {
		r.details = details
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

// runID returns a few random characters: the ids a simulator makes
// carry them, so that a restarted simulator does not repeat ids a
// gateway's durable dedupe store still remembers.
func runID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hmacEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }
