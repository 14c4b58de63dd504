package passerelle

import "encoding/json"

// Event types.
const (
	EventOpen    = "open"    // the person opened the app in a conversation
	EventMessage = "message" // the person sent text
	EventAction  = "action"  // the person pressed a button, picked a list item or submitted a form
	EventPayment = "payment" // an order the app requested reached a final state
	EventTimer   = "timer"   // a timer the app set fired
	EventConsent = "consent" // the person answered a consent prompt one of the app's calls caused
	EventOptOut  = "optout"  // the person stopped the app's business (STOP, STOPALL, their consent screen): Notify and Send fail with ErrOptedOut
	EventOptIn   = "optin"   // the person started the business again (START) after a STOP
	// EventHandoff: a member of the merchant's staff took the conversation
	// the app handed off (Context.Handoff); Event.Handoff says who.
	EventHandoff = "handoff"
	// EventHandback: the merchant's staff handed the conversation back;
	// Event.Handoff carries the agent's note. The person's next messages
	// reach the app again.
	EventHandback = "handback"
	// EventStatus: a message the app sent reached a new state on the
	// person's surface (Event.Status). Only an app whose manifest asks
	// for it ("events": ["status"]) receives it.
	EventStatus = "status"
)

// Message states an EventStatus reports, in the order a message moves
// through them; failed is final, and read implies delivered.
const (
	StateDelivered = "delivered" // a device of the person has it
	StateRead      = "read"      // the person saw it
	StateFailed    = "failed"    // it will not reach them: Code says why
)

// MessageStatus tells the app that one of its messages (Send, Notify,
// Share, a broadcast) reached a new state on the person's surface. A
// message moves forward only, and the app hears each state at most once:
// a read that comes before its delivered is one read, never followed by
// delivered.
type MessageStatus struct {
	Message string `json:"message"` // the id Send or Notify returned (msg_...)
	State   string `json:"state"`   // StateDelivered, StateRead or StateFailed
	// Code says why it failed, in the words of the app's log:
	// window_closed, opted_out, undeliverable, invalid, auth, ...
	Code string `json:"code,omitempty"`
	// NetworkCode is the network's own number for the failure
	// (WhatsApp's 131047, ...), 0 when it gave none.
	NetworkCode int    `json:"network_code,omitempty"`
	Surface     string `json:"surface"` // whatsapp, messenger, instagram, web
}

// Event is one event the host delivers. User is the person's pseudonymous id
// for this app, stable across events and surfaces, never the platform id.
type Event struct {
	V            int      `json:"v"` // payload version, 1
	Type         string   `json:"type"`
	ID           string   `json:"id"`
	App          string   `json:"app"`
	Conversation string   `json:"conversation,omitempty"`
	User         string   `json:"user,omitempty"`
	Surface      string   `json:"surface,omitempty"`
	Text         string   `json:"text,omitempty"`    // message; for open, the payload of a shared card
	Action       *Action  `json:"action,omitempty"`  // action
	Payment      *Payment `json:"payment,omitempty"` // payment
	Timer        *Timer   `json:"timer,omitempty"`   // timer
	Consent      *Consent `json:"consent,omitempty"` // consent
	Handoff      *Handoff `json:"handoff,omitempty"` // handoff, handback
	// Status is what became of one of the app's messages (EventStatus).
	Status *MessageStatus `json:"status,omitempty"`
}

// Handoff tells the app what became of a conversation it handed to the
// merchant's staff: taken by an agent (EventHandoff, Status "taken") or
// handed back (EventHandback, Status "returned", with the agent's Note).
type Handoff struct {
	ID     string `json:"id"`              // the handoff, as Context.Handoff returned it
	Status string `json:"status"`          // taken or returned
	Agent  string `json:"agent,omitempty"` // the staff member's display name
	Note   string `json:"note,omitempty"`  // handback: what the agent tells the app
}

// Action is a button press, a list choice or a form submission.
type Action struct {
	ID     string            `json:"id"`               // the button, list item or form id the app chose
	Value  string            `json:"value,omitempty"`  // the value the app attached to the button
	Fields map[string]string `json:"fields,omitempty"` // form fields
}

// Payment tells the app how an order it requested ended.
type Payment struct {
	Order          string `json:"order"`
	Status         string `json:"status"` // paid, declined, expired, refunded, partially_refunded
	Amount         int64  `json:"amount"` // minor units of Currency
	Currency       string `json:"currency"`
	Refunded       int64  `json:"refunded,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	Reason         string `json:"reason,omitempty"` // why it was declined
}

// Timer is a fired timer and the payload the app gave when setting it.
type Timer struct {
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Consent tells the app how the person answered a consent prompt: the one
// the platform showed them after a call of the app (Profile) returned an
// error matching ErrConsentRequired (Scopes), or the one RequestOptIn
// (Purpose) or RequestSubscription (Template) drew. The event comes in the
// conversation where the app asked. After a grant, asking again succeeds,
// and Notify passes under the purpose (until STOP) or, once, under the
// template. When the person withdraws an opt-in in their consent screen,
// every app of the business gets a Consent with that Purpose, Granted
// false, no Prompt and no conversation: Notify under the purpose fails
// with ErrNotOptedIn from then on.
type Consent struct {
	Prompt   string   `json:"prompt"`             // the prompt's id
	Scopes   []string `json:"scopes,omitempty"`   // what it asked for: "identity.profile", "identity.phone"
	Purpose  string   `json:"purpose,omitempty"`  // RequestOptIn: the purpose
	Template string   `json:"template,omitempty"` // RequestSubscription: the template
	Granted  bool     `json:"granted"`            // false when the person refused
}

// Has reports whether the prompt asked for scope (a permission name such
// as "identity.profile").
func (c *Consent) Has(scope string) bool {
	for _, s := range c.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}
