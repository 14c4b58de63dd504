package sandbox

import "github.com/passerelle/passerelle/runtime/sandbox/report"

// The sandbox's errors live in package report, which callers that only
// read them import without wazero; these names keep them where a caller of
// the sandbox looks.
var (
	ErrClosed      = report.ErrClosed
	ErrRejected    = report.ErrRejected
	ErrStartFailed = report.ErrStartFailed
)

type (
	CheckError = report.CheckError
	LimitError = report.LimitError
	TrapError  = report.TrapError
	ABIError   = report.ABIError
	GuestError = report.GuestError
)

// Limit names used in LimitError.Limit.
const (
	LimitDeadline   = report.LimitDeadline
	LimitMemory     = report.LimitMemory
	LimitHostCalls  = report.LimitHostCalls
	LimitCallBytes  = report.LimitCallBytes
	LimitEventBytes = report.LimitEventBytes
	LimitLogBytes   = report.LimitLogBytes
	LimitFuel       = report.LimitFuel
	LimitCallDepth  = report.LimitCallDepth
)

// FailureKind names the failure err stands for; see report.FailureKind.
func FailureKind(err error) string { return report.FailureKind(err) }
