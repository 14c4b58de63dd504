package gateway

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/websocket"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sched"
)

// Sentinel errors of the package. Those a host service could return as well
// are *host.Error kinds, mapped by hostCodes like any host error; the
// others are the protocol's own.
var (
	ErrNotFound    = &host.Error{Status: host.StatusNotFound, Message: "gateway: not found"}
	ErrNotMember   = &host.Error{Status: host.StatusPermissionDenied, Message: "you are not a member of this conversation"}
	ErrUnavailable = &host.Error{Status: host.StatusUnavailable, Message: "this feature is not available on this server"}
	ErrBadOutgoing = &host.Error{Status: host.StatusBadRequest, Message: "gateway: bad outgoing message"}

	ErrClosed       = &Error{Code: CodeShuttingDown, Message: "the server is shutting down; reconnect shortly"}
	ErrUnauthorized = &Error{Code: CodeUnauthorized, Message: "the token was refused; sign in again"}
)

// Code is a stable error code sent to clients in error frames and HTTP
// error bodies. PROTOCOL.md lists them.
type Code string

const (
	CodeBadFrame           Code = "bad_frame"           // not a JSON object, or not UTF-8
	CodeUnknownType        Code = "unknown_type"        // the frame's type is not one the server knows
	CodeBadRequest         Code = "bad_request"         // a field is missing or invalid
	CodeHelloRequired      Code = "hello_required"      // the first frame must be hello
	CodeUnsupportedVersion Code = "unsupported_version" // hello asked for a protocol version the server does not speak
	CodeUnauthorized       Code = "unauthorized"        // missing, invalid or expired token
	CodeForbidden          Code = "forbidden"           // not allowed: not a member, another person's prompt, a foreign origin
	CodeNotFound           Code = "not_found"           // no such conversation, person, app or prompt
	CodeConflict           Code = "conflict"            // the request conflicts with the state: an order already paid, declined or expired
	CodeInsufficientFunds  Code = "insufficient_funds"  // the wallet holds less than the payment; nothing was charged
	CodeRateLimited        Code = "rate_limited"        // too many frames (the frame was dropped), or the business sent too many messages
	CodeWindowClosed       Code = "window_closed"       // the person has not written to the business recently; nothing was sent
	CodeNotOptedIn         Code = "not_opted_in"        // the person has not opted in to the purpose or template; nothing was sent
	CodeOptedOut           Code = "opted_out"           // the person opted out (STOP) and has not sent START since; nothing was sent
	CodeAppBusy            Code = "app_busy"            // the mini-app has too many events waiting; this one was not given to it
	CodeTooLarge           Code = "too_large"           // a frame larger than the limit
	CodeSlowConsumer       Code = "slow_consumer"       // the client did not read fast enough
	CodeUnavailable        Code = "unavailable"         // a service is missing or failing; retry later
	CodeShuttingDown       Code = "shutting_down"       // the server is stopping; reconnect
	CodeInternal           Code = "internal"            // a server bug
)

// codeInfo is the one table mapping a code to its HTTP status, the
// WebSocket close code used when it ends a connection, and whether it does.
type codeInfo struct {
	http  int
	close int  // WebSocket close code when fatal
	fatal bool // the connection is closed after the error
}

var codes = map[Code]codeInfo{
	CodeBadFrame:           {http.StatusBadRequest, websocket.CloseUnsupportedData, false},
	CodeUnknownType:        {http.StatusBadRequest, websocket.CloseUnsupportedData, false},
	CodeBadRequest:         {http.StatusBadRequest, websocket.ClosePolicyViolation, false},
	CodeHelloRequired:      {http.StatusBadRequest, websocket.CloseProtocolError, true},
	CodeUnsupportedVersion: {http.StatusBadRequest, 4000, true},
	CodeUnauthorized:       {http.StatusUnauthorized, 4401, true},
	CodeForbidden:          {http.StatusForbidden, 4403, false},
	CodeNotFound:           {http.StatusNotFound, 4404, false},
	CodeConflict:           {http.StatusConflict, 4409, false},
	CodeInsufficientFunds:  {http.StatusPaymentRequired, 4402, false},
	CodeRateLimited:        {http.StatusTooManyRequests, 4429, false},
	CodeWindowClosed:       {http.StatusConflict, 4409, false},
	CodeNotOptedIn:         {http.StatusForbidden, 4403, false},
	CodeOptedOut:           {http.StatusForbidden, 4403, false},
	CodeAppBusy:            {http.StatusServiceUnavailable, websocket.CloseTryAgainLater, false},
	CodeTooLarge:           {http.StatusRequestEntityTooLarge, websocket.CloseMessageTooBig, true},
	CodeSlowConsumer:       {http.StatusServiceUnavailable, 4008, true},
	CodeUnavailable:        {http.StatusServiceUnavailable, websocket.CloseTryAgainLater, false},
	CodeShuttingDown:       {http.StatusServiceUnavailable, websocket.CloseGoingAway, true},
	CodeInternal:           {http.StatusInternalServerError, websocket.CloseInternalServerErr, false},
}

// HTTPStatus returns the HTTP status for c.
func (c Code) HTTPStatus() int {
	if i, ok := codes[c]; ok {
		return i.http
	}
	return http.StatusInternalServerError
}

// CloseCode returns the WebSocket close code used when c ends a connection.
func (c Code) CloseCode() int {
	if i, ok := codes[c]; ok {
		return i.close
	}
	return websocket.CloseInternalServerErr
}

// Fatal reports whether an error with code c closes the connection.
func (c Code) Fatal() bool { return codes[c].fatal }

// Error is a coded error for a client: the code says what kind, the message
// says what was wrong and what to do.
type Error struct {
	Code    Code
	Message string
	Err     error // the cause, if any
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Err }

func errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// codeOf maps any error to the client-visible coded error: the protocol's
// own errors as they are, the runtime scheduler's refusal of an event as
// app_busy, everything else by its host status (hostCodes),
// with its message; a failure without a status is "internal", its text
// kept for the log.
func codeOf(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, sched.ErrQueueFull):
		return &Error{Code: CodeAppBusy, Message: "this app is busy and did not get your message; try again in a moment", Err: err}
	case errors.Is(err, sched.ErrClosed):
		return &Error{Code: CodeShuttingDown, Message: ErrClosed.Message, Err: err}
	}
	msg := host.MessageOf(err)
	if msg == "" {
		msg = "the server failed; try again"
	}
	code, ok := hostCodes[host.StatusOf(err)]
	if !ok {
		code = CodeInternal
	}
	return &Error{Code: code, Message: msg, Err: err}
}

// hostCodes is the one table mapping the status of a host error (a
// service's or the gateway's own kinds above) to a client code.
var hostCodes = map[host.Status]Code{
	host.StatusOK:                CodeInternal,
	host.StatusBadRequest:        CodeBadRequest,
	host.StatusPermissionDenied:  CodeForbidden,
	host.StatusNotFound:          CodeNotFound,
	host.StatusQuota:             CodeRateLimited,
	host.StatusConsentRequired:   CodeForbidden,
	host.StatusConflict:          CodeConflict,
	host.StatusUnavailable:       CodeUnavailable,
	host.StatusInternal:          CodeInternal,
	host.StatusUnknownOp:         CodeInternal,
	host.StatusInsufficientFunds: CodeInsufficientFunds,
	host.StatusWindowClosed:      CodeWindowClosed,
	host.StatusNotOptedIn:        CodeNotOptedIn,
	host.StatusOptedOut:          CodeOptedOut,
	host.StatusRateLimited:       CodeRateLimited,
}
