package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox/report"
)

// Error codes of the API. They never change meaning.
const (
	CodeUnauthorized    = "unauthorized"  // no token, or the token is not valid
	CodeMerchantOnly    = "merchant_only" // the token is not a merchant's
	CodeAppNotFound     = "app_not_found" // no such app among the merchant's
	CodeVersionNotFound = "version_not_found"
	CodeAppIDTaken      = "app_id_taken"     // another merchant owns the id
	CodeVersionExists   = "version_exists"   // versions are immutable
	CodeAppIDMismatch   = "app_id_mismatch"  // the module's id differs from the URL's
	CodeUploadTooLarge  = "upload_too_large" // the body is over the cap
	CodeModuleRejected  = "module_rejected"  // ABI violations; see "violations"
	CodeManifestInvalid = "manifest_invalid" // the embedded manifest is wrong
	CodeModuleFailed    = "module_failed"    // the module could not be compiled or started
	CodeVersionPruned   = "version_pruned"   // the module was pruned; upload it again
	CodeRolloutInvalid  = "rollout_invalid"  // bad percent, already live, nothing to roll back to
	CodeBadRequest      = "bad_request"      // the request body or query is malformed
	CodeNoSuchEndpoint  = "no_such_endpoint" // unknown path or method
	CodeForbidden       = "forbidden"        // a service refused the merchant the operation
	CodeConflict        = "conflict"         // the request conflicts with the state
	CodeRateLimited     = "rate_limited"     // too many requests or a quota reached; retry later

	CodeConnectionNotFound = "connection_not_found" // no such connection among the merchant's
	CodeAccountTaken       = "account_taken"        // another merchant connected the network account
	CodeNoSecretKey        = "no_secret_key"        // the server has no key to seal secrets with
	CodeHandoffNotFound    = "handoff_not_found"    // no such handoff among the merchant's
	CodeTemplateNotFound   = "template_not_found"   // the connection has no such message template
	CodeHandoffReturned    = "handoff_returned"     // the conversation was handed back to the app already

	// What a service refuses a message or a payment for (host statuses
	// 10-14), should an endpoint send one or charge.
	CodeInsufficientFunds = "insufficient_funds" // the wallet holds less than the amount; nothing was charged
	CodeWindowClosed      = "window_closed"      // the person has not written to the business recently
	CodeNotOptedIn        = "not_opted_in"       // the person has not opted in to the purpose or template
	CodeOptedOut          = "opted_out"          // the person opted out (STOP) and has not opted in again

	// Members of a merchant's staff and their inbox sessions (gateway/staff).
	CodeMemberNotFound = "member_not_found" // no such member among the merchant's staff
	CodeMemberExists   = "member_exists"    // a member of the staff has that name already
	CodeSignInRefused  = "signin_refused"   // the sign-in link was used, replaced, expired or never made
	CodeSessionExpired = "session_expired"  // the inbox session's token expired (refresh it) or the session ended
	CodeStaffOnly      = "staff_only"       // a member's inbox session on an endpoint for merchants

	// A broadcast the merchant does not have (host/broadcast).
	CodeBroadcastNotFound = "broadcast_not_found"

	// No state is known for the message among the app's (a wrong id, or
	// one older than the states are kept).
	CodeMessageNotFound = "message_not_found"

	CodeUnavailable = "unavailable" // shutting down
	CodeInternal    = "internal"    // a server bug; the message says what failed
)

// statusOf maps every code to its HTTP status: the one place where that is
// decided.
var statusOf = map[string]int{
	CodeUnauthorized:    http.StatusUnauthorized,
	CodeMerchantOnly:    http.StatusForbidden,
	CodeAppNotFound:     http.StatusNotFound,
	CodeVersionNotFound: http.StatusNotFound,
	CodeAppIDTaken:      http.StatusConflict,
	CodeVersionExists:   http.StatusConflict,
	CodeAppIDMismatch:   http.StatusBadRequest,
	CodeUploadTooLarge:  http.StatusRequestEntityTooLarge,
	CodeModuleRejected:  http.StatusUnprocessableEntity,
	CodeManifestInvalid: http.StatusUnprocessableEntity,
	CodeModuleFailed:    http.StatusUnprocessableEntity,
	CodeVersionPruned:   http.StatusGone,
	CodeRolloutInvalid:  http.StatusConflict,
	CodeBadRequest:      http.StatusBadRequest,
	CodeNoSuchEndpoint:  http.StatusNotFound,
	CodeForbidden:       http.StatusForbidden,
	CodeConflict:        http.StatusConflict,
	CodeRateLimited:     http.StatusTooManyRequests,
	CodeHandoffNotFound: http.StatusNotFound,
	CodeHandoffReturned: http.StatusConflict,

	CodeConnectionNotFound: http.StatusNotFound,
	CodeAccountTaken:       http.StatusConflict,
	CodeNoSecretKey:        http.StatusServiceUnavailable,
	CodeTemplateNotFound:   http.StatusNotFound,

	CodeInsufficientFunds: http.StatusPaymentRequired,
	CodeWindowClosed:      http.StatusConflict,
	CodeNotOptedIn:        http.StatusForbidden,
	CodeOptedOut:          http.StatusForbidden,

	CodeBroadcastNotFound: http.StatusNotFound,
	CodeMemberNotFound:    http.StatusNotFound,
	CodeMemberExists:      http.StatusConflict,
	CodeSignInRefused:     http.StatusUnauthorized,
	CodeSessionExpired:    http.StatusUnauthorized,
	CodeStaffOnly:         http.StatusForbidden,
	CodeMessageNotFound:   http.StatusNotFound,
	CodeReplayRefused:     http.StatusConflict,

	CodeUnavailable: http.StatusServiceUnavailable,
	CodeInternal:    http.StatusInternalServerError,
}

