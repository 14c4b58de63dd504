package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/meter"
	"github.com/passerelle/passerelle/runtime/sandbox/report"
)

// App is one loaded version of a mini-app: its own wazero Runtime (with the
// version's memory cap), its compiled module and a bounded pool of warm
// instances. At most PoolSize events of one App run at once; more wait for
// a free instance. It is safe for concurrent use.
type App struct {
	engine   *Engine
	ref      host.AppRef
	manifest host.Manifest
	limits   host.Limits
	perms    []host.Permission
	log      *slog.Logger
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	timeout  time.Duration
	softMem  uint32 // bytes; an instance above it is recycled after its event

	// Every one of the PoolSize places is either an idle instance in idle,
	// a token in free (an instance may be made), or held by a Dispatch.
	idle    chan *instance
	free    chan struct{}
	closing chan struct{}
	closed  atomic.Bool

	stats struct {
		live, busy                       atomic.Int64
		created, discarded, recycled     atomic.Uint64
		traps, deadlines, memory, quotas atomic.Uint64
		abi, guest, events               atomic.Uint64
	}
}

// PoolStats are an app's instance and failure counters (package report).
type PoolStats = report.PoolStats

// Event is one event to dispatch.
type Event struct {
	Payload []byte          // the guest-visible JSON (an encoded host.Event)
	Caller  host.Caller     // the runtime fills Caller.App and Caller.Permissions
	Out     host.Outbox     // where host APIs emit messages/prompts; nil discards
	Trace   func(CallTrace) // optional; called after every host call (dev tool)
	// Released, if set, is called once the guest is done with the event
	// and its instance is back in the pool, before Dispatch waits for the
	// store to take what the event sent: a scheduler can start another
	// event of the app meanwhile.
	Released func()
	// Tx, when not nil, is the event's transaction: the host services
	// stage the event's effects in it (host.Call.Tx) and the guest's log
	// lines wait in it for the commit; the caller commits or drops it
	// once Dispatch returned. Nil: effects happen as the calls are made.
	Tx *host.Tx
	// Clock and Seed are the event's time and randomness (determinism.go):
	// the guest's clock starts at Clock and random_get reads a stream
	// seeded with Seed. Dispatch sets them when zero (to now and a random
	// seed); a recorder reads them back from the Event afterwards.
	Clock time.Time
	Seed  uint64
	// Answer, when not nil, answers the event's host calls instead of the
	// host services (a replay from a recording, runtime/replay): it gets
	// the operation and request of each call its permission allows and
	// returns the response and status the guest sees.
	Answer func(op string, req []byte) ([]byte, host.Status)
}

// CallTrace describes one host call. Request and Response must not be
// modified or kept past the Trace call.
type CallTrace struct {
	Op                string
	Request, Response []byte
	Status            host.Status
	Duration          time.Duration
}

// Result describes a dispatched event.
type Result struct {
	Status    uint32 // what on_event returned
	HostCalls int
	Fuel      uint64 // fuel units the event used (sdk/ABI.md)
	BytesIn   int    // event payload and host call results
	BytesOut  int    // host call requests
	Duration  time.Duration
}

