package sandbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/passerelle/passerelle/runtime/meter"
)

// MaxCallDepth is the deepest nesting of wasm calls a guest may reach; one
// call deeper stops the event with LimitError{Limit: "call_depth"}. It
// bounds the stack memory of an instance (sdk/ABI.md, "CPU budget and call
// depth").
const MaxCallDepth = 10000

// refillFuel is the fuel a guest gets at a time. Between two refills it
// runs without returning to Go, so this bounds how late a deadline is
// noticed and how long a garbage collection waits for the guest: 0.1-0.3
// ms of compute on the benchmarks (BENCHMARKS.md, "Metering").
const refillFuel = 1 << 20

// fuelUnit is the unit of Limits.EventFuelMillions.
const fuelUnit = 1_000_000

// instrument adds metering to wasm (package runtime/meter), or reports why
// it cannot.
func (e *Engine) instrument(ctx context.Context, wasm []byte, add func(rule, where, problem, fix string)) []byte {
	out, err := meter.Instrument(wasm, meter.Options{MaxDepth: e.maxDepth})
	switch {
	case err == nil:
		return out
	case errors.Is(err, meter.ErrReserved):
		add("import.unknown", "module", err.Error(),
			fmt.Sprintf("do not import the module %q or export names starting with %q", meter.Module, meter.Module))
	default:
		// Tell a module wazero rejects from one it runs but the
		// instrumentation does not handle.
		if cm, cerr := e.checkRT.CompileModule(ctx, wasm); cerr != nil {
			add("module.invalid", "module", "the module does not compile: "+cerr.Error(),
				"rebuild it with a compiler that targets WebAssembly 2.0 (e.g. GOOS=wasip1 GOARCH=wasm)")
		} else {
			_ = cm.Close(ctx)
			add("module.unsupported", "module", "the module cannot be metered: "+err.Error(),
				"build without the WebAssembly proposals named above (exceptions, tail calls, GC types); "+buildFix)
		}
	}
	return nil
}

// meterHost instantiates the passerelle_meter host module in rt.
func meterHost(ctx context.Context, rt wazero.Runtime) error {
	_, err := rt.NewHostModuleBuilder(meter.Module).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(refill), []api.ValueType{i64}, []api.ValueType{i64}).
		WithParameterNames("left").Export(meter.ImportRefill).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(depthExceeded), nil, nil).Export(meter.ImportDepth).
		Instantiate(ctx)
	return err
}

// refill(left i64) -> i64 is called by the guest when its fuel went below
// zero. It is the guest's regular return to Go: the deadline, the caller's
// context and the event's budget are checked here.
func refill(ctx context.Context, _ api.Module, stack []uint64) {
	stack[0] = uint64(instanceOf(ctx).refill(ctx, int64(stack[0])))
}

func (inst *instance) refill(ctx context.Context, left int64) int64 {
	a := inst.app
	if ctx.Err() != nil { // instantiation's own deadline
		inst.fail(&LimitError{Limit: LimitDeadline, Max: uint64(a.startTimeout().Milliseconds()), Unit: "ms"})
	}
	if d := inst.deadline.Load(); d == killed || d > 0 && a.engine.now() > d && inst.deadline.CompareAndSwap(d, killed) {
		// run sees the deadline gone and reports it.
		inst.fail(&LimitError{Limit: LimitDeadline, Max: uint64(a.limits.EventTimeoutMS), Unit: "ms"})
	}
	if a.closed.Load() { // App.Close stops running events
		inst.fail(fmt.Errorf("%w: %s was closed while the event ran", ErrClosed, a.ref))
	}
	if inst.ev == nil { // starting: only the deadline bounds it
		return left + refillFuel
	}
	if err := inst.evCtx.Err(); err != nil {
		inst.fail(fmt.Errorf("sandbox: event abandoned by its caller: %w", err))
	}
	if inst.fuelLeft <= 0 {
		inst.fail(&LimitError{Limit: LimitFuel, Max: inst.fuelBudget(), Got: uint64(inst.fuelGranted - left), Unit: "fuel"})
	}
	g := min(refillFuel, inst.fuelLeft)
	inst.fuelLeft -= g
	inst.fuelGranted += g
	return left + g
}

// depth_exceeded() is called by the guest instead of going deeper than
// MaxCallDepth.
func depthExceeded(ctx context.Context, _ api.Module, _ []uint64) {
	inst := instanceOf(ctx)
	d := uint64(inst.app.engine.maxDepth)
	inst.fail(&LimitError{Limit: LimitCallDepth, Max: d, Got: d + 1, Unit: "calls"})
}

func (inst *instance) fuelBudget() uint64 {
	return uint64(inst.app.limits.EventFuelMillions) * fuelUnit
}

// startFuel hands the guest its first fuel of an event.
func (inst *instance) startFuel() {
	budget := int64(inst.fuelBudget())
	g := min(refillFuel, budget)
	inst.fuel.Set(uint64(g))
	inst.fuelGranted, inst.fuelLeft = g, budget-g
}

// fuelUsed is the fuel the event used so far.
func (inst *instance) fuelUsed() uint64 {
	return uint64(inst.fuelGranted - int64(inst.fuel.Get()))
}

// compileError returns the error to report for a metered module wazero
// rejected: the original module's own error, whose function indices are
// the merchant's.
func (e *Engine) compileError(ctx context.Context, wasm []byte, metered error) error {
	cm, err := e.checkRT.CompileModule(ctx, wasm)
	if err != nil {
		return err
	}
	_ = cm.Close(ctx)
	return fmt.Errorf("the metered module does not compile although the module does (report this to the platform): %w", metered)
}
