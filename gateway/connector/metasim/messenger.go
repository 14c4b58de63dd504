package metasim

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Messenger Platform windows: a person's last message opens 24 hours for
// RESPONSE and UPDATE, and 7 days for the HUMAN_AGENT tag.
const (
	StandardWindow   = 24 * time.Hour
	HumanAgentWindow = 7 * 24 * time.Hour
)

// MessengerConfig is the Page (or Instagram account) the simulator plays.
type MessengerConfig struct {
	Instagram bool   // Instagram's limits (text of 1000 bytes, HUMAN_AGENT the only tag)
	Token     string // the Page access token it accepts
	// Windows, when set, refuses a send to a person outside the window
	// their last message (Inbound) opened, with code 10 and subcode
	// 2018278 as Meta does; a person who never wrote is outside.
	Windows bool
	// OnAccept, when set, is called with each message accepted, before
	// the answer is written.
	OnAccept func(MessengerSent)
	// OnSeen, when set, is called with the person's id when the business
	// marks their messages seen (sender_action mark_seen).
	OnSeen func(person string)
	Now    func() time.Time // time.Now if nil
}

// MessengerSent is a message the simulator accepted.
type MessengerSent struct {
	ID            string          // the mid it answered
	To            string          // recipient.id
	MessagingType string          // RESPONSE, UPDATE, MESSAGE_TAG
	Tag           string          // with MESSAGE_TAG
	Body          json.RawMessage // the request body as received
	Time          time.Time       // when it was accepted (Config.Now)
}

// Fault is an error the simulator answers a send with.
type Fault struct{ Code, Subcode int }

// MessengerServer plays the Messenger Platform's Send API (POST
// /{version}/me/messages, or /{version}/{page-id}/messages); it is an
// http.Handler and safe for concurrent use.
type MessengerServer struct {
	cfg MessengerConfig

	mu      sync.Mutex
	sent    []MessengerSent
	fails   []Fault
	inbound map[string]time.Time
	tokens  map[string]*nmToken // notification messages tokens
	run     string
	seq     int
}

// nmToken is a person's opt-in to a topic's notification messages.
type nmToken struct {
	person  string
	optin   Optin
	stopped bool
}

// Notification messages tokens last by the frequency the person chose
// (Meta: 6 months for daily, 9 for weekly, 12 for monthly or none).
func tokenLife(frequency string) time.Duration {
	switch frequency {
	case "DAILY":
		return 183 * 24 * time.Hour
	case "WEEKLY":
		return 274 * 24 * time.Hour
	}
	return 365 * 24 * time.Hour
}

// NewMessenger returns a Messenger Platform simulator for cfg.
func NewMessenger(cfg MessengerConfig) *MessengerServer {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MessengerServer{cfg: cfg, inbound: map[string]time.Time{}, tokens: map[string]*nmToken{}, run: runID()}
}

// OptIn is the person tapping the button of an opt-in request for the
// topic title (with its payload and frequency): Meta mints a
// notification messages token, valid for the frequency's time, and
// reports it in the messaging_optins webhook (MessengerEntry with
// MsgrEvent.Optin). Opting in does not open the 24-hour window.
func (s *MessengerServer) OptIn(person, title, payload, frequency string) Optin {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	now := s.cfg.Now()
	o := Optin{Token: fmt.Sprintf("nmt_sim%s%d_%s", s.run, s.seq, person), Title: title, Payload: payload, Frequency: frequency,
		Timezone: "UTC", Expiry: now.Add(tokenLife(frequency)), TokenStatus: "NOT_REFRESHED"}
	s.tokens[o.Token] = &nmToken{person: person, optin: o}
	return o
}

// Notifications is the person stopping (stop) or resuming the
// notification messages of the token's topic, as Messenger lets them on
// such a message: it returns the opt-in with its status, for the
// webhook. A stopped token is refused (10/1893015) until resumed.
func (s *MessengerServer) Notifications(token string, stop bool) (Optin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[token]
	if !ok {
		return Optin{}, fmt.Errorf("metasim: no notification messages token %q", token)
	}
	t.stopped = stop
	o := t.optin
	o.Status = "RESUME NOTIFICATIONS"
	if stop {
		o.Status = "STOP NOTIFICATIONS"
	}
	return o, nil
}