// Load checks wasm, compiles it (through the compilation cache) into a
// Runtime of its own and makes one warm instance. A module with violations
// returns *CheckError; a module that fails to start (its start function or
// _initialize traps or runs past StartFactor deadlines) returns *TrapError or
// *LimitError. ref.App and ref.Version are taken from the manifest where
// empty.
func (e *Engine) Load(ctx context.Context, ref host.AppRef, wasm []byte) (*App, error) {
	if e.isClosed.Load() {
		return nil, ErrClosed
	}
	rep, checked, metered, limits := e.inspect(ctx, wasm)
	if checked != nil {
		defer checked.Close(ctx)
	}
	if len(rep.Violations) > 0 {
		return nil, &CheckError{Report: rep}
	}
	m := *rep.Manifest
	if ref.App == "" {
		ref.App = m.ID
	}
	if ref.Version == "" {
		ref.Version = m.Version
	}
	a := &App{
		engine:   e,
		ref:      ref,
		manifest: m,
		limits:   limits,
		perms:    append([]host.Permission(nil), m.Permissions...),
		log:      e.log.With("app", ref.String()),
		timeout:  time.Duration(limits.EventTimeoutMS) * time.Millisecond,
		softMem:  uint32(uint64(limits.MemoryPages) * 65536 * 3 / 4),
		idle:     make(chan *instance, e.cfg.PoolSize),
		free:     make(chan struct{}, e.cfg.PoolSize),
		closing:  make(chan struct{}),
	}
	a.rt = wazero.NewRuntimeWithConfig(ctx, e.rtc.WithMemoryLimitPages(limits.MemoryPages))
	if err := a.prepare(ctx, metered); err != nil {
		_ = a.rt.Close(ctx)
		return nil, err
	}
	inst, err := a.newInstance()
	if err != nil {
		_ = a.rt.Close(ctx)
		return nil, err
	}
	a.idle <- inst
	for i := 1; i < e.cfg.PoolSize; i++ {
		a.free <- struct{}{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		a.closeInstance(inst)
		_ = a.rt.Close(ctx)
		return nil, ErrClosed
	}
	e.apps[a] = struct{}{}
	return a, nil
}

// prepare instantiates WASI and the host modules in the app's runtime and
// compiles the metered guest (a cache hit after inspect).
func (a *App) prepare(ctx context.Context, wasm []byte) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, a.rt); err != nil {
		return fmt.Errorf("sandbox: instantiate WASI: %w", err)
	}
	if err := meterHost(ctx, a.rt); err != nil {
		return fmt.Errorf("sandbox: instantiate the meter: %w", err)
	}
	b := a.rt.NewHostModuleBuilder(HostModule)
	for _, imp := range a.engine.imports {
		b.NewFunctionBuilder().WithGoModuleFunction(imp.fn, imp.params, imp.results).
			WithParameterNames(imp.pnames...).Export(imp.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("sandbox: instantiate %s: %w", HostModule, err)
	}
	cm, err := a.rt.CompileModule(ctx, wasm)
	if err != nil {
		return fmt.Errorf("sandbox: compile %s: %w", a.ref, err)
	}
	a.compiled = cm
	return nil
}

// Ref returns the app version's reference.
func (a *App) Ref() host.AppRef { return a.ref }

// Manifest returns the app's manifest.
func (a *App) Manifest() host.Manifest {
	m := a.manifest
	m.Permissions = append([]host.Permission(nil), m.Permissions...)
	return m
}

// Limits returns the limits in force for this app version.
func (a *App) Limits() host.Limits { return a.limits }

// Stats returns the app's pool and failure counters.
func (a *App) Stats() PoolStats {
	live, busy := a.stats.live.Load(), a.stats.busy.Load()
	idle := live - busy
	if idle < 0 {
		idle = 0
	}
	return PoolStats{
		Size: cap(a.idle), Idle: int(idle), Busy: int(busy),
		Events:  a.stats.events.Load(),
		Created: a.stats.created.Load(), Discarded: a.stats.discarded.Load(), Recycled: a.stats.recycled.Load(),
		Traps: a.stats.traps.Load(), Deadlines: a.stats.deadlines.Load(), Memory: a.stats.memory.Load(),
		Quotas: a.stats.quotas.Load(), ABI: a.stats.abi.Load(), Guest: a.stats.guest.Load(),
	}
}

// Close stops accepting events, waits (until ctx is done) for running ones
// and closes the app's runtime. Events still running when ctx ends are
// stopped.
func (a *App) Close(ctx context.Context) error {
	if !a.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(a.closing)
drain:
	for range cap(a.idle) {
		select {
		case inst := <-a.idle:
			a.closeInstance(inst)
		case <-a.free:
		case <-ctx.Done():
			break drain
		}
	}
	e := a.engine
	e.mu.Lock()
	delete(e.apps, a)
	e.mu.Unlock()
	err := a.rt.Close(e.baseCtx)
	// Instances left idle when ctx ended are not running: release them.
	// Those still running are released when their Dispatch returns.
	for {
		select {
		case inst := <-a.idle:
			a.closeInstance(inst)
		default:
			return err
		}
	}
}

