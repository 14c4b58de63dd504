package host

import (
	"encoding/json"

	"go.etcd.io/bbolt"
)

// AppEvent is an event for an app, as the gateway and the host services
// hand it to the runtime: whose (Person, the platform id, which never
// reaches the guest), where, what (Event: its Type and fields; the runtime
// fills the version, id, app, pseudonymous user, conversation and surface)
// and where what the app sends in answer goes (Out).
type AppEvent struct {
	Person       string
	Conversation string
	Surface      string
	Event        Event
	Out          Outbox // nil: the runtime's default (runtime/apps Config.Outbox)
	// Consume, when not nil, marks the event consumed in the store; the
	// runtime calls it inside the transaction that commits the event's
	// effects (Tx), so that a durable event is delivered again until its
	// effects are committed, and never after. Nil: the event is not kept
	// anywhere (a test's, the dev tool's).
	Consume func(tx *bbolt.Tx) error
}

// AppInfo is one app people can open, as a catalog lists it.
type AppInfo struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Event types a guest receives.
const (
	EventOpen    = "open"    // the person opened the app in a conversation
	EventMessage = "message" // the person sent text
	EventAction  = "action"  // the person pressed a button or picked a list item or submitted a form
	EventPayment = "payment" // an order the app requested reached a final state
	EventTimer   = "timer"   // a timer the app set fired
	EventConsent = "consent" // the person answered a consent prompt the app caused
	EventOptOut  = "optout"  // the person stopped the app's business (STOP, STOPALL): send nothing more
	EventOptIn   = "optin"   // the person started the app's business again (START) after a STOP
	// EventHandoff: a member of the merchant's staff took the
	// conversation the app handed off (chat.handoff); the person's
	// messages go to them, not to the app, until the hand-back.
	EventHandoff = "handoff"
	// EventHandback: the merchant's staff handed the conversation back to
	// the app, with a note; the person's next messages reach the app again.
	EventHandback = "handback"
	// EventStatus: a message the app sent reached a new state on the
	// person's surface (delivered, read, failed). Opt-in: only apps whose
	// manifest lists "status" in "events" receive it.
	EventStatus = "status"
)

// Event is the JSON document a guest reads with event_read. User is the
// per-app pseudonymous id of the person, never the platform id.
type Event struct {
	V            int           `json:"v"` // payload version, 1
	Type         string        `json:"type"`
	ID           string        `json:"id"`
	App          string        `json:"app"`
	Conversation string        `json:"conversation,omitempty"`
	User         string        `json:"user,omitempty"`
	Surface      string        `json:"surface,omitempty"`
	Text         string        `json:"text,omitempty"`    // message
	Action       *Action       `json:"action,omitempty"`  // action
	Payment      *PaymentEvent `json:"payment,omitempty"` // payment
	Timer        *TimerEvent   `json:"timer,omitempty"`   // timer
	Consent      *ConsentEvent `json:"consent,omitempty"` // consent
	Handoff      *HandoffEvent `json:"handoff,omitempty"` // handoff, handback
	Status       *StatusEvent  `json:"status,omitempty"`  // status
}

// Message states a status event reports. States only move forward: sent
// (the surface took the message), delivered (a device of the person has
// it), read (the person saw it; implies delivered), failed (final: it
// will not reach them).
const (
	StateSent      = "sent"
	StateDelivered = "delivered"
	StateRead      = "read"
	StateFailed    = "failed"
)

// StatusEvent tells the app that one of its messages (chat.send,
// chat.notify, chat.share, a broadcast) reached State on Surface. Code
// and NetworkCode say why it failed: Code is the stable code the app's
// log uses (window_closed, opted_out, undeliverable, ...), NetworkCode the
// network's own number (WhatsApp's 131047, ...) when it gave one.
type StatusEvent struct {
	Message     string `json:"message"` // the id chat.send or chat.notify answered (msg_...)
	State       string `json:"state"`   // delivered, read or failed
	Code        string `json:"code,omitempty"`
	NetworkCode int    `json:"network_code,omitempty"`
	Surface     string `json:"surface"` // whatsapp, messenger, instagram, web
}

// HandoffEvent tells the app what became of a conversation it handed to
// the merchant's staff with chat.handoff: taken by an agent (a handoff
// event) or handed back (a handback event, with the agent's note).
type HandoffEvent struct {
	ID     string `json:"id"`              // the handoff, as chat.handoff answered it
	Status string `json:"status"`          // taken or returned
	Agent  string `json:"agent,omitempty"` // the display name of the staff member
	Note   string `json:"note,omitempty"`  // handback: what the agent tells the app
}

// Action is a button press, a list choice or a form submission.
type Action struct {
	ID     string            `json:"id"`               // the button, list item or form id the app chose
	Value  string            `json:"value,omitempty"`  // optional value the app attached to the button
	Fields map[string]string `json:"fields,omitempty"` // form fields
}

// PaymentEvent tells the app how an order it requested ended.
type PaymentEvent struct {
	Order          string `json:"order"`
	Status         string `json:"status"` // paid, declined, expired, refunded, partially_refunded
	Amount         int64  `json:"amount"` // minor units
	Currency       string `json:"currency"`
	Refunded       int64  `json:"refunded,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	Reason         string `json:"reason,omitempty"` // why it was declined
}

// TimerEvent carries the payload the app gave timer.after.
type TimerEvent struct {
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// ConsentEvent tells the app how the person answered a consent prompt
// that one of its calls caused. For identity.profile, Scopes are the
// permission names the prompt asked for ("identity.profile",
// "identity.phone"); for consent.request_optin, Purpose is the purpose
// asked for; for consent.request_subscription, Template the template.
// Granted is false when the person refused.
type ConsentEvent struct {
	Prompt   string   `json:"prompt"`
	Scopes   []string `json:"scopes,omitempty"`
	Purpose  string   `json:"purpose,omitempty"`
	Template string   `json:"template,omitempty"`
	Granted  bool     `json:"granted"`
}
