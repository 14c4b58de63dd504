package sandbox

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// driverWasm is driver.wat compiled: a small module, one instance per guest
// instance, whose run function stays inside one call from Go for the life
// of the instance and calls the guest's on_event for every event. wazero
// starts a watcher goroutine on every call from Go into a module compiled
// with termination checks; going through the driver pays that once per
// instance instead of once per event. See RATIONALE.md.
//
//go:embed driver.wasm
var driverWasm []byte

// driverModule is the name of the host module the driver imports. Guests
// cannot import it: Check rejects every module but passerelle_v1 and
// wasi_snapshot_preview1.
const driverModule = "passerelle_driver"

// driverGuest is the module name the driver imports on_event from; an
// import resolver links it to the driver's own guest instance.
const driverGuest = "guest"

// stopLen is what next returns to stop the driver (-1 as an i32).
const stopLen = 0xffffffff

// driverStopped on resp says that the driver's call ended; drvErr says why.
const driverStopped = 1 << 32

// prepareDriver instantiates the driver's host module in the app's runtime
// and compiles the driver.
func (a *App) prepareDriver(ctx context.Context) error {
	_, err := a.rt.NewHostModuleBuilder(driverModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(driverNext), nil, []api.ValueType{i32}).Export("next").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(driverDone), []api.ValueType{i32}, nil).Export("done").
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("sandbox: instantiate %s: %w", driverModule, err)
	}
	if a.driver, err = a.rt.CompileModule(ctx, driverWasm); err != nil {
		return fmt.Errorf("sandbox: compile the event driver: %w", err)
	}
	return nil
}

// startDriver links a driver instance to inst's guest and starts the
// goroutine that runs it. The goroutine belongs to inst: it ends when
// closeInstance (or the app's Close) asks next to stop, or when the guest
// fails and the call unwinds.
func (inst *instance) startDriver() error {
	a := inst.app
	guest := inst.mod
	ctx := experimental.WithImportResolver(inst.ctx, func(name string) api.Module {
		if name == driverGuest {
			return guest
		}
		return nil
	})
	drv, err := a.rt.InstantiateModule(ctx, a.driver, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return &TrapError{Reason: "while starting: linking the event driver: " + reason(err)}
	}
	inst.drv = drv
	inst.req = make(chan uint32)
	inst.resp = make(chan uint64, 1)
	inst.stopped = make(chan struct{})
	run := drv.ExportedFunction("run")
	go func() {
		defer close(inst.stopped)
		inst.drvErr = run.CallWithStack(inst.ctx, nil)
		inst.resp <- driverStopped // buffered: an event waits for it, or nobody does
	}()
	return nil
}

// driverNext waits for the instance's next event and returns its length,
// or -1 (stopLen, from stopDriver) when the instance is being closed.
// Event lengths are below 2^31: Dispatch refuses larger payloads.
//
// It waits on one channel only: every instance that can wait here is idle,
// and every idle instance is closed through closeInstance (by Trim, by
// App.Close, or by pool when the app closed meanwhile).
func driverNext(ctx context.Context, _ api.Module, stack []uint64) {
	stack[0] = uint64(<-instanceOf(ctx).req)
}

// driverDone hands on_event's status to the dispatching goroutine.
func driverDone(ctx context.Context, _ api.Module, stack []uint64) {
	instanceOf(ctx).resp <- uint64(uint32(stack[0]))
}

// callDriver runs one event through the driver: it hands the event length
// to the driver's goroutine and waits for on_event's status, or for the
// driver to stop (the guest trapped, a host function aborted the event, or
// the watchdog or Close closed the instance). Its result is what
// CallWithStack on on_event would give: the status in inst.stack[0], or
// the error.
//
// The driver may have stopped before it took the event: the watchdog can
// close a new instance's driver before its goroutine first reached next.
// The wait for the status is a plain receive: a driver that stops sends
// driverStopped.
func (inst *instance) callDriver() error {
	select {
	case inst.req <- uint32(inst.stack[0]):
	case <-inst.stopped:
		return inst.driverErr()
	}
	r := <-inst.resp
	if r == driverStopped {
		return inst.driverErr()
	}
	inst.stack[0] = r
	return nil
}

// driverErr is why the driver stopped; call it after stopped is closed.
func (inst *instance) driverErr() error {
	if inst.drvErr != nil {
		return inst.drvErr
	}
	return fmt.Errorf("%w: the instance of %s stopped", ErrClosed, inst.app.ref)
}

// stopDriver stops the driver's goroutine and waits for it. The driver is
// either waiting for an event or already stopped.
func (inst *instance) stopDriver() {
	if inst.drv == nil {
		return
	}
	select {
	case inst.req <- stopLen:
		<-inst.stopped
	case <-inst.stopped:
	}
	_ = inst.drv.Close(inst.app.engine.baseCtx)
}