// Dispatch runs one event on a warm instance. It waits for a free instance
// if PoolSize events already run, until ctx is done. The event stops at the
// app's deadline or ctx's deadline, whichever is first; a cancelled ctx is
// noticed at the next host call or refill (meter.go). A failure that leaves the instance in an
// unknown state (trap, limit, ABI violation) discards it.
func (a *App) Dispatch(ctx context.Context, ev *Event) (Result, error) {
	if ev == nil {
		return Result{}, errors.New("sandbox: Dispatch needs an event")
	}
	if n := uint64(len(ev.Payload)); n > uint64(a.limits.EventBytes) {
		return Result{}, &LimitError{Limit: LimitEventBytes, Max: uint64(a.limits.EventBytes), Got: n, Unit: "bytes"}
	}
	inst, err := a.acquire(ctx)
	if err != nil {
		return Result{}, err
	}
	a.stats.events.Add(1)
	if inst == nil {
		if inst, err = a.newInstance(); err != nil {
			a.free <- struct{}{}
			return Result{}, err
		}
	}
	a.stats.busy.Add(1)
	res, keep, err := inst.run(ctx, ev)
	pending := inst.call.TakePending()
	inst.call = host.Call{}
	a.stats.busy.Add(-1)
	if keep && !a.closed.Load() {
		a.idle <- inst
	} else {
		a.closeInstance(inst)
		a.free <- struct{}{}
	}
	if ev.Released != nil {
		ev.Released()
	}
	// The messages the event queued are stored while the instance serves
	// the next event; the event is done once they are.
	if werr := pending.Wait(); werr != nil && err == nil {
		err = fmt.Errorf("sandbox: storing what the event sent: %w", werr)
	}
	return res, err
}

// acquire returns an idle instance, or nil when the caller may make one.
// Idle instances are preferred so that the pool stays warm.
func (a *App) acquire(ctx context.Context) (*instance, error) {
	if a.closed.Load() {
		return nil, ErrClosed
	}
	var inst *instance
	select {
	case inst = <-a.idle:
	default:
		select {
		case inst = <-a.idle:
		case <-a.free:
		case <-a.closing:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, fmt.Errorf("sandbox: waiting for a free instance of %s: %w", a.ref, ctx.Err())
		}
	}
	if a.closed.Load() {
		if inst != nil {
			a.closeInstance(inst)
		}
		a.free <- struct{}{}
		return nil, ErrClosed
	}
	return inst, nil
}

// instance is one instantiated guest. It runs one event at a time.
type instance struct {
	app     *App
	mod     api.Module
	mem     api.Memory
	memory  *guestMemory // what mem lives in; released by closeInstance
	onEvent api.Function
	ctx     context.Context   // carries the instance; reused for every event
	fuel    api.MutableGlobal // the metering counter (runtime/meter)
	stack   []uint64
	memInit uint32 // memory size in bytes once started

	// deadline is the event's deadline in engine nanoseconds, 0 when idle
	// and killed once refill found it passed.
	deadline atomic.Int64

	// Per-event state, set by run and read by host functions on the same
	// goroutine.
	ev       *Event
	evCtx    context.Context
	call     host.Call
	hostLog  *slog.Logger // host.Call.Log: the app's log (hostLogHandler)
	result   []byte
	abort    error
	calls    uint32
	bytesIn  uint64
	bytesOut uint64
	logBytes uint64
	// Fuel of the event handed to the guest so far, and not yet handed.
	fuelGranted, fuelLeft int64

	clock eventClock // the event's clock and random stream (determinism.go)
	made  time.Time  // when the instance was made

	stdout, stderr stream
	logs           []LogRecord // the event's lines, held for its commit (keepLogs)
}

const killed = -1

