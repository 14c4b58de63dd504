package passerelle

import (
	"errors"
	"sync"
)

// Handler handles one event. c and ev are valid only until it returns.
type Handler func(c *Context, ev *Event) error

// Host is what a Context talks to outside the sandbox: an in-memory host such
// as sdktest's, or any harness running an App natively. Inside the sandbox the
// SDK calls the passerelle_v1 imports instead.
type Host interface {
	// Call performs the dotted operation op with the JSON request req and
	// returns the status and the response JSON (the error JSON
	// {"status":..,"code":..,"message":..} when status is not StatusOK).
	// req is only valid during the call.
	Call(op string, req []byte) (Status, []byte)
	// Log writes one line to the app log.
	Log(level Level, msg string)
}

// App routes events to handlers by type. Register handlers before the first
// event; an App is then safe for concurrent Dispatch.
type App struct {
	open, message, action, payment, timer, consent, optOut, optIn, other Handler
	contexts                                                             sync.Pool

	handoff, handback Handler
	status            Handler
}

// NewApp returns an App with no handlers.
func NewApp() *App {
	a := &App{}
	a.contexts.New = func() any { return newContext() }
	return a
}

// OnOpen sets the handler for "open" events and returns a.
func (a *App) OnOpen(h Handler) *App { a.open = h; return a }

// OnMessage sets the handler for "message" events and returns a.
func (a *App) OnMessage(h Handler) *App { a.message = h; return a }

// OnAction sets the handler for "action" events and returns a.
func (a *App) OnAction(h Handler) *App { a.action = h; return a }

// OnPayment sets the handler for "payment" events and returns a.
func (a *App) OnPayment(h Handler) *App { a.payment = h; return a }

// OnTimer sets the handler for "timer" events and returns a.
func (a *App) OnTimer(h Handler) *App { a.timer = h; return a }

// OnConsent sets the handler for "consent" events and returns a: the person
// answered the consent prompt a call of the app caused, or withdrew an
// opt-in in their consent screen (see Consent).
func (a *App) OnConsent(h Handler) *App { a.consent = h; return a }

// OnOptOut sets the handler for "optout" events and returns a: the person
// stopped the app's business (STOP to any of its apps, STOPALL, or in
// their consent screen), and
// nothing the app sends reaches them until an "optin" event.
func (a *App) OnOptOut(h Handler) *App { a.optOut = h; return a }

// OnOptIn sets the handler for "optin" events and returns a: the person
// started the app's business again (START). Earlier opt-ins and
// subscriptions stay spent: ask again.
func (a *App) OnOptIn(h Handler) *App { a.optIn = h; return a }

// OnHandoff sets the handler for "handoff" events and returns a: a member
// of the merchant's staff took the conversation the app handed off
// (Event.Handoff.Agent).
func (a *App) OnHandoff(h Handler) *App { a.handoff = h; return a }

// OnHandback sets the handler for "handback" events and returns a: the
// merchant's staff handed the conversation back, with a note
// (Event.Handoff.Note); the person's next messages reach the app again.
func (a *App) OnHandback(h Handler) *App { a.handback = h; return a }

// OnStatus sets the handler for "status" events and returns a: one of
// the app's messages was delivered, read or failed on the person's
// surface (Event.Status). The platform sends them only to apps whose
// manifest lists "status" in "events".
func (a *App) OnStatus(h Handler) *App { a.status = h; return a }

// OnOther sets the handler for event types without a handler of their own
// (including types added to the ABI later) and returns a.
func (a *App) OnOther(h Handler) *App { a.other = h; return a }

func (a *App) handler(typ string) Handler {
	var h Handler
	switch typ {
	case EventOpen:
		h = a.open
	case EventMessage:
		h = a.message
	case EventAction:
		h = a.action
	case EventPayment:
		h = a.payment
	case EventTimer:
		h = a.timer
	case EventConsent:
		h = a.consent
	case EventOptOut:
		h = a.optOut
	case EventOptIn:
		h = a.optIn
	case EventHandoff:
		h = a.handoff
	case EventHandback:
		h = a.handback
	case EventStatus:
		h = a.status
	}
	if h == nil {
		h = a.other
	}
	return h
}

// Dispatch decodes one event JSON document and runs its handler with host
// calls going to h. It returns the handler's error, or an error wrapping
// ErrBadEvent when the document cannot be decoded. An event with no handler
// returns nil.
func (a *App) Dispatch(h Host, event []byte) error {
	if h == nil {
		return errors.New("passerelle: Dispatch needs a Host; inside the sandbox events arrive through Serve")
	}
	return a.dispatch(h, event)
}

// dispatch runs one event with a pooled Context.
func (a *App) dispatch(h Host, event []byte) error {
	c := a.contexts.Get().(*Context)
	defer a.contexts.Put(c)
	return a.run(c, h, event)
}

// run runs one event on c; h is nil inside the sandbox, where event is
// arena memory the event's strings share. Outside, strings that repeat from
// the previous event on c (type, app, conversation, user, surface) are
// reused rather than allocated again.
func (a *App) run(c *Context, h Host, event []byte) error {
	c.host = h
	prev := c.ev
	c.ev = Event{}
	if err := decodeEvent(event, &c.ev, &prev, h == nil); err != nil {
		return err
	}
	handler := a.handler(c.ev.Type)
	if handler == nil {
		return nil
	}
	return handler(c, &c.ev)
}

func decodeEvent(b []byte, ev, prev *Event, shared bool) error {
	if len(b) == 0 {
		return &wrapError{"empty event", ErrBadEvent}
	}
	if err := decodeEventJSON(b, ev, prev, shared); err != nil {
		return &wrapError{err.Error(), ErrBadEvent}
	}
	if ev.Type == "" {
		return &wrapError{`no "type"`, ErrBadEvent}
	}
	return nil
}

// wrapError is a message followed by the error it wraps. The SDK uses it
// instead of fmt.Errorf so that a guest does not link fmt.
type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.err.Error() + ": " + e.msg }
func (e *wrapError) Unwrap() error { return e.err }
