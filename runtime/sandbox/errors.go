package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrClosed is returned by an Engine or App used after Close.
var ErrClosed = errors.New("sandbox: closed")

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

// Limit names used in LimitError.Limit.
const (
	LimitDeadline   = "deadline"
	LimitMemory     = "memory"
	LimitHostCalls  = "host_calls"
	LimitCallBytes  = "call_bytes"
	LimitEventBytes = "event_bytes"
	LimitLogBytes   = "log_bytes"
	LimitFuel       = "fuel"       // the event's CPU budget (Limits.EventFuelMillions)
	LimitCallDepth  = "call_depth" // MaxCallDepth
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