type discardOutbox struct{}

func (discardOutbox) Emit(context.Context, host.Outgoing) error { return nil }

// newInstance instantiates the guest and calls _initialize, both bounded by
// the app's deadline.
func (a *App) newInstance() (*instance, error) {
	e := a.engine
	inst := &instance{app: a, stack: make([]uint64, 1), memory: &guestMemory{}, made: time.Now()}
	inst.stdout = stream{inst: inst, source: "stdout", level: slog.LevelInfo}
	inst.stderr = stream{inst: inst, source: "stderr", level: slog.LevelWarn}
	inst.hostLog = slog.New(&hostLogHandler{inst: inst})
	inst.ctx = context.WithValue(e.baseCtx, instanceKey{}, inst)
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(&inst.stdout).
		WithStderr(&inst.stderr).
		WithWalltime(inst.walltime, 1).
		WithNanotime(inst.nanotime, 1).
		WithRandSource(randSource{inst})

	start := time.Now() // before the timer starts: took is never below the limit
	ctx, cancel := context.WithTimeout(inst.ctx, a.startTimeout())
	defer cancel()
	mod, err := a.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, inst.memory.allocator()), a.compiled, cfg)
	if err == nil {
		inst.mod = mod
		if init := mod.ExportedFunction(ExportInitialize); init != nil {
			_, err = init.Call(ctx)
		}
	}
	inst.stdout.flush("")
	inst.stderr.flush("")
	if err != nil {
		if mod != nil {
			_ = mod.Close(e.baseCtx)
		}
		inst.memory.release()
		a.stats.traps.Add(1)
		var ferr error
		if ctx.Err() != nil {
			ms := uint64((time.Since(start) + time.Millisecond - 1) / time.Millisecond)
			ferr = &LimitError{Limit: LimitDeadline, Max: uint64(a.startTimeout() / time.Millisecond), Got: ms, Unit: "ms"}
		} else if inst.abort != nil {
			ferr = inst.abort
		} else {
			ferr = &TrapError{Reason: "while starting: " + reason(err)}
		}
		a.emitLog(slog.LevelError, "failure", ferr.Error(), "")
		return nil, ferr
	}
	inst.mem = mod.Memory()
	inst.memInit = inst.mem.Size()
	inst.fuel = mod.ExportedGlobal(meter.ExportFuel).(api.MutableGlobal)
	inst.onEvent = mod.ExportedFunction(ExportOnEvent)
	a.stats.live.Add(1)
	a.stats.created.Add(1)
	return inst, nil
}

// StartFactor is how many event deadlines an instance's start may take:
// wazero's instantiation (the memory and its data segments, copied by the
// host, which a loaded machine slows), the module's start function and
// _initialize. A start is not an event: counted against one event's
// deadline, an app whose start takes half of it failed now and then on a
// busy host, through no fault of its own. A start that loops is still
// stopped, after StartFactor deadlines.
const StartFactor = 10

// startTimeout bounds the making of one instance.
func (a *App) startTimeout() time.Duration { return StartFactor * a.timeout }

func (a *App) closeInstance(inst *instance) {
	_ = inst.mod.Close(a.engine.baseCtx)
	inst.memory.release() // no call runs on inst any more
	a.stats.live.Add(-1)
	a.stats.discarded.Add(1)
}

