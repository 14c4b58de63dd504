// Package host holds the domain types shared by the host APIs that mini-apps
// call, the runtime that runs them and the gateway that carries their
// messages. It knows neither wazero nor WebSockets.
//
// A host API is a set of Funcs. Each Func has an operation name ("chat.send"),
// the permission a manifest must grant to call it, and a handler that takes
// the guest's JSON request and returns a JSON response or an *Error. The
// runtime turns every Func into an ABI import named after the operation with
// dots replaced by underscores ("chat_send") and checks the permission at
// upload and at every call.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Status is an ABI status code: the high 32 bits of a host call's result and
// the value an event handler returns. 0 is success. The numbers are part of
// the ABI (sdk/ABI.md) and never change meaning.
type Status uint32

const (
	StatusOK               Status = 0
	StatusBadRequest       Status = 1 // the request was malformed: invalid JSON, a missing or invalid field
	StatusPermissionDenied Status = 2 // the manifest does not grant the operation's permission
	StatusNotFound         Status = 3 // the thing named does not exist
	StatusQuota            Status = 4 // a quota would be exceeded (storage bytes, rate); nothing was written
	StatusConsentRequired  Status = 5 // the person has not granted the scope; a prompt was sent to them
	StatusConflict         Status = 6 // the request conflicts with existing state (idempotency key reused with other fields)
	StatusUnavailable      Status = 7 // the host could not serve the call right now; retry later
	StatusInternal         Status = 8 // a host bug; the message says what failed
	StatusUnknownOp        Status = 9 // the operation is not offered by this host
	// StatusInsufficientFunds: the paying wallet holds less than the amount;
	// no money moved.
	StatusInsufficientFunds Status = 10
)

// Refusals of a business message by the consent rules (host/consent). Each
// names the rule that is missing.
const (
	StatusWindowClosed Status = 11 // no service window: the person has not written to the business recently
	StatusNotOptedIn   Status = 12 // the person has not opted in to the purpose, or has no one-time subscription to the template
	StatusOptedOut     Status = 13 // the person sent STOP to the business (or STOPALL) and has not sent START since
	StatusRateLimited  Status = 14 // the business sent too many business-initiated messages (per person per day, or per second)
)

var statusNames = map[Status]string{
	StatusOK:                "ok",
	StatusBadRequest:        "bad_request",
	StatusPermissionDenied:  "permission_denied",
	StatusNotFound:          "not_found",
	StatusQuota:             "quota_exceeded",
	StatusConsentRequired:   "consent_required",
	StatusConflict:          "conflict",
	StatusUnavailable:       "unavailable",
	StatusInternal:          "internal",
	StatusUnknownOp:         "unknown_op",
	StatusInsufficientFunds: "insufficient_funds",
	StatusWindowClosed:      "window_closed",
	StatusNotOptedIn:        "not_opted_in",
	StatusOptedOut:          "opted_out",
	StatusRateLimited:       "rate_limited",
}

// String returns the stable name of s, such as "quota_exceeded".
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status_%d", uint32(s))
}

// Error is the one coded error of the host layer: every service returns it
// (or an error wrapping it) for what a caller did wrong or must wait for,
// and every edge maps its Status in one table of its own: the ABI
// (runtime/sandbox) and the WebSocket protocol (gateway). The runtime
// encodes it for the guest as
// {"status":4,"code":"quota_exceeded","message":"..."}. An error that is no
// *Error is a host failure (StatusInternal): its text goes to the log, not
// to the caller.
//
// A package declares its kinds of failure as *Error sentinels with a
// status (kv.ErrQuota) and returns Wrapf(kind, ...) with the details;
// errors.Is(err, kind) holds for those.
//
// Code is a stable name finer than Status, set by the service that knows
// it (registry.ErrVersionExists is "version_exists", a StatusConflict): an
// edge that promises finer codes than statuses (the HTTP API) takes it from
// CodeOf instead of keeping a switch on sentinels. "" means the status's
// own name. The ABI and the WebSocket protocol map Status only.
type Error struct {
	Status  Status
	Code    string // stable finer name of the kind, or ""
	Message string // says what was wrong and what to do
	Kind    error  // the sentinel this error is an instance of, if any (Wrapf)
}

