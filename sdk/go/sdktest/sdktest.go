// Package sdktest runs a Passerelle Go mini-app natively, without wasm,
// against an in-memory host, so app logic is unit-tested with plain `go test`.
//
// A Host delivers events to an *passerelle.App (Open, Message, Press,
// Consent, ...),
// answers its host calls and records what it sent, logged and called.
// chat.send, storage (kv.*, in memory), payments (pay.*: the test confirms
// or declines orders), timers (timer.*: the test fires them) and the
// consent rules (chat.notify and consent.request_*: the test accepts or
// declines the prompts, and plays STOP and START) and handoffs
// (chat.handoff: the person's messages are held until the test plays the
// hand-back, handoff.go) are built in; other operations answer unknown_op until a test serves them with
// Handle, which also replaces a built-in. Permissions, when set, are enforced
// like the platform does.
package sdktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// OpFunc serves one operation in tests. It returns the response (encoded as
// JSON) or an error: a *passerelle.Error gives its Status and Message to the
// app; any other error is reported as internal.
type OpFunc func(req []byte) (resp any, err error)

// LogLine is one line the app logged.
type LogLine struct {
	Level   passerelle.Level
	Message string
}

// Call is one host call the app made.
type Call struct {
	Op       string
	Request  string
	Status   passerelle.Status
	Response string
}

// Host is an in-memory host. Set the exported fields before the first event.
// A Host is safe for concurrent use.
type Host struct {
	// Event defaults: the app id, conversation, pseudonymous user and surface
	// put into every event that does not set its own.
	AppID, Conversation, User, Surface string
	// Permissions granted to the app, as a manifest names them ("chat",
	// "storage", ...). Nil grants everything.
	Permissions []string
	// WindowClosed: the person has not written to the business within the
	// service window, so chat.send answers window_closed and chat.notify
	// needs a purpose or template the person accepted (consent.go).
	WindowClosed bool

	app *passerelle.App

	mu      sync.Mutex
	ops     map[string]OpFunc
	kv      map[string]kvEntry
	timers  []Timer
	orders  []*passerelle.Order
	consent consentState
	handoff handoffState
	sent    []passerelle.Message
	logs    []LogLine
	calls   []Call
	seq     int
}

// New returns a Host running app.
func New(app *passerelle.App) *Host {
	return &Host{
		AppID:        "app",
		Conversation: "c1",
		User:         "u1",
		Surface:      "test",
		app:          app,
		ops:          map[string]OpFunc{},
	}
}

// Handle serves op with fn, replacing any built-in behaviour.
func (h *Host) Handle(op string, fn OpFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops[op] = fn
}

// Event delivers ev after filling empty V, ID, App, Conversation, User and
// Surface from the Host, and returns the handler's error.
func (h *Host) Event(ev passerelle.Event) error {
	h.mu.Lock()
	h.seq++
	if ev.V == 0 {
		ev.V = 1
	}
	if ev.ID == "" {
		ev.ID = "e" + strconv.Itoa(h.seq)
	}
	fill(&ev.App, h.AppID)
	fill(&ev.Conversation, h.Conversation)
	fill(&ev.User, h.User)
	fill(&ev.Surface, h.Surface)
	held := h.holds(ev)
	h.mu.Unlock()
	if held {
		return nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("sdktest: encode event: %w", err)
	}
	return h.app.Dispatch(h, b)
}

func fill(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

// Open delivers an open event.
func (h *Host) Open() error { return h.Event(passerelle.Event{Type: passerelle.EventOpen}) }

// Message delivers a message event carrying text.
func (h *Host) Message(text string) error {
	return h.Event(passerelle.Event{Type: passerelle.EventMessage, Text: text})
}

// Action delivers an action event.
func (h *Host) Action(a passerelle.Action) error {
	return h.Event(passerelle.Event{Type: passerelle.EventAction, Action: &a})
}

// Press presses the button with the given id on the most recent card that
// shows one, as a person would, and delivers the action event with the
// button's value. It fails if no card the app sent has that button.
func (h *Host) Press(buttonID string) error {
	h.mu.Lock()
	var found *passerelle.Button
	for i := len(h.sent) - 1; i >= 0 && found == nil; i-- {
		if c := h.sent[i].Card; c != nil {
			for j := range c.Buttons {
				if c.Buttons[j].ID == buttonID {
					found = &c.Buttons[j]
					break
				}
			}
		}
	}
	h.mu.Unlock()
	if found == nil {
		return fmt.Errorf("sdktest: no card the app sent has a button %q", buttonID)
	}
	return h.Action(passerelle.Action{ID: found.ID, Value: found.Value})
}

// Payment delivers a payment event.
func (h *Host) Payment(p passerelle.Payment) error {
	return h.Event(passerelle.Event{Type: passerelle.EventPayment, Payment: &p})
}

// Timer delivers a timer event.
func (h *Host) Timer(t passerelle.Timer) error {
	return h.Event(passerelle.Event{Type: passerelle.EventTimer, Timer: &t})
}

// Consent delivers a consent event: the person answered the consent prompt
// that a call of the app caused (in tests, an identity.profile served with
// Handle that failed with passerelle.StatusConsentRequired).
func (h *Host) Consent(c passerelle.Consent) error {
	return h.Event(passerelle.Event{Type: passerelle.EventConsent, Consent: &c})
}

// Status delivers a status event: one of the app's messages (st.Message,
// the id Send or Notify returned) reached st.State on st.Surface ("web"
// when empty).
func (h *Host) Status(st passerelle.MessageStatus) error {
	if st.Surface == "" {
		st.Surface = "web"
	}
	return h.Event(passerelle.Event{Type: passerelle.EventStatus, Status: &st})
}

// Sent returns the messages the app sent so far.
func (h *Host) Sent() []passerelle.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]passerelle.Message(nil), h.sent...)
}