// run dispatches ev on inst. keep reports whether inst may serve again.
func (inst *instance) run(ctx context.Context, ev *Event) (res Result, keep bool, err error) {
	a := inst.app
	e := a.engine
	start := time.Now()
	out := ev.Out
	if out == nil {
		out = discardOutbox{}
	}
	inst.ev, inst.evCtx = ev, ctx
	inst.beginClock(ev)
	defer inst.endClock()
	inst.call = host.Call{Caller: ev.Caller, Out: out, Log: inst.hostLog, Now: start, Tx: ev.Tx}
	inst.call.Caller.App = a.ref
	inst.call.Caller.Permissions = a.perms
	inst.result, inst.abort = nil, nil
	inst.calls, inst.bytesIn, inst.bytesOut, inst.logBytes = 0, uint64(len(ev.Payload)), 0, 0
	inst.stack[0] = uint64(len(ev.Payload))
	inst.startFuel()

	// The event may run for the app's timeout or until ctx's deadline,
	// whichever comes first.
	allowed := a.timeout
	if d, ok := ctx.Deadline(); ok {
		allowed = min(allowed, time.Until(d))
	}
	deadline := max(e.now()+int64(allowed), 1)
	inst.deadline.Store(deadline)
	callErr := inst.onEvent.CallWithStack(inst.ctx, inst.stack)
	// refill marks the instance killed when it stops the event.
	timedOut := !inst.deadline.CompareAndSwap(deadline, 0)
	res = Result{
		HostCalls: int(inst.calls),
		Fuel:      inst.fuelUsed(),
		BytesIn:   int(inst.bytesIn),
		BytesOut:  int(inst.bytesOut),
		Duration:  time.Since(start),
	}
	eventID := ev.Caller.EventID
	if len(inst.stdout.buf) > 0 || len(inst.stderr.buf) > 0 {
		inst.stdout.flush(eventID)
		inst.stderr.flush(eventID)
	}
	inst.ev, inst.evCtx, inst.result = nil, nil, nil
	// inst.call keeps the queued messages for Dispatch, which clears it.
	succeeded := callErr == nil && !timedOut && uint32(inst.stack[0]) == 0
	inst.keepLogs(ev.Tx, succeeded)

	if callErr == nil && !timedOut {
		res.Status = uint32(inst.stack[0])
		keep = true
		if size := inst.mem.Size(); size > a.softMem && size > inst.memInit {
			keep = false
			a.stats.recycled.Add(1)
		}
		if res.Status != 0 {
			a.stats.guest.Add(1)
			return res, keep, &GuestError{Status: res.Status}
		}
		return res, keep, nil
	}
	err = inst.classify(callErr, timedOut, allowed, res.Duration)
	a.emitLog(slog.LevelError, "failure", err.Error(), eventID)
	return res, false, err
}

// classify turns the error of a failed event into the typed error the
// caller gets, and counts it.
func (inst *instance) classify(callErr error, timedOut bool, allowed, took time.Duration) error {
	a := inst.app
	st := &a.stats
	switch {
	case timedOut:
		st.deadlines.Add(1)
		// Round the allowance down and the time taken up, so that the
		// message never reads "1000 ms > limit 1000 ms".
		ms := uint64(max(allowed, 0) / time.Millisecond)
		got := max(uint64((took+time.Millisecond-1)/time.Millisecond), ms+1)
		return &LimitError{Limit: LimitDeadline, Max: ms, Got: got, Unit: "ms"}
	case a.closed.Load():
		return fmt.Errorf("%w: %s was closed while the event ran", ErrClosed, a.ref)
	case inst.abort != nil:
		var le *LimitError
		var ae *ABIError
		switch {
		case errors.As(inst.abort, &le):
			st.quotas.Add(1)
		case errors.As(inst.abort, &ae):
			st.abi.Add(1)
		default:
			st.traps.Add(1)
		}
		return inst.abort
	}
	// A guest whose memory is at (or within 1/16 of) the cap when it fails
	// most likely failed because memory.grow was refused.
	pages := uint64(inst.mem.Size() / 65536)
	if max := uint64(a.limits.MemoryPages); pages*16 >= max*15 {
		st.memory.Add(1)
		return &LimitError{Limit: LimitMemory, Max: max, Got: pages, Unit: "pages"}
	}
	st.traps.Add(1)
	var exit *sys.ExitError
	if errors.As(callErr, &exit) {
		return &TrapError{Reason: fmt.Sprintf("the module exited with code %d", exit.ExitCode())}
	}
	return &TrapError{Reason: reason(callErr)}
}

// reason returns the first line of a wazero error (the rest is a stack trace).
func reason(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimPrefix(s, "wasm error: ")
}