// Error returns the message; the status travels beside it at every edge.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the sentinel e is an instance of.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf returns an *Error with the given status.
func Errorf(s Status, format string, args ...any) *Error {
	return &Error{Status: s, Message: fmt.Sprintf(format, args...)}
}

// Wrapf returns an instance of the sentinel kind: its status, the message
// kind's message followed by ": " and the details.
func Wrapf(kind *Error, format string, args ...any) *Error {
	return &Error{Status: kind.Status, Code: kind.Code, Message: kind.Message + ": " + fmt.Sprintf(format, args...), Kind: kind}
}

// StatusOf returns the status carried by err: StatusOK for nil, the status of
// an *Error anywhere in its chain, StatusInternal otherwise.
func StatusOf(err error) Status {
	if err == nil {
		return StatusOK
	}
	var he *Error
	if errors.As(err, &he) {
		return he.Status
	}
	return StatusInternal
}

// CodeOf returns the stable name of err's kind: the Code of the first
// *Error in its chain, or its status's name when that has none; "internal"
// for an error that is no *Error, "" for nil.
func CodeOf(err error) string {
	if err == nil {
		return ""
	}
	var he *Error
	if !errors.As(err, &he) {
		return StatusInternal.String()
	}
	if he.Code != "" {
		return he.Code
	}
	return he.Status.String()
}

// MessageOf returns what a caller is told about err: its text when an
// *Error is in its chain (an *Error's message, or the sentinel's message
// with the details wrapped around it), "" otherwise: the text of a host
// failure is for the log.
func MessageOf(err error) string {
	var he *Error
	if !errors.As(err, &he) {
		return ""
	}
	return err.Error()
}

// Permission names what a manifest may grant.
type Permission string

const (
	PermChat            Permission = "chat"             // chat.send, chat.share, chat.notify, chat.handoff
	PermStorage         Permission = "storage"          // kv.*
	PermIdentityProfile Permission = "identity.profile" // display name, after consent
	PermIdentityPhone   Permission = "identity.phone"   // phone number, after consent
	PermPay             Permission = "pay"              // pay.request, pay.refund, pay.status
	PermTimer           Permission = "timer"            // timer.after, timer.cancel
	PermNone            Permission = ""                 // always allowed (log)
)

// knownPermissions is every permission a manifest may name.
var knownPermissions = [...]Permission{PermChat, PermStorage, PermIdentityProfile, PermIdentityPhone, PermPay, PermTimer}

// KnownPermissions returns every permission a manifest may name, in a new
// slice the caller may keep.
func KnownPermissions() []Permission { return slices.Clone(knownPermissions[:]) }

// AppRef names one version of one app of one merchant.
type AppRef struct {
	Merchant string `json:"merchant"`
	App      string `json:"app"`
	Version  string `json:"version"`
}

func (r AppRef) String() string { return r.Merchant + "/" + r.App + "@" + r.Version }

// Caller is what a host function knows about the event it serves: which app
// version runs, for whom and where. Person is the platform id; it never
// reaches the guest (the guest sees pseudonymous ids made by the identity API).
type Caller struct {
	App          AppRef
	Permissions  []Permission
	Person       string // platform person id; "" for events with no person
	Conversation string // conversation the event belongs to
	Surface      string // web, whatsapp, messenger, instagram, dev
	EventID      string
}

// Has reports whether the caller's manifest grants p.
func (c *Caller) Has(p Permission) bool {
	if p == PermNone {
		return true
	}
	for _, q := range c.Permissions {
		if q == p {
			return true
		}
	}
	return false
}

