//go:build wasip1

package passerelle

import "unsafe"

//go:wasmimport passerelle_v1 event_read
func importEventRead(ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport passerelle_v1 result_read
func importResultRead(ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport passerelle_v1 log
func importLog(level uint32, ptr unsafe.Pointer, n uint32)

// The guest runs one event at a time: one buffer and one Context serve them all.
var (
	eventBuf []byte
	guestCtx *Context
)

//go:wasmexport passerelle_v1_on_event
func onEvent(n uint32) uint32 {
	if served == nil {
		guestLog(LevelError, "passerelle: no app is served: call passerelle.Serve(app) from an init function of package main")
		return uint32(StatusInternal)
	}
	if uint32(cap(eventBuf)) < n {
		eventBuf = make([]byte, n)
	}
	buf := eventBuf[:n]
	if n > 0 {
		buf = buf[:importEventRead(unsafe.Pointer(unsafe.SliceData(buf)), n)]
	}
	if guestCtx == nil {
		guestCtx = newContext()
	}
	err := served.run(guestCtx, nil, buf)
	if err != nil {
		guestLog(LevelError, err.Error())
	}
	return uint32(StatusOf(err))
}

// guestCall calls one operation import and fetches its pending result into
// *res, growing it when needed.
func guestCall(imp importFunc, req []byte, res *[]byte) (Status, []byte) {
	var ptr unsafe.Pointer
	if len(req) > 0 {
		ptr = unsafe.Pointer(unsafe.SliceData(req))
	}
	r := imp(ptr, uint32(len(req)))
	st, n := Status(r>>32), uint32(r)
	if n == 0 {
		return st, nil
	}
	if uint32(cap(*res)) < n {
		*res = make([]byte, n)
	}
	buf := (*res)[:n]
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
