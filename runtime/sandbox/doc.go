// Package sandbox runs Passerelle mini-apps: WebAssembly modules that speak
// the guest ABI passerelle_v1 (sdk/ABI.md), on wazero.
//
// It is the only package that knows wazero. The package is not called
// "runtime" so that it does not shadow the standard library's.
//
// # Engine and apps
//
// An Engine holds the configuration that every app shares: the host
// operations offered (host.Func), default limits and the operator's caps,
// and one wazero compilation cache (on disk when Config.CacheDir is set, so
// that a restart does not recompile). Engine.Load checks a module, compiles
// it and returns an App: one app version with its own wazero Runtime, so
// apps never share a module namespace, and with that version's memory cap.
//
// # Instances
//
// An App keeps at most Config.PoolSize instances: Load makes the first, the
// others are made on demand and kept warm between events. An instance runs
// one event at a time; when all are busy, Dispatch waits for one (until its
// context is done), so one app cannot grow without bound. Guests are
// instantiated without a name (nothing can import them), with WASI offering
// no filesystem, no environment and no arguments; inside an event the
// clock and randomness are the event's (Event.Clock, Event.Seed,
// determinism.go), so that a recorded event replays the same; stdout and
// stderr are captured, bounded, into the app log, and so is what a host
// function says about the app's call through host.Call.Log (source
// "host": a refused message and its code). A module's start function and
// _initialize run once, when the
// instance is made, within StartFactor event deadlines (a start is not an
// event: the host's own copying of memory counts in it); a module
// exporting _start is rejected.
//
// App.Prewarm makes instances ahead of traffic (after an upload, or before
// an expected burst), so that those events do not pay for instantiation;
// App.Trim closes idle instances of an app version that has gone quiet.
//
// A host API that sends a message calls host.Call.Emit; when the event's
// Outbox is a host.Queuer the message is only queued. Dispatch gives the
// instance back as soon as the guest returns and then waits for what the
// event queued to be stored, so an instance is never held while the store
// syncs; Dispatch fails if the store does.
//
// On Linux an instance's linear memory is one anonymous mapping the size of
// its memory cap, reserved but not committed (memory*.go): memory.grow
// lengthens it in place instead of copying, the pages of a growth are
// committed in one call, and closing the instance returns them to the
// system. wazero frees a module's memory when the module closes, which
// App.Close may do while the guest runs; the sandbox unmaps only once no
// call can be running on the instance. Elsewhere guest memory is on the Go heap.
//
// An instance that traps, breaks the ABI or exceeds a limit is closed and
// replaced by a fresh one at the next event; so is one whose memory grew
// past three quarters of its cap. A guest that returns a non-zero status
// keeps its instance.
//
// # Limits
//
// Each App has effective limits (App.Limits): the manifest's values where
// set, else Config.Defaults, else the built-in defaults (64 MiB of memory,
// 1 s per event, 1000 host calls, 256 KiB per call, 4 MiB per event, 64 KiB
// of log, 2·10¹⁰ fuel units per event). A manifest asking above a limit's
// ceiling (Config.Max, else BuiltinMax) fails Check and Load with rule
// limits.max. Before compiling, Check and Load count what the module
// declares (wasmfile.ReadShape) and refuse one over a ModuleLimit (rule
// module.limit), so that checking a module costs bounded time and memory.
// Every breach is a *LimitError naming the limit, the allowance and what
// was used.
//
// Metering: Load and Check instrument every module (package runtime/meter)
// before compiling it, so the compilation cache holds the metered module.
// The guest counts fuel at function entries and loop headers and returns to
// Go (passerelle_meter.refill) at least every 2^20 units, well under a
// millisecond of compute; there the event's deadline, its caller's context,
// App.Close and the event's fuel budget (Limits.EventFuelMillions) are
// checked. This holds for every code shape: loops, call trees without a
// loop, deep recursion, long straight-line code. A call nested deeper than
// MaxCallDepth stops the event with LimitError "call_depth", which bounds
// the guest's stack memory. Result.Fuel is what the event used.
//
// Deadlines are therefore checked by the guest's own refill calls: no
// watchdog, no timer and no goroutine per event. Guest code is compiled
// without wazero's termination checks (WithCloseOnContextDone), which only
// looked at loop back-edges and made wazero start a goroutine on every
// call.
//
// Compiled guest code is not preempted by the Go scheduler, but a metered
// guest reaches Go at every refill: a garbage collection waits for a
// running guest at most one refill interval, not until its deadline.
//
// # Errors
//
// Dispatch returns *LimitError, *TrapError, *ABIError (a pointer outside
// memory, a request that is not UTF-8 JSON), *GuestError (on_event returned
// non-zero) or ErrClosed. Load returns *CheckError with every violation
// Check would report. These types live in package report (aliased here), so
// that a caller that only reads them builds without wazero; ErrClosed and
// *CheckError carry a *host.Error (unavailable; bad_request with Code
// "module_rejected"), and ErrStartFailed ("module_failed") is the kind a
// loader wraps a start failure with. Failures are also sent to Config.AppLog with source
// "failure".
//
// # Host calls
//
// Each host.Func becomes the import passerelle_v1.<ImportName(Op)>. A module
// importing an operation its manifest does not grant is rejected at Load
// (rule "import.permission"), and each call checks the permission again.
// The handler gets the Dispatch context and a *host.Call whose Caller.App
// and Caller.Permissions the runtime filled in. The *host.Call belongs to
// the instance and is reused: a handler must not keep it after returning.
// The request bytes are the handler's own copy. A handler that panics is
// reported to the guest as StatusInternal and logged.
//
// Guest memory is never trusted: every pointer and length is checked
// against the memory's size, bytes are copied out before use, and requests
// must be valid UTF-8 JSON. Host calls from a start function or _initialize
// are refused (rule "call.outside_event").
package sandbox

//go:generate sh -c "cd testdata && for f in *.wat; do wat2wasm $DOLLAR{f} -o $DOLLAR{f%.wat}.wasm; done"