// Outgoing is what a host API emits for delivery, as typed values: a chat
// message from the app into a conversation (Message, with its ID), or a
// host-drawn prompt to one person (Prompt). Exactly one of Message and
// Prompt is set. JSON is for the guest ABI, the socket and the disk only.
type Outgoing struct {
	App          AppRef
	Conversation string   // the message's conversation; for a prompt, the one where it was caused
	Message      *Message // a message from the app
	ID           string   // the message's id, the one chat.send answered; the stored message keeps it
	Prompt       *Prompt  // a prompt to Prompt.Person
	// Agent, set on a message only, is the display name of the member of
	// the merchant's staff who wrote it in the merchant inbox, answering
	// a conversation the app handed off; "" for the app's own messages.
	// It travels with the stored message, so that the person sees the
	// business and the agent's name, and a network that has a rule for a
	// person's answers (Messenger's HUMAN_AGENT message tag, 7 days) can
	// apply it.
	Agent string
	// Basis, set on a message chat.notify sent, is the consent it rests
	// on: a network that cannot reach the person with free-form text
	// (WhatsApp outside its 24-hour window) sends the template of the same
	// name the merchant registered for the connection. Nil for the rest.
	Basis *Basis
}

// Basis is the consent a business-initiated message rests on: the purpose
// the person opted in to or the template they subscribed to, and the
// values of the template's numbered parameters, {{1}} first.
type Basis struct {
	Purpose  string   `json:"purpose,omitempty"`
	Template string   `json:"template,omitempty"`
	Params   []string `json:"params,omitempty"`
}

// Outbox is the one interface through which host APIs emit outgoing messages.
// The gateway implements it; the dev tool and tests implement it too. Emit
// must not call back into the runtime.
type Outbox interface {
	Emit(ctx context.Context, out Outgoing) error
}

// Queuer is an Outbox that can take a message before it is durable. Queue
// fixes out's place among its conversation's messages and returns without
// waiting for the store; wait returns once out is durable and on its way to
// the members, or with the error that stopped it. Nobody sees out before it
// is durable. Every wait must be called, once: the messages after out in its
// conversation are delivered only after it.
type Queuer interface {
	Queue(ctx context.Context, out Outgoing) (wait func() error, err error)
}

// Call is what a host function receives besides its request bytes.
type Call struct {
	Caller Caller
	Out    Outbox       // where messages and prompts go; never nil
	Log    *slog.Logger // the app's log
	Now    time.Time    // when the event started
	// Tx, when not nil, is the event's transaction: services stage their
	// effects in it instead of writing them (see Tx). Nil for calls made
	// outside an event's transaction.
	Tx *Tx

	queued   Pending
	messages int // messages emitted; see Messages
}

// Messages returns how many messages (Outgoing.Message set) Emit was given
// during the event, successfully or not.
func (c *Call) Messages() int { return c.messages }

// Emit sends out through c.Out. Within an event's transaction (c.Tx set)
// nothing leaves before the event commits: when c.Out is a TxOutbox, out is
// staged there (stored inside the commit, delivered once committed);
// otherwise an Effect is staged whose Committed hook hands out to c.Out.Emit
// after the commit, which is at-least-once only: a crash between the
// commit and that hook loses the message, and an Emit error is logged, not
// returned to the guest.
//
// Without a Tx, a message, when c.Out is a Queuer, is only
// queued: the guest goes on (and its instance serves the next event) while
// the message is stored, and whoever made the Call waits for it with
// TakePending. Anything else (a prompt, shown at once) first waits for the
// messages queued before it, so that people see them in the order the app
// sent them.
func (c *Call) Emit(ctx context.Context, out Outgoing) error {
	if out.Message != nil {
		c.messages++
	}
	if c.Tx != nil {
		return c.stage(ctx, out)
	}
	if q, ok := c.Out.(Queuer); ok && out.Message != nil {
		wait, err := q.Queue(ctx, out)
		if err != nil {
			return err
		}
		c.queued = append(c.queued, wait)
		return nil
	}
	if err := c.TakePending().Wait(); err != nil {
		return err
	}
	return c.Out.Emit(ctx, out)
}