// TakeSent returns the messages sent since the last TakeSent and forgets them.
func (h *Host) TakeSent() []passerelle.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sent
	h.sent = nil
	return s
}

// Logs returns the lines the app logged.
func (h *Host) Logs() []LogLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]LogLine(nil), h.logs...)
}

// Calls returns every host call the app made, in order.
func (h *Host) Calls() []Call {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Call(nil), h.calls...)
}

// Call implements passerelle.Host.
func (h *Host) Call(op string, req []byte) (passerelle.Status, []byte) {
	st, resp := h.serve(op, req)
	h.mu.Lock()
	h.calls = append(h.calls, Call{Op: op, Request: strings.TrimSpace(string(req)), Status: st, Response: string(resp)})
	h.mu.Unlock()
	return st, resp
}

// Log implements passerelle.Host.
func (h *Host) Log(level passerelle.Level, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, LogLine{Level: level, Message: msg})
}

// permissions maps each platform operation to the permission it needs.
var permissions = map[string]string{
	"chat.send": "chat", "chat.share": "chat", "chat.notify": "chat", "chat.handoff": "chat",
	"consent.request_optin": "chat", "consent.request_subscription": "chat",
	"kv.get": "storage", "kv.set": "storage", "kv.delete": "storage", "kv.list": "storage",
	"identity.profile": "identity.profile",
	"pay.request":      "pay", "pay.refund": "pay", "pay.status": "pay",
	"timer.after": "timer", "timer.cancel": "timer",
}

func (h *Host) serve(op string, req []byte) (passerelle.Status, []byte) {
	if !json.Valid(req) {
		return fail(passerelle.StatusBadRequest, "the request is not valid JSON")
	}
	if h.Permissions != nil {
		if p, ok := permissions[op]; ok && !h.granted(p) {
			return fail(passerelle.StatusPermissionDenied, fmt.Sprintf("%s needs the %q permission: add it to the manifest's permissions", op, p))
		}
	}
	h.mu.Lock()
	fn := h.ops[op]
	h.mu.Unlock()
	if fn == nil {
		switch op {
		case "chat.send":
			fn = h.chatSend
		case "chat.notify":
			fn = h.chatNotify
		case "chat.handoff":
			fn = h.chatHandoff
		case "consent.request_optin":
			fn = h.consentAsk(false)
		case "consent.request_subscription":
			fn = h.consentAsk(true)
		case "kv.get":
			fn = h.kvGet
		case "kv.set":
			fn = h.kvSet
		case "kv.delete":
			fn = h.kvDelete
		case "kv.list":
			fn = h.kvList
		case "timer.after":
			fn = h.timerAfter
		case "timer.cancel":
			fn = h.timerCancel
		case "pay.request":
			fn = h.payRequest
		case "pay.status":
			fn = h.payStatus
		case "pay.refund":
			fn = h.payRefund
		}
	}
	if fn == nil {
		return fail(passerelle.StatusUnknownOp, fmt.Sprintf("sdktest has no %s: serve it in the test with Host.Handle", op))
	}
	resp, err := fn(req)
	if err != nil {
		var pe *passerelle.Error
		if errors.As(err, &pe) && pe.Status != passerelle.StatusOK {
			return fail(pe.Status, pe.Message)
		}
		return fail(passerelle.StatusInternal, err.Error())
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return fail(passerelle.StatusInternal, "sdktest: encode response: "+err.Error())
	}
	return passerelle.StatusOK, b
}

func (h *Host) granted(p string) bool {
	for _, q := range h.Permissions {
		if q == p {
			return true
		}
	}
	return false
}

func fail(st passerelle.Status, msg string) (passerelle.Status, []byte) {
	b, _ := json.Marshal(struct {
		Status  passerelle.Status `json:"status"`
		Code    string            `json:"code"`
		Message string            `json:"message"`
	}{st, st.String(), msg})
	return st, b
}

// chatSend is the built-in chat.send: it checks the message has text or a
// card, records it and answers {"id":"m<n>"}.
func (h *Host) chatSend(req []byte) (any, error) {
	var m passerelle.Message
	if err := json.Unmarshal(req, &m); err != nil {
		return nil, &passerelle.Error{Status: passerelle.StatusBadRequest, Message: "the message is not a Message: " + err.Error()}
	}
	if m.Text == "" && m.Card == nil {
		return nil, &passerelle.Error{Status: passerelle.StatusBadRequest, Message: "the message is empty: set text or card"}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.consentCheck("", ""); err != nil {
		return nil, err
	}
	h.sent = append(h.sent, m)
	return map[string]string{"id": "m" + strconv.Itoa(len(h.sent))}, nil
}

// Render returns a plain-text rendering of m, the way a surface without cards
// shows it: the card's title and text, then one numbered line per button or
// list item.
func Render(m passerelle.Message) string {
	var b strings.Builder
	line := func(s string) {
		if s == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s)
	}
	line(m.Text)
	if c := m.Card; c != nil {
		if c.Title != "" {
			line("[" + c.Title + "]")
		}
		line(c.Text)
		if c.Image != "" {
			line("(image " + c.Image + ")")
		}
		for i, bt := range c.Buttons {
			line(fmt.Sprintf("%d. %s", i+1, bt.Title))
		}
		if c.List != nil {
			for i, it := range c.List.Items {
				s := fmt.Sprintf("%d. %s", i+1, it.Title)
				if it.Description != "" {
					s += ": " + it.Description
				}
				line(s)
			}
		}
		if c.Form != nil {
			for _, f := range c.Form.Fields {
				line("- " + f.Label)
			}
		}
	}
	return b.String()
}