// Tokens returns the notification messages opt-ins of person, in the
// order given, with Status "STOP NOTIFICATIONS" for a stopped one.
func (s *MessengerServer) Tokens(person string) []Optin {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Optin
	for _, t := range s.tokens {
		if t.person == person {
			o := t.optin
			if t.stopped {
				o.Status = "STOP NOTIFICATIONS"
			}
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Token < out[j].Token })
	return out
}

// FailNext makes the next len(faults) sends fail with these codes, in
// order, in Meta's error shape (after the request is checked).
func (s *MessengerServer) FailNext(faults ...Fault) {
	s.mu.Lock()
	s.fails = append(s.fails, faults...)
	s.mu.Unlock()
}

// Inbound records that person wrote at t: it opens the windows.
func (s *MessengerServer) Inbound(person string, t time.Time) {
	s.mu.Lock()
	s.inbound[person] = t
	s.mu.Unlock()
}

// Sent returns the messages accepted so far.
func (s *MessengerServer) Sent() []MessengerSent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]MessengerSent(nil), s.sent...)
}

var messengerPathRE = regexp.MustCompile(`^/v[0-9]+\.[0-9]+/[^/]+/messages$`)

// graphFaults are Meta's answers to the codes tests inject most.
var graphFaults = map[Fault]refusal{
	{613, 0}:       {400, "(#613) Calls to this api have exceeded the rate limit.", ""},
	{4, 0}:         {400, "(#4) Application request limit reached", ""},
	{32, 0}:        {400, "(#32) Page request limit reached", ""},
	{2, 0}:         {500, "An unexpected error has occurred. Please retry your request later.", ""},
	{10, 2018278}:  {400, "(#10) This message is sent outside of allowed window.", ""},
	{551, 1545041}: {400, "(#551) This person isn't available right now.", ""},
	{190, 0}:       {401, "Invalid OAuth access token.", ""},
	{100, 2018001}: {400, "(#100) No matching user found", ""},
	{1200, 0}:      {500, "(#1200) Temporary send message failure. Please try again later", ""},
	{368, 1390008}: {400, "(#368) You are temporarily blocked from sending messages.", ""},
	{1, 0}:         {500, "An unknown error occurred", ""},
	{102, 0}:       {401, "Session key invalid or no longer valid", ""},
	{80006, 0}:     {400, "(#80006) There have been too many messages sent to this Messenger user. Please wait a while before sending another message.", ""},
	{10, 2018065}:  {400, "(#10) This message is sent outside of allowed window. You need page_messaging_subscriptions permission to be able to do it.", ""},
	{200, 1545041}: {403, "(#200) This person isn't available right now.", ""},
	{551, 0}:       {400, "(#551) This person isn't receiving messages from you right now.", ""},
	{10, 2018108}:  {400, "(#10) They can't receive your messages right now.", ""},
	{100, 2534014}: {400, "(#100) No matching Instagram user", ""},
	{10, 1893015}:  {400, "(#10) This user has currently stopped notification messages for this topic", ""},
}

// MessengerCodes returns the codes and subcodes the Messenger simulator
// answers with Meta's own message (FailNext takes any).
func MessengerCodes() []ErrorCode {
	var out []ErrorCode
	for f, r := range graphFaults {
		out = append(out, ErrorCode{Code: f.Code, Subcode: f.Subcode, Status: r.status, Message: r.message})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Code < out[j].Code || out[i].Code == out[j].Code && out[i].Subcode < out[j].Subcode
	})
	return out
}