// Error is the body of every failed request, under "error".
type Error struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	Violations []Violation `json:"violations,omitempty"`
	Report     any         `json:"report,omitempty"` // replay_refused: the replay report (replay.go)
}

// Violation is one ABI rule a rejected module breaks.
type Violation struct {
	Rule    string `json:"rule"`    // stable id, e.g. "import.permission"
	Where   string `json:"where"`   // e.g. import "passerelle_v1"."pay_request"
	Problem string `json:"problem"` // what is wrong
	Fix     string `json:"fix"`     // how to fix it
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, msg string) *Error { return &Error{Code: code, Message: msg} }

// codeOfStatus gives the code of a service error whose *host.Error names
// no finer Code of its own (host.CodeOf): with statusOf, the one place
// mapping what services return to what a merchant reads. A service's
// not-found is a version's: the API looks the app up itself (ownApp).
var codeOfStatus = map[host.Status]string{
	host.StatusBadRequest:        CodeBadRequest,
	host.StatusPermissionDenied:  CodeForbidden,
	host.StatusConsentRequired:   CodeForbidden,
	host.StatusNotFound:          CodeVersionNotFound,
	host.StatusQuota:             CodeRateLimited,
	host.StatusConflict:          CodeConflict,
	host.StatusUnavailable:       CodeUnavailable,
	host.StatusInsufficientFunds: CodeInsufficientFunds,
	host.StatusWindowClosed:      CodeWindowClosed,
	host.StatusNotOptedIn:        CodeNotOptedIn,
	host.StatusOptedOut:          CodeOptedOut,
	host.StatusRateLimited:       CodeRateLimited,
}

// toError turns any error of the router, the registry or the sandbox into
// a coded Error: its code from the *host.Error it carries (host.CodeOf,
// else its status through codeOfStatus), its message from
// host.MessageOf; an error without one is internal, its text kept so that
// the merchant can report it. A rejected module's violations come with it.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	code := host.CodeOf(err)
	if _, ok := statusOf[code]; !ok {
		code = codeOfStatus[host.StatusOf(err)]
	}
	if code == "" {
		code = CodeInternal
	}
	msg := host.MessageOf(err)
	if msg == "" {
		msg = err.Error()
	}
	out := &Error{Code: code, Message: msg}
	var (
		ce *report.CheckError
		ae *report.ABIError
	)
	switch {
	case errors.As(err, &ce) && ce.Report != nil:
		for _, x := range ce.Report.Violations {
			out.Violations = append(out.Violations, Violation{Rule: x.Rule, Where: x.Where, Problem: x.Problem, Fix: x.Fix})
		}
		out.Message = rejectedMessage(out.Violations)
	case errors.As(err, &ae): // only while starting: an upload runs no event
		out.Message = "the module broke ABI rule " + ae.Rule + " while starting: " + ae.Problem
		out.Violations = []Violation{{Rule: ae.Rule, Where: "start function or _initialize", Problem: ae.Problem,
			Fix: "make no passerelle_v1 calls before the first event (sdk/ABI.md, Event flow); initialise without host calls"}}
	case code == CodeModuleFailed:
		out.Message += "; run it with 'passerelle dev' to see why"
	}
	return out
}

// rejectedMessage names the first violations, so that a client showing
// only the message still says what is wrong and what to do.
func rejectedMessage(v []Violation) string {
	msg := "the module breaks the passerelle_v1 rules listed in violations"
	for i, x := range v {
		if i == 2 {
			msg += fmt.Sprintf(" (and %d more)", len(v)-i)
			break
		}
		msg += fmt.Sprintf("; [%s] %s: %s (%s)", x.Rule, x.Where, x.Problem, x.Fix)
	}
	return msg + "; fix each one and upload again"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="passerelle"`)
	}
	writeJSON(w, status, struct {
		Error *Error `json:"error"`
	}{e})
}
