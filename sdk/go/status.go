package passerelle

import (
	"errors"
	"strconv"
)

// Status is an ABI status code: the high 32 bits of a host call's result and
// the value on_event returns. The numbers are fixed by passerelle_v1.
type Status uint32

// The ABI status codes.
const (
	StatusOK               Status = 0
	StatusBadRequest       Status = 1 // the request was malformed
	StatusPermissionDenied Status = 2 // the manifest does not grant the operation's permission
	StatusNotFound         Status = 3 // the thing named does not exist
	StatusQuota            Status = 4 // a quota would be exceeded; nothing was written
	StatusConsentRequired  Status = 5 // the person has not granted the scope; they were asked
	StatusConflict         Status = 6 // the request conflicts with existing state
	StatusUnavailable      Status = 7 // the host could not serve the call now; retry later
	StatusInternal         Status = 8 // a failure inside the host (or, from a handler, the app)
	StatusUnknownOp        Status = 9 // the operation is not offered by this host
	// StatusInsufficientFunds: the paying wallet holds less than the
	// amount; no money moved.
	StatusInsufficientFunds Status = 10
	// The consent rules refused a message to a person; nothing was sent
	// (ABI.md, Consent).
	StatusWindowClosed Status = 11 // outside the service window, and no purpose or template named
	StatusNotOptedIn   Status = 12 // no opt-in to the purpose, or no unused subscription to the template
	StatusOptedOut     Status = 13 // the person sent STOP to the business
	StatusRateLimited  Status = 14 // the business reached a limit for business-initiated messages
)

var statusCodes = [...]string{
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

// String returns the stable code of s, such as "quota_exceeded".
func (s Status) String() string {
	if int(s) < len(statusCodes) {
		return statusCodes[s]
	}
	return "status_" + strconv.FormatUint(uint64(s), 10)
}

// Sentinel errors, one per non-zero status. An *Error unwraps to the one
// matching its Status.
var (
	ErrBadRequest        = errors.New("bad request")
	ErrPermissionDenied  = errors.New("permission denied")
	ErrNotFound          = errors.New("not found")
	ErrQuota             = errors.New("quota exceeded")
	ErrConsentRequired   = errors.New("consent required")
	ErrConflict          = errors.New("conflict")
	ErrUnavailable       = errors.New("unavailable")
	ErrInternal          = errors.New("internal error")
	ErrUnknownOp         = errors.New("unknown operation")
	ErrInsufficientFunds = errors.New("insufficient funds")
	ErrWindowClosed      = errors.New("window closed")
	ErrNotOptedIn        = errors.New("not opted in")
	ErrOptedOut          = errors.New("opted out")
	ErrRateLimited       = errors.New("rate limited")
)

// ErrBadEvent is returned when the event JSON the host handed over cannot be
// decoded.
var ErrBadEvent = errors.New("bad event")

var sentinels = [...]error{
	StatusBadRequest:        ErrBadRequest,
	StatusPermissionDenied:  ErrPermissionDenied,
	StatusNotFound:          ErrNotFound,
	StatusQuota:             ErrQuota,
	StatusConsentRequired:   ErrConsentRequired,
	StatusConflict:          ErrConflict,
	StatusUnavailable:       ErrUnavailable,
	StatusInternal:          ErrInternal,
	StatusUnknownOp:         ErrUnknownOp,
	StatusInsufficientFunds: ErrInsufficientFunds,
	StatusWindowClosed:      ErrWindowClosed,
	StatusNotOptedIn:        ErrNotOptedIn,
	StatusOptedOut:          ErrOptedOut,
	StatusRateLimited:       ErrRateLimited,
}

// Error is a failed host call.
type Error struct {
	Op      string // dotted operation name, e.g. "chat.send"
	Status  Status
	Code    string // stable code, e.g. "quota_exceeded"
	Message string // the host's explanation: what was wrong and what to do
}

func (e *Error) Error() string {
	msg := e.Op + ": " + e.Code
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap returns the sentinel error for e.Status (nil for an unknown status).
func (e *Error) Unwrap() error {
	if e.Status > 0 && int(e.Status) < len(sentinels) {
		return sentinels[e.Status]
	}
	return nil
}

// StatusOf returns the code on_event returns for a handler's error: StatusOK
// for nil, the Status of an *Error in its chain (a host call's failure passed
// up), StatusBadRequest for ErrBadEvent, StatusInternal otherwise.
func StatusOf(err error) Status {
	if err == nil {
		return StatusOK
	}
	var e *Error
	if errors.As(err, &e) && e.Status != StatusOK {
		return e.Status
	}
	if errors.Is(err, ErrBadEvent) {
		return StatusBadRequest
	}
	return StatusInternal
}