// stage puts out in c.Tx (see Emit).
func (c *Call) stage(ctx context.Context, out Outgoing) error {
	if to, ok := c.Out.(TxOutbox); ok {
		e, err := to.Stage(ctx, out)
		if err != nil {
			return err
		}
		c.Tx.Stage(e)
		return nil
	}
	dst, log := c.Out, c.Log
	ctx = context.WithoutCancel(ctx)
	c.Tx.Stage(Effect{Committed: func() {
		if err := dst.Emit(ctx, out); err != nil && log != nil {
			log.Warn("a committed message could not be handed over", "conversation", out.Conversation, "err", err)
		}
	}})
	return nil
}

// TakePending returns the waits of the messages Emit queued and forgets
// them. The maker of the Call must wait for them once the guest returned.
func (c *Call) TakePending() Pending {
	p := c.queued
	c.queued = nil
	return p
}

// Pending is the waits of queued messages (see Call.Emit).
type Pending []func() error

// Wait calls every wait, in order, and returns the first error.
func (p Pending) Wait() error {
	var first error
	for _, w := range p {
		if err := w(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Func is one host operation offered to guests.
type Func struct {
	Op         string     // dotted name, e.g. "chat.send"; the ABI import is ImportName(Op)
	Permission Permission // what the manifest must grant; PermNone for always allowed
	// Handle serves one call. req is the guest's request bytes, already copied
	// out of guest memory and checked to be valid JSON. The returned bytes
	// must be JSON. An error that is not an *Error is reported to the guest
	// as StatusInternal.
	Handle func(ctx context.Context, c *Call, req []byte) ([]byte, error)
}

// ImportName returns the ABI import name for a dotted operation name.
func ImportName(op string) string { return strings.ReplaceAll(op, ".", "_") }

// Limits bound what one app version may use. Zero fields mean "the default".
type Limits struct {
	MemoryPages       uint32 `json:"memory_pages,omitempty"`         // 64 KiB pages of linear memory
	EventTimeoutMS    uint32 `json:"event_timeout_ms,omitempty"`     // deadline of one event
	HostCallsPerEvent uint32 `json:"host_calls_per_event,omitempty"` // host calls during one event
	CallBytes         uint32 `json:"call_bytes,omitempty"`           // request or response bytes of one host call
	EventBytes        uint32 `json:"event_bytes,omitempty"`          // bytes in plus out across one event
	LogBytes          uint32 `json:"log_bytes,omitempty"`            // log and stdout/stderr bytes per event
	EventFuelMillions uint32 `json:"event_fuel_millions,omitempty"`  // CPU budget of one event, in millions of fuel units (sdk/ABI.md)
}

// Manifest describes an app: its id, version, the permissions it needs and its
// limits. It travels inside the wasm file as the custom section
// "passerelle.manifest" (JSON).
type Manifest struct {
	ABI         string       `json:"abi"`  // "passerelle_v1"
	ID          string       `json:"id"`   // app id: lowercase letters, digits and '-', 2..40 chars
	Name        string       `json:"name"` // display name
	Version     string       `json:"version"`
	Description string       `json:"description,omitempty"`
	Permissions []Permission `json:"permissions"`
	Limits      Limits       `json:"limits,omitempty"`
	// Events lists the events the app asks for beyond those every app
	// gets (OptInEvents: "status"); an app that does not list one never
	// receives it.
	Events []string `json:"events,omitempty"`
}

// optInEvents are the event types an app receives only when its manifest
// lists them in "events".
var optInEvents = [...]string{EventStatus}

// OptInEvents returns the event types an app receives only when its
// manifest lists them in "events", in a new slice the caller may keep.
func OptInEvents() []string { return slices.Clone(optInEvents[:]) }

// IsOptIn says whether typ is an opt-in event type (OptInEvents).
func IsOptIn(typ string) bool {
	for _, e := range optInEvents {
		if e == typ {
			return true
		}
	}
	return false
}

// Wants says whether an app with manifest m receives events of type typ:
// every app gets the others; an opt-in event (OptInEvents) only when m
// lists it.
func (m *Manifest) Wants(typ string) bool {
	return !IsOptIn(typ) || slices.Contains(m.Events, typ)
}
