package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/sandbox"
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
	CodeUnavailable     = "unavailable"      // shutting down
	CodeInternal        = "internal"         // a server bug; the message says what failed
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
	CodeUnavailable:     http.StatusServiceUnavailable,
	CodeInternal:        http.StatusInternalServerError,
}

// Error is the body of every failed request, under "error".
type Error struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	Violations []Violation `json:"violations,omitempty"`
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

// toError turns any error of the registry, router or sandbox into a coded
// Error.
func toError(err error) *Error {
	var (
		e  *Error
		ce *sandbox.CheckError
		le *sandbox.LimitError
		mb *http.MaxBytesError
	)
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &mb):
		return errorf(CodeUploadTooLarge, err.Error())
	case errors.As(err, &ce):
		var v []Violation
		if ce.Report != nil {
			for _, x := range ce.Report.Violations {
				v = append(v, Violation{Rule: x.Rule, Where: x.Where, Problem: x.Problem, Fix: x.Fix})
			}
		}
		return &Error{Code: CodeModuleRejected, Message: rejectedMessage(v), Violations: v}
	case errors.Is(err, host.ErrInvalidManifest):
		return errorf(CodeManifestInvalid, err.Error())
	case errors.Is(err, registry.ErrNotOwner):
		return errorf(CodeAppIDTaken, err.Error())
	case errors.Is(err, registry.ErrVersionExists):
		return errorf(CodeVersionExists, err.Error())
	case errors.Is(err, apps.ErrAppMismatch):
		return errorf(CodeAppIDMismatch, err.Error())
	case errors.Is(err, registry.ErrPruned):
		return errorf(CodeVersionPruned, err.Error())
	case errors.Is(err, registry.ErrInvalid):
		return errorf(CodeRolloutInvalid, err.Error())
	case errors.Is(err, registry.ErrNotFound):
		return errorf(CodeVersionNotFound, err.Error())
	case errors.As(err, &le):
		return errorf(CodeModuleFailed, "the module could not start within its limits: "+err.Error())
	case errors.Is(err, sandbox.ErrClosed):
		return errorf(CodeUnavailable, "the server is shutting down; retry in a moment")
	}
	var te *sandbox.TrapError
	var ae *sandbox.ABIError
	if errors.As(err, &ae) { // only while starting: an upload runs no event
		return &Error{Code: CodeModuleFailed, Message: "the module broke ABI rule " + ae.Rule + " while starting: " + ae.Problem,
			Violations: []Violation{{Rule: ae.Rule, Where: "start function or _initialize", Problem: ae.Problem,
				Fix: "make no passerelle_v1 calls before the first event (sdk/ABI.md, Event flow); initialise without host calls"}}}
	}
	if errors.As(err, &te) {
		return errorf(CodeModuleFailed, "the module failed while starting: "+err.Error()+"; run it with 'passerelle dev' to see why")
	}
	return errorf(CodeInternal, err.Error())
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
