// Package report holds what the sandbox reports to its callers, without
// wazero: a module check's Report and its violations, the typed errors of a
// load or an event, and an app's pool figures. runtime/sandbox returns
// these types (it aliases them); a package that only reads them (the HTTP
// API) imports this one and stays free of the WebAssembly runtime.
package report

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/passerelle/passerelle/host"
)

// Report is what Check found in a module.
type Report struct {
	Manifest   *host.Manifest // nil when missing or invalid
	Imports    []string       // "module.name" of every imported function
	Exports    []string       // names of every exported function and memory
	Violations []Violation    // empty when the module may be loaded
}

// OK reports whether the module has no violations.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

// Violation is one broken rule. Rule ids are stable:
//
//	module.empty       the file has 0 bytes
//	module.invalid     not a WebAssembly module, or one wazero rejects
//	module.unsupported uses a proposal the metering cannot instrument
//	module.limit       the module declares more than a module limit allows
//	                   (sandbox.ModuleLimits); it is not compiled
//	manifest.missing   no passerelle.manifest custom section
//	manifest.invalid   the manifest is not valid JSON or breaks a rule
//	limits.max         the manifest asks for more than a limit's ceiling (sandbox.Config.Max or BuiltinMax)
//	memory.limit       the module declares more memory than its limit
//	export.memory      no exported memory named "memory"
//	export.on_event    no passerelle_v1_on_event export
//	export.signature   an ABI export has the wrong signature
//	export.start       the module exports _start (a command, not a reactor)
//	import.unknown     an import the host does not offer
//	import.wasi        a WASI preview 1 function the host does not offer (files, sockets)
//	import.signature   an offered import imported with the wrong signature
//	import.permission  a host operation the manifest does not grant
type Violation struct {
	Rule    string // stable id, e.g. "export.on_event", "import.unknown", "import.permission"
	Where   string // e.g. `import "env"."foo"`
	Problem string // what is wrong
	Fix     string // how to fix it
}

// PoolStats are an app's instance and failure counters.
type PoolStats struct {
	Size      int    // most instances that may exist at once (sandbox.Config.PoolSize)
	Idle      int    // instantiated and waiting for an event
	Busy      int    // running an event
	Events    uint64 // events dispatched
	Created   uint64 // instances made
	Discarded uint64 // instances closed: after a failure, when recycled, or by Close
	Recycled  uint64 // instances closed after an event because their memory grew past the soft threshold
	Traps     uint64 // events that trapped (or failed to instantiate)
	Deadlines uint64 // events stopped at their deadline
	Memory    uint64 // events that failed at the memory cap
	Quotas    uint64 // events stopped for host calls, call, event or log bytes, fuel or call depth
	ABI       uint64 // events stopped for an ABI violation
	Guest     uint64 // events whose on_event returned non-zero (instance kept)
}

// ErrClosed is returned by an Engine or App used after Close.
var ErrClosed = &host.Error{Status: host.StatusUnavailable, Message: "sandbox: closed; the server is shutting down, retry in a moment"}

// ErrRejected is the kind of every *CheckError: a module that may not be
// loaded. Its Code is the HTTP API's "module_rejected".
var ErrRejected = &host.Error{Status: host.StatusBadRequest, Code: "module_rejected", Message: "module rejected"}

// ErrStartFailed is the kind of a module that passed its check but could
// not be compiled or started within its limits, or broke an ABI rule while
// starting: the service loading an upload wraps the *LimitError,
// *TrapError or *ABIError with it (fmt.Errorf("%w: %w", ErrStartFailed,
// err)), so both stay reachable. Its Code is the HTTP API's
// "module_failed".
var ErrStartFailed = &host.Error{Status: host.StatusBadRequest, Code: "module_failed", Message: "the module could not be started"}

// CheckError is returned by Load for a module that breaks ABI v1 or whose
// manifest is missing, invalid or asks for more than the operator allows.
// Report lists every violation.
type CheckError struct {
	Report *Report
}

func (e *CheckError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "module rejected (%d problems):", len(e.Report.Violations))
	for _, v := range e.Report.Violations {
		fmt.Fprintf(&b, " [%s] %s: %s;", v.Rule, v.Where, v.Problem)
	}
	b.WriteString(" run `passerelle app check` for how to fix each")
	return b.String()
}

// Unwrap returns ErrRejected, which carries the error's status and code.
func (e *CheckError) Unwrap() error { return ErrRejected }

// Limit names used in LimitError.Limit.
const (
	LimitDeadline   = "deadline"
	LimitMemory     = "memory"
	LimitHostCalls  = "host_calls"
	LimitCallBytes  = "call_bytes"
	LimitEventBytes = "event_bytes"
	LimitLogBytes   = "log_bytes"
	LimitFuel       = "fuel"       // the event's CPU budget (Limits.EventFuelMillions)
	LimitCallDepth  = "call_depth" // sandbox.MaxCallDepth
)

// LimitError says which limit an event exceeded and by how much. The event
// was stopped and its instance discarded.
type LimitError struct {
	Limit string // one of the Limit* names
	Max   uint64 // the limit in force
	Got   uint64 // what the event used or asked for
	Unit  string // "ms", "pages", "calls", "bytes", "fuel"
}

func (e *LimitError) Error() string {
	if e.Limit == LimitMemory && e.Got <= e.Max {
		return fmt.Sprintf("memory: %d %s in use reached limit %d %s and the guest could not grow its memory",
			e.Got, e.Unit, e.Max, e.Unit)
	}
	return fmt.Sprintf("%s: %d %s > limit %d %s", e.Limit, e.Got, e.Unit, e.Max, e.Unit)
}

// TrapError is returned when the guest trapped (unreachable, division by
// zero, stack overflow, out-of-bounds memory access...), exited, or failed
// while being instantiated. The instance was discarded.
type TrapError struct {
	Reason string
}

func (e *TrapError) Error() string { return "guest trapped: " + e.Reason }

// ABIError is returned when the guest broke the ABI during an event: a
// pointer or length outside its memory, a request that is not valid UTF-8
// JSON, a host call outside an event. The instance was discarded.
type ABIError struct {
	Rule    string // e.g. "pointer.range", "request.utf8", "request.json"
	Problem string
}

func (e *ABIError) Error() string { return "ABI violation " + e.Rule + ": " + e.Problem }

// GuestError is returned when passerelle_v1_on_event returned a non-zero
// status. The instance stays in the pool.
type GuestError struct {
	Status uint32
}

func (e *GuestError) Error() string {
	return fmt.Sprintf("guest returned status %d from passerelle_v1_on_event", e.Status)
}

// FailureKind names the failure err stands for, the one place that does
// (figures, app logs, metrics): "" for nil, the limit name for a
// *LimitError (deadline, memory, host_calls, ...),
// "trap", "abi", "guest", "canceled" or "internal".
func FailureKind(err error) string {
	var (
		le *LimitError
		te *TrapError
		ae *ABIError
		ge *GuestError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &le):
		return le.Limit
	case errors.As(err, &te):
		return "trap"
	case errors.As(err, &ae):
		return "abi"
	case errors.As(err, &ge):
		return "guest"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "internal"
	}
}
