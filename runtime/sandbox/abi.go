package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/passerelle/passerelle/host"
)

// HostModule is the module name of the host imports.
const HostModule = "passerelle_v1"

// Names of the guest exports the ABI knows.
const (
	ExportMemory     = "memory"
	ExportOnEvent    = "passerelle_v1_on_event"
	ExportInitialize = "_initialize"
	ExportStart      = "_start"
)

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// hostImport is one function of the passerelle_v1 host module.
type hostImport struct {
	name    string
	fn      api.GoModuleFunc
	params  []api.ValueType
	pnames  []string
	results []api.ValueType
	perm    host.Permission
}

func (h hostImport) sig() signature { return signature{h.params, h.results} }

func isBuiltin(name string) bool {
	return name == "event_read" || name == "result_read" || name == "log"
}

func builtinImports() []hostImport {
	return []hostImport{
		{name: "event_read", fn: eventRead, params: []api.ValueType{i32, i32}, pnames: []string{"ptr", "len"}, results: []api.ValueType{i32}},
		{name: "result_read", fn: resultRead, params: []api.ValueType{i32, i32}, pnames: []string{"ptr", "len"}, results: []api.ValueType{i32}},
		{name: "log", fn: logLine, params: []api.ValueType{i32, i32, i32}, pnames: []string{"level", "ptr", "len"}},
	}
}

func opImport(name string, f *host.Func) hostImport {
	return hostImport{
		name:    name,
		fn:      func(ctx context.Context, _ api.Module, stack []uint64) { instanceOf(ctx).hostCall(f, stack) },
		params:  []api.ValueType{i32, i32},
		pnames:  []string{"req_ptr", "req_len"},
		results: []api.ValueType{i64},
		perm:    f.Permission,
	}
}

type instanceKey struct{}

func instanceOf(ctx context.Context) *instance {
	return ctx.Value(instanceKey{}).(*instance)
}

// event_read(ptr, len) -> copied
func eventRead(ctx context.Context, _ api.Module, stack []uint64) {
	inst := instanceOf(ctx)
	ev := inst.mustEvent("event_read")
	stack[0] = uint64(inst.copyOut("event_read", uint32(stack[0]), uint32(stack[1]), ev.Payload))
}

// result_read(ptr, len) -> copied
func resultRead(ctx context.Context, _ api.Module, stack []uint64) {
	inst := instanceOf(ctx)
	inst.mustEvent("result_read")
	stack[0] = uint64(inst.copyOut("result_read", uint32(stack[0]), uint32(stack[1]), inst.result))
}

// log(level, ptr, len)
func logLine(ctx context.Context, _ api.Module, stack []uint64) {
	inst := instanceOf(ctx)
	inst.mustEvent("log")
	level, ptr, n := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	inst.chargeLog(uint64(n))
	var b []byte
	if n > 0 { // a zero length is valid with any pointer
		var ok bool
		if b, ok = inst.mem.Read(ptr, n); !ok {
			inst.fail(outOfRange("log", ptr, n, inst.mem.Size()))
		}
	}
	// A log line is text for people: invalid UTF-8 is replaced, not fatal.
	msg := string(b)
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "\uFFFD")
	}
	lvl := slog.LevelInfo
	switch level {
	case 0:
		lvl = slog.LevelDebug
	case 2:
		lvl = slog.LevelWarn
	case 3:
		lvl = slog.LevelError
	}
	inst.guestLog(lvl, "log", msg, inst.call.Caller.EventID)
}

func outOfRange(what string, ptr, n, size uint32) *ABIError {
	return &ABIError{Rule: "pointer.range", Problem: fmt.Sprintf(
		"%s: bytes [%d, %d) lie outside guest memory of %d bytes", what, ptr, uint64(ptr)+uint64(n), size)}
}

// mustEvent aborts a host call made outside an event (from a start
// function or _initialize).
func (inst *instance) mustEvent(what string) *Event {
	if inst.ev == nil {
		inst.fail(&ABIError{Rule: "call.outside_event", Problem: what + " called outside passerelle_v1_on_event; host calls are only allowed while an event runs"})
	}
	return inst.ev
}

// copyOut copies min(n, len(src)) bytes of src to guest memory at ptr. The
// whole declared range [ptr, ptr+n) must lie in memory (ABI.md, Memory
// rules), however few bytes are copied: a guest that names a range past
// its memory is told so on its first event, not when a longer one comes.
func (inst *instance) copyOut(what string, ptr, n uint32, src []byte) uint32 {
	if n == 0 {
		return 0
	}
	if size := inst.mem.Size(); uint64(ptr)+uint64(n) > uint64(size) {
		inst.fail(outOfRange(what, ptr, n, size))
	}
	if uint64(n) > uint64(len(src)) {
		n = uint32(len(src))
	}
	if n > 0 && !inst.mem.Write(ptr, src[:n]) {
		inst.fail(outOfRange(what, ptr, n, inst.mem.Size()))
	}
	return n
}

