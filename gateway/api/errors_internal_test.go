package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/sandbox/report"
)

// TestServiceErrorsMapByStatusAndCode checks that every error a service
// returns reaches the merchant through the one table: the *host.Error's
// Code when it names one the API knows, else its status; the HTTP status
// from the code.
func TestServiceErrorsMapByStatusAndCode(t *testing.T) {
	rejected := &report.CheckError{Report: &report.Report{Violations: []report.Violation{
		{Rule: "import.permission", Where: `import "passerelle_v1"."pay_request"`, Problem: "pay is not granted", Fix: "add pay to permissions"}}}}
	tests := []struct {
		name       string
		err        error
		http       int
		code       string
		violations int
	}{
		{"version exists", fmt.Errorf("app %q: %w", "shop", registry.ErrVersionExists), 409, CodeVersionExists, 0},
		{"app id taken", host.Wrapf(registry.ErrNotOwner, "shop"), 409, CodeAppIDTaken, 0},
		{"pruned", fmt.Errorf("x: %w", registry.ErrPruned), 410, CodeVersionPruned, 0},
		{"rollout invalid", host.Wrapf(registry.ErrInvalid, "percent 0"), 409, CodeRolloutInvalid, 0},
		{"not found is a version's", host.Wrapf(registry.ErrNotFound, "shop@9"), 404, CodeVersionNotFound, 0},
		{"invalid manifest", fmt.Errorf("%w: no id", host.ErrInvalidManifest), 422, CodeManifestInvalid, 0},
		{"rejected module", fmt.Errorf("load: %w", rejected), 422, CodeModuleRejected, 1},
		{"module failed to start", fmt.Errorf("%w: %w", report.ErrStartFailed, &report.TrapError{Reason: "unreachable"}), 422, CodeModuleFailed, 0},
		{"ABI rule broken while starting", fmt.Errorf("%w: %w", report.ErrStartFailed, &report.ABIError{Rule: "call.outside_event", Problem: "log called"}), 422, CodeModuleFailed, 1},
		{"sandbox closed", fmt.Errorf("%w: shop@1", report.ErrClosed), 503, CodeUnavailable, 0},
		{"bad request", host.Errorf(host.StatusBadRequest, "no"), 400, CodeBadRequest, 0},
		{"permission denied", host.Errorf(host.StatusPermissionDenied, "no"), 403, CodeForbidden, 0},
		{"quota", host.Errorf(host.StatusQuota, "full"), 429, CodeRateLimited, 0},
		{"conflict", host.Errorf(host.StatusConflict, "paid"), 409, CodeConflict, 0},
		{"insufficient funds", host.Errorf(host.StatusInsufficientFunds, "5.00 of 12.50 EUR"), 402, CodeInsufficientFunds, 0},
		{"window closed", host.Errorf(host.StatusWindowClosed, "no window"), 409, CodeWindowClosed, 0},
		{"not opted in", host.Errorf(host.StatusNotOptedIn, "no opt-in"), 403, CodeNotOptedIn, 0},
		{"opted out", host.Errorf(host.StatusOptedOut, "STOP"), 403, CodeOptedOut, 0},
		{"rate limited", host.Errorf(host.StatusRateLimited, "too many"), 429, CodeRateLimited, 0},
		{"unknown code falls back to the status", &host.Error{Status: host.StatusConflict, Code: "no_such_code", Message: "x"}, 409, CodeConflict, 0},
		{"a host failure", errors.New("disk full"), 500, CodeInternal, 0},
		{"unknown op", host.Errorf(host.StatusUnknownOp, "x"), 500, CodeInternal, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, toError(tt.err))
			var body struct{ Error *Error }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == nil {
				t.Fatalf("body %s: %v", rec.Body, err)
			}
			if rec.Code != tt.http || body.Error.Code != tt.code || len(body.Error.Violations) != tt.violations {
				t.Fatalf("got %d %s with %d violations, want %d %s with %d", rec.Code, body.Error.Code, len(body.Error.Violations), tt.http, tt.code, tt.violations)
			}
			if body.Error.Message == "" {
				t.Fatal("no message")
			}
		})
	}
}

// TestEveryCodeHasAStatus checks that the tables agree: every code a
// status maps to has an HTTP status of its own.
func TestEveryCodeHasAStatus(t *testing.T) {
	for s, c := range codeOfStatus {
		if _, ok := statusOf[c]; !ok {
			t.Errorf("status %s maps to %q, which has no HTTP status", s, c)
		}
	}
	if statusOf[CodeInternal] != http.StatusInternalServerError {
		t.Error("internal is not a 500")
	}
}