// ServeHTTP serves the Send API.
func (s *MessengerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !messengerPathRE.MatchString(r.URL.Path) {
		graphError(w, 400, Fault{Code: 100}, "Unknown path components: "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		graphError(w, 400, Fault{Code: 100}, "Unsupported get request.")
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		tok = r.URL.Query().Get("access_token")
	}
	if tok == "" {
		graphError(w, 400, Fault{Code: 2500}, "An active access token must be used to query information about the current user.")
		return
	}
	if !hmac.Equal([]byte(tok), []byte(s.cfg.Token)) {
		graphError(w, 401, Fault{Code: 190}, "Invalid OAuth access token - Cannot parse access token")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		graphError(w, 400, Fault{Code: 100}, "Invalid parameter: "+err.Error())
		return
	}
	var req map[string]any
	if err := json.Unmarshal(raw, &req); err != nil {
		graphError(w, 400, Fault{Code: 100}, "(#100) Invalid parameter: the body is not a JSON object: "+err.Error())
		return
	}
	if act, ok := req["sender_action"]; ok {
		s.senderAction(w, req, str(act))
		return
	}
	to, typ, tag, err := s.check(req)
	if err != nil {
		graphError(w, 400, Fault{Code: 100}, "(#100) "+err.Error())
		return
	}
	sent, f, why := s.accept(raw, to, typ, tag)
	if f != (Fault{}) {
		rf, ok := graphFaults[f]
		if !ok {
			rf = refusal{400, fmt.Sprintf("(#%d) Simulated error", f.Code), ""}
		}
		if why != "" {
			rf.message = why
		}
		graphError(w, rf.status, f, rf.message)
		return
	}
	if s.cfg.OnAccept != nil {
		s.cfg.OnAccept(sent)
	}
	id := sent.ID
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"recipient_id": sent.To, "message_id": id})
}

// senderAction answers a sender action: {"recipient": {"id"},
// "sender_action": "mark_seen" | "typing_on" | "typing_off"}, which
// carries no message.
func (s *MessengerServer) senderAction(w http.ResponseWriter, req map[string]any, act string) {
	rc, _ := req["recipient"].(map[string]any)
	to := str(rc["id"])
	switch {
	case to == "":
		graphError(w, 400, Fault{Code: 100}, "(#100) recipient.id is required")
		return
	case act != "mark_seen" && act != "typing_on" && act != "typing_off":
		graphError(w, 400, Fault{Code: 100}, fmt.Sprintf("(#100) sender_action %q must be mark_seen, typing_on or typing_off", act))
		return
	case req["message"] != nil:
		graphError(w, 400, Fault{Code: 100}, "(#100) a sender action is sent without a message")
		return
	}
	if act == "mark_seen" && s.cfg.OnSeen != nil {
		s.cfg.OnSeen(to)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"recipient_id": to})
}

// tokenPrefix marks a recipient given as a notification messages token
// (check returns it so; accept resolves it to the person).
const tokenPrefix = "\x00token:"

// accept applies the injected faults, the windows and the notification
// messages tokens, and records the message, or returns the fault to
// answer with (and Meta's message when the fault's own is not it).
func (s *MessengerServer) accept(raw []byte, to, typ, tag string) (MessengerSent, Fault, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fails) > 0 {
		f := s.fails[0]
		s.fails = s.fails[1:]
		return MessengerSent{}, f, ""
	}
	now := s.cfg.Now()
	if tok, ok := strings.CutPrefix(to, tokenPrefix); ok {
		t := s.tokens[tok]
		switch {
		case t == nil:
			return MessengerSent{}, Fault{Code: 100}, "(#100) notification_messages_token is invalid"
		case !now.Before(t.optin.Expiry):
			return MessengerSent{}, Fault{Code: 100}, "(#100) notification_messages_token has expired"
		case t.stopped:
			return MessengerSent{}, Fault{10, 1893015}, ""
		}
		to = t.person // a message of the topic the person opted in to: no window
	} else if s.cfg.Windows {
		window := StandardWindow
		if tag == "HUMAN_AGENT" {
			window = HumanAgentWindow
		}
		if t, ok := s.inbound[to]; typ != "MESSAGE_TAG" || tag == "HUMAN_AGENT" {
			if !ok || now.Sub(t) > window {
				return MessengerSent{}, Fault{10, 2018278}, ""
			}
		}
	}
	s.seq++
	id := fmt.Sprintf("m_sim%s%d_%s", s.run, s.seq, to)
	sent := MessengerSent{ID: id, To: to, MessagingType: typ, Tag: tag, Body: raw, Time: now}
	s.sent = append(s.sent, sent)
	return sent, Fault{}, ""
}