// hostCall serves one host operation: stack holds (req_ptr, req_len) and
// receives status<<32 | result length.
func (inst *instance) hostCall(f *host.Func, stack []uint64) {
	ev := inst.mustEvent(f.Op)
	ptr, n := uint32(stack[0]), uint32(stack[1])
	lim := &inst.app.limits
	inst.calls++
	if inst.calls > lim.HostCallsPerEvent {
		inst.fail(&LimitError{Limit: LimitHostCalls, Max: uint64(lim.HostCallsPerEvent), Got: uint64(inst.calls), Unit: "calls"})
	}
	if n > lim.CallBytes {
		inst.fail(&LimitError{Limit: LimitCallBytes, Max: uint64(lim.CallBytes), Got: uint64(n), Unit: "bytes"})
	}
	inst.chargeEvent(uint64(n), &inst.bytesOut)
	var view []byte
	if n > 0 { // a zero length is valid with any pointer (and not JSON)
		var ok bool
		if view, ok = inst.mem.Read(ptr, n); !ok {
			inst.fail(outOfRange(f.Op+" request", ptr, n, inst.mem.Size()))
		}
	}
	if !utf8.Valid(view) {
		inst.fail(&ABIError{Rule: "request.utf8", Problem: f.Op + " request is not valid UTF-8"})
	}
	if !json.Valid(view) {
		inst.fail(&ABIError{Rule: "request.json", Problem: f.Op + " request is not valid JSON"})
	}
	req := make([]byte, len(view))
	copy(req, view)

	if err := inst.evCtx.Err(); err != nil {
		inst.fail(fmt.Errorf("sandbox: event abandoned by its caller during %s: %w", f.Op, err))
	}
	var start time.Time
	if ev.Trace != nil {
		start = time.Now()
	}
	var resp []byte
	var err error
	if !inst.call.Caller.Has(f.Permission) {
		err = host.Errorf(host.StatusPermissionDenied, "%s needs the %q permission; add it to the permissions in manifest.json", f.Op, f.Permission)
	} else if ev.Answer != nil {
		var st host.Status
		if resp, st = ev.Answer(f.Op, req); st != host.StatusOK {
			err = &answered{status: st, resp: resp}
		}
	} else {
		resp, err = inst.handle(f, req)
		if err == nil && !json.Valid(resp) {
			err = fmt.Errorf("%s returned a response that is not JSON", f.Op)
		}
	}
	status := host.StatusOK
	if err != nil {
		status = host.StatusOf(err)
		msg := host.MessageOf(err)
		if msg == "" {
			inst.app.engine.log.Error("host function failed", "op", f.Op, "app", inst.app.ref.String(), "err", err)
			msg = "the host failed to serve " + f.Op + "; retry later"
		}
		resp = errorJSON(status, msg)
		if a, ok := err.(*answered); ok && json.Valid(a.resp) {
			resp = a.resp // a recorded error response, as the guest saw it
		}
	}
	if uint64(len(resp)) > uint64(lim.CallBytes) {
		inst.fail(&LimitError{Limit: LimitCallBytes, Max: uint64(lim.CallBytes), Got: uint64(len(resp)), Unit: "bytes"})
	}
	inst.chargeEvent(uint64(len(resp)), &inst.bytesIn)
	inst.result = resp
	if ev.Trace != nil {
		ev.Trace(CallTrace{Op: f.Op, Request: req, Response: resp, Status: status, Duration: time.Since(start)})
	}
	stack[0] = uint64(status)<<32 | uint64(len(resp))
}

// handle runs f's handler, turning a panic (a host bug) into an internal
// error for the guest instead of a failed event.
func (inst *instance) handle(f *host.Func, req []byte) (resp []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s handler panicked: %v", f.Op, r)
		}
	}()
	return f.Handle(inst.evCtx, &inst.call, req)
}

// errorJSON encodes {"status":4,"code":"quota_exceeded","message":"..."}.
func errorJSON(s host.Status, msg string) []byte {
	b := []byte(`{"status":`)
	b = strconv.AppendUint(b, uint64(s), 10)
	b = append(b, `,"code":`...)
	b = strconv.AppendQuote(b, s.String())
	m, _ := json.Marshal(msg)
	b = append(b, `,"message":`...)
	b = append(b, m...)
	return append(b, '}')
}

// chargeEvent adds n bytes to *counter and aborts the event when bytes in
// plus out pass the event limit.
func (inst *instance) chargeEvent(n uint64, counter *uint64) {
	*counter += n
	if total := inst.bytesIn + inst.bytesOut; total > uint64(inst.app.limits.EventBytes) {
		inst.fail(&LimitError{Limit: LimitEventBytes, Max: uint64(inst.app.limits.EventBytes), Got: total, Unit: "bytes"})
	}
}

// chargeLog adds n log bytes and aborts the event past the log limit.
func (inst *instance) chargeLog(n uint64) {
	inst.logBytes += n
	if inst.logBytes > uint64(inst.app.limits.LogBytes) {
		inst.fail(&LimitError{Limit: LimitLogBytes, Max: uint64(inst.app.limits.LogBytes), Got: inst.logBytes, Unit: "bytes"})
	}
}

// abortPanic is what a host function panics with after recording the error.
type abortPanic struct{ err error }

func (p abortPanic) Error() string { return p.err.Error() }

// fail records err as the event's outcome and unwinds the guest.
func (inst *instance) fail(err error) {
	if inst.abort == nil {
		inst.abort = err
	}
	panic(abortPanic{err})
}
