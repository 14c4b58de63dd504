package gateway

import (
	"errors"
	"fmt"
	"testing"

	"github.com/passerelle/passerelle/host"
)

// TestHostStatusesMapToCodes checks the one table from a service's status
// to a client code, with its HTTP status and whether it ends the
// connection: a refusal a person can act on never closes it.
func TestHostStatusesMapToCodes(t *testing.T) {
	tests := []struct {
		status host.Status
		code   Code
		http   int
	}{
		{host.StatusBadRequest, CodeBadRequest, 400},
		{host.StatusPermissionDenied, CodeForbidden, 403},
		{host.StatusNotFound, CodeNotFound, 404},
		{host.StatusQuota, CodeRateLimited, 429},
		{host.StatusConflict, CodeConflict, 409},
		{host.StatusUnavailable, CodeUnavailable, 503},
		{host.StatusInsufficientFunds, CodeInsufficientFunds, 402},
		{host.StatusWindowClosed, CodeWindowClosed, 409},
		{host.StatusNotOptedIn, CodeNotOptedIn, 403},
		{host.StatusOptedOut, CodeOptedOut, 403},
		{host.StatusRateLimited, CodeRateLimited, 429},
		{host.StatusInternal, CodeInternal, 500},
		{host.StatusUnknownOp, CodeInternal, 500},
	}
	for _, tt := range tests {
		t.Run(tt.status.String(), func(t *testing.T) {
			err := fmt.Errorf("chat.send: %w", host.Errorf(tt.status, "what to do"))
			e := codeOf(err)
			if e.Code != tt.code || e.Code.HTTPStatus() != tt.http || e.Code.Fatal() {
				t.Fatalf("got %s (HTTP %d, fatal %v), want %s (HTTP %d, survives)", e.Code, e.Code.HTTPStatus(), e.Code.Fatal(), tt.code, tt.http)
			}
			if tt.code != CodeInternal && e.Message != "chat.send: what to do" {
				t.Fatalf("message %q", e.Message)
			}
		})
	}
	if e := codeOf(errors.New("disk full")); e.Code != CodeInternal || e.Message == "disk full" {
		t.Fatalf("a host failure reached the client as %s %q", e.Code, e.Message)
	}
}

// TestEveryCodeHasARow checks that every code a status maps to has its
// HTTP status and close code in the table.
func TestEveryCodeHasARow(t *testing.T) {
	for s, c := range hostCodes {
		if _, ok := codes[c]; !ok {
			t.Errorf("status %s maps to %s, which has no row in codes", s, c)
		}
	}
}