func graphError(w http.ResponseWriter, status int, f Fault, message string) {
	e := map[string]any{"message": message, "type": "OAuthException", "code": f.Code, "fbtrace_id": fmt.Sprintf("Asim%d", f.Code)}
	if f.Subcode != 0 {
		e["error_subcode"] = f.Subcode
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": e})
}

// Messenger Platform limits, from the Send API, quick replies and generic
// template references.
const (
	msgrMaxText        = 2000
	igMaxTextBytes     = 1000
	msgrMaxQuick       = 13
	msgrMaxQuickTitle  = 20
	msgrMaxElements    = 10
	msgrMaxElemTitle   = 80
	msgrMaxElemSub     = 80
	msgrMaxButtons     = 3
	msgrMaxButtonTitle = 20
)

// check validates a Send API body as Meta documents it.
func (s *MessengerServer) check(req map[string]any) (to, typ, tag string, err error) {
	rc, _ := req["recipient"].(map[string]any)
	to = str(rc["id"])
	token := str(rc["notification_messages_token"])
	switch {
	case to != "" && token != "":
		return "", "", "", fmt.Errorf("recipient takes one of id and notification_messages_token")
	case to == "" && token == "":
		return "", "", "", fmt.Errorf("recipient.id is required")
	}
	typ, tag = str(req["messaging_type"]), str(req["tag"])
	if token != "" {
		to = tokenPrefix + token
		if typ == "" && tag == "" {
			typ = "UPDATE" // a notification message needs no messaging_type
		}
	}
	switch typ {
	case "RESPONSE", "UPDATE":
		if tag != "" {
			return "", "", "", fmt.Errorf("tag is only allowed with messaging_type MESSAGE_TAG")
		}
	case "MESSAGE_TAG":
		ok := tag == "HUMAN_AGENT" || !s.cfg.Instagram && (tag == "CONFIRMED_EVENT_UPDATE" || tag == "POST_PURCHASE_UPDATE" || tag == "ACCOUNT_UPDATE")
		if !ok {
			return "", "", "", fmt.Errorf("tag %q is not valid for messaging_type MESSAGE_TAG", tag)
		}
	default:
		return "", "", "", fmt.Errorf("messaging_type must be RESPONSE, UPDATE or MESSAGE_TAG, is %q", typ)
	}
	msg, _ := req["message"].(map[string]any)
	if msg == nil {
		return "", "", "", fmt.Errorf("message is required")
	}
	text, hasText := msg["text"]
	att, hasAtt := msg["attachment"].(map[string]any)
	switch {
	case hasText == hasAtt:
		return "", "", "", fmt.Errorf("message must have exactly one of text and attachment")
	case hasText && s.cfg.Instagram:
		if n := len(str(text)); n == 0 || n > igMaxTextBytes {
			return "", "", "", fmt.Errorf("message.text must have 1 to %d bytes on Instagram, has %d", igMaxTextBytes, n)
		}
	case hasText:
		if err := length("message.text", str(text), 1, msgrMaxText); err != nil {
			return "", "", "", err
		}
	default:
		if err := checkTemplate(att); err != nil {
			return "", "", "", err
		}
		if p, _ := att["payload"].(map[string]any); str(p["template_type"]) == "notification_messages" && token != "" {
			return "", "", "", fmt.Errorf("an opt-in request goes to the person's id, not to a notification messages token")
		}
	}
	if q, ok := msg["quick_replies"]; ok {
		qs, _ := q.([]any)
		if len(qs) < 1 || len(qs) > msgrMaxQuick {
			return "", "", "", fmt.Errorf("message.quick_replies must have 1 to %d items, has %d", msgrMaxQuick, len(qs))
		}
		for i, x := range qs {
			qr, _ := x.(map[string]any)
			if str(qr["content_type"]) != "text" {
				continue // user_phone_number, user_email carry no title
			}
			if err := length(fmt.Sprintf("quick_replies[%d].title", i), str(qr["title"]), 1, msgrMaxQuickTitle); err != nil {
				return "", "", "", err
			}
			if str(qr["payload"]) == "" {
				return "", "", "", fmt.Errorf("quick_replies[%d].payload is required for a text quick reply", i)
			}
		}
	}
	return to, typ, tag, nil
}

func checkTemplate(att map[string]any) error {
	if str(att["type"]) != "template" {
		return fmt.Errorf("message.attachment.type %q is not one the simulator serves (template)", str(att["type"]))
	}
	p, _ := att["payload"].(map[string]any)
	if str(p["template_type"]) == "notification_messages" {
		return checkOptinRequest(p)
	}
	if str(p["template_type"]) != "generic" {
		return fmt.Errorf("template_type %q is not one the simulator serves (generic, notification_messages)", str(p["template_type"]))
	}
	els, _ := p["elements"].([]any)
	if len(els) < 1 || len(els) > msgrMaxElements {
		return fmt.Errorf("elements must have 1 to %d items, has %d", msgrMaxElements, len(els))
	}
	for i, x := range els {
		el, _ := x.(map[string]any)
		if err := length(fmt.Sprintf("elements[%d].title", i), str(el["title"]), 1, msgrMaxElemTitle); err != nil {
			return err
		}
		if err := length(fmt.Sprintf("elements[%d].subtitle", i), str(el["subtitle"]), 0, msgrMaxElemSub); err != nil {
			return err
		}
		bs, _ := el["buttons"].([]any)
		if len(bs) > msgrMaxButtons {
			return fmt.Errorf("elements[%d].buttons must have at most %d items, has %d", i, msgrMaxButtons, len(bs))
		}
		for j, y := range bs {
			b, _ := y.(map[string]any)
			if err := length(fmt.Sprintf("elements[%d].buttons[%d].title", i, j), str(b["title"]), 1, msgrMaxButtonTitle); err != nil {
				return err
			}
			switch str(b["type"]) {
			case "postback":
				if str(b["payload"]) == "" {
					return fmt.Errorf("elements[%d].buttons[%d].payload is required for a postback button", i, j)
				}
			case "web_url":
				if str(b["url"]) == "" {
					return fmt.Errorf("elements[%d].buttons[%d].url is required for a web_url button", i, j)
				}
			default:
				return fmt.Errorf("elements[%d].buttons[%d].type %q is not one the simulator serves (postback, web_url)", i, j, str(b["type"]))
			}
		}
	}
	return nil
}

// checkOptinRequest checks the payload of an opt-in request for
// notification messages (template_type notification_messages): a title
// of at most 65 characters, and the optional fields within their values.
func checkOptinRequest(p map[string]any) error {
	if err := length("payload.title", str(p["title"]), 1, 65); err != nil {
		return err
	}
	if err := length("payload.payload", str(p["payload"]), 0, 1000); err != nil {
		return err
	}
	if f, ok := p["notification_messages_frequency"]; ok && str(f) != "DAILY" && str(f) != "WEEKLY" && str(f) != "MONTHLY" {
		return fmt.Errorf("notification_messages_frequency %q must be DAILY, WEEKLY or MONTHLY", str(f))
	}
	if c, ok := p["notification_messages_cta_text"]; ok {
		switch str(c) {
		case "ALLOW", "FREQUENCY", "GET", "OPT_IN", "SIGN_UP":
		default:
			return fmt.Errorf("notification_messages_cta_text %q must be ALLOW, FREQUENCY, GET, OPT_IN or SIGN_UP", str(c))
		}
	}
	return nil
}
