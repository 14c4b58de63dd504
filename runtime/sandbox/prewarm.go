package sandbox

import (
	"context"
	"fmt"
)

// Prewarm makes idle instances ahead of traffic until n instances exist
// (idle or running an event), bounded by the pool size, so that the first
// events after a Load or a quiet spell do not pay for instantiation and the
// guest's _initialize (several milliseconds for a Go guest). It returns how
// many instances exist when it returns. Load already made one, so
// Prewarm(ctx, 1) on a fresh App makes nothing.
//
// Instances are made one after the other on the calling goroutine. ctx is
// checked before each one; an instantiation already started runs to its end
// (it is bounded by the app's event deadline). A Dispatch that finds no
// idle instance makes its own as before, so Prewarm never delays events
// beyond the CPU it takes.
//
// Load proved that the module instantiates, but a later instantiation can
// still fail: a guest whose _initialize depends on the clock or on
// randomness, an _initialize slower than the deadline on a loaded machine,
// or the host running out of memory. The error is the one Dispatch would
// return for the same failure (*TrapError, *LimitError, *ABIError), counted
// in Stats().Traps and sent to the app log; the instances made before it
// stay warm. A closed App returns ErrClosed.
func (a *App) Prewarm(ctx context.Context, n int) (int, error) {
	n = min(n, cap(a.idle))
	for {
		if a.closed.Load() {
			return a.liveCount(), ErrClosed
		}
		if int(a.stats.live.Load()) >= n {
			return a.liveCount(), nil
		}
		if err := ctx.Err(); err != nil {
			return a.liveCount(), fmt.Errorf("sandbox: prewarming %s: %w", a.ref, err)
		}
		select {
		case <-a.free:
		default:
			// Every place holds an instance or one being made by a
			// Dispatch.
			return a.liveCount(), nil
		}
		inst, err := a.newInstance()
		if err != nil {
			a.free <- struct{}{}
			return a.liveCount(), err
		}
		if a.closed.Load() {
			a.closeInstance(inst)
			a.free <- struct{}{}
			return a.liveCount(), ErrClosed
		}
		a.idle <- inst
	}
}

// Trim closes idle instances until at most keep remain and returns how many
// it closed. Instances running an event are not touched. It releases the
// memory of an app version that sees little traffic (a Go guest's instance
// holds about 10 MiB); the next events make instances again on demand, or
// Prewarm does ahead of them. Trim on a closed App does nothing.
func (a *App) Trim(keep int) int {
	closed := 0
	for len(a.idle) > max(keep, 0) && !a.closed.Load() {
		select {
		case inst := <-a.idle:
			a.closeInstance(inst)
			a.free <- struct{}{}
			closed++
		default:
			return closed
		}
	}
	return closed
}

func (a *App) liveCount() int { return int(max(a.stats.live.Load(), 0)) }
