package sandbox

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/passerelle/passerelle/host"
)

// ClockStep is how far the guest's clock moves on at every host call of an
// event: within an event the clock (WASI clock_time_get, realtime and
// monotonic alike) reads Event.Clock plus ClockStep times the host calls
// made so far. It depends on nothing but what the guest did, so a replay
// of the event reads the same times (sdk/ABI.md, "Time and randomness").
const ClockStep = time.Millisecond

// eventClock is the clock and random stream of the event an instance runs;
// zero between events.
type eventClock struct {
	start time.Time     // Event.Clock
	rng   *rand.ChaCha8 // seeded with Event.Seed
	on    bool          // an event runs
}

// begin fixes the clock and the random stream of ev, choosing them where
// ev leaves them zero.
func (inst *instance) beginClock(ev *Event) {
	if ev.Clock.IsZero() {
		ev.Clock = time.Now()
	}
	if ev.Seed == 0 {
		ev.Seed = NewSeed()
	}
	inst.clock = eventClock{start: ev.Clock, rng: rand.NewChaCha8(seedBytes(ev.Seed)), on: true}
}

func (inst *instance) endClock() { inst.clock = eventClock{} }

// NewSeed returns a random non-zero event seed.
func NewSeed() uint64 {
	for {
		var b [8]byte
		_, _ = crand.Read(b[:])
		if s := binary.LittleEndian.Uint64(b[:]); s != 0 {
			return s
		}
	}
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	for i := range 4 {
		binary.LittleEndian.PutUint64(b[i*8:], seed^uint64(i)*0x9e3779b97f4a7c15)
	}
	return b
}

// eventNow is the guest's clock inside an event.
func (inst *instance) eventNow() time.Time {
	return inst.clock.start.Add(time.Duration(inst.calls) * ClockStep)
}

// walltime is WASI's realtime clock: the event's clock inside an event,
// the host's outside (while the module starts).
func (inst *instance) walltime() (sec int64, nsec int32) {
	t := time.Now()
	if inst.clock.on {
		t = inst.eventNow()
	}
	return t.Unix(), int32(t.Nanosecond())
}

// nanotime is WASI's monotonic clock: nanoseconds since the Unix epoch of
// the event's clock inside an event; outside, nanoseconds since the
// instance was made, which are far below any event's reading.
func (inst *instance) nanotime() int64 {
	if inst.clock.on {
		return inst.eventNow().UnixNano()
	}
	return int64(time.Since(inst.made))
}

// randSource is WASI's random_get: the event's seeded stream inside an
// event, the host's random source outside.
type randSource struct{ inst *instance }

func (r randSource) Read(p []byte) (int, error) {
	if r.inst.clock.on {
		return r.inst.clock.rng.Read(p)
	}
	return crand.Read(p)
}

// answered is a non-OK status an Event.Answer gave, with the response the
// guest gets.
type answered struct {
	status host.Status
	resp   []byte
}

func (a *answered) Error() string { return a.status.String() }

// Unwrap makes host.StatusOf and host.MessageOf see the status.
func (a *answered) Unwrap() error {
	return &host.Error{Status: a.status, Message: "answered " + a.status.String()}
}
