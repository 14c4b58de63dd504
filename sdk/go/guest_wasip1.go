//go:build wasip1

package passerelle

import "unsafe"

//go:wasmimport passerelle_v1 event_read
func importEventRead(ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport passerelle_v1 result_read
func importResultRead(ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport passerelle_v1 log
func importLog(level uint32, ptr unsafe.Pointer, n uint32)

// The guest runs one event at a time: one Context serves them all.
var guestCtx *Context

// arena holds the bytes of events and host-call results. Each range is
// written once by the host and never reused, so the strings decoded from it
// share its memory instead of being copied, and most events allocate
// nothing. A string an app keeps keeps its arena block alive, as a Go
// substring keeps its whole string.
var arena []byte

const (
	arenaBlock = 8 << 10         // bytes allocated at a time
	arenaLarge = arenaBlock >> 2 // longer documents get their own allocation
)

// arenaTake returns n bytes of arena memory that nothing else uses.
func arenaTake(n uint32) []byte {
	if uint32(len(arena)) < n {
		if n > arenaLarge {
			return make([]byte, n)
		}
		arena = make([]byte, arenaBlock)
	}
	b := arena[:n:n]
	arena = arena[n:]
	return b
}

//go:wasmexport passerelle_v1_on_event
func onEvent(n uint32) uint32 {
	if served == nil {
		guestLog(LevelError, "passerelle: no app is served: call passerelle.Serve(app) from an init function of package main")
		return uint32(StatusInternal)
	}
	var buf []byte
	if n > 0 {
		buf = arenaTake(n)
		buf = buf[:importEventRead(unsafe.Pointer(unsafe.SliceData(buf)), n)]
	}
	if guestCtx == nil {
		guestCtx = newContext()
	}
	if err := served.run(guestCtx, nil, buf); err != nil {
		guestLog(LevelError, err.Error())
		return uint32(StatusOf(err))
	}
	return uint32(StatusOK)
}

// guestCall calls one operation import and fetches its pending result into
// arena memory.
func guestCall(imp importFunc, req []byte) (Status, []byte) {
	var ptr unsafe.Pointer
	if len(req) > 0 {
		ptr = unsafe.Pointer(unsafe.SliceData(req))
	}
	r := imp(ptr, uint32(len(req)))
	st, n := Status(r>>32), uint32(r)
	if n == 0 {
		return st, nil
	}
	buf := arenaTake(n)
	got := importResultRead(unsafe.Pointer(unsafe.SliceData(buf)), n)
	return st, buf[:got]
}

func guestLog(level Level, msg string) {
	if msg == "" {
		importLog(uint32(level), nil, 0)
		return
	}
	importLog(uint32(level), unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}
