//go:build wasip1

package main

import (
	"fmt"
	"os"
	"unsafe"
)

//go:wasmimport passerelle_v1 event_read
func eventRead(ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport passerelle_v1 log
func logLine(level uint32, ptr unsafe.Pointer, n uint32)

var big [][]byte

//go:wasmexport passerelle_v1_on_event
func onEvent(n uint32) uint32 {
	buf := make([]byte, n)
	eventRead(unsafe.Pointer(&buf[0]), n)
	msg := "got " + string(buf)
	logLine(1, unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
	fmt.Fprintln(os.Stderr, "stderr line")
	if string(buf) == `"oom"` {
		for {
			big = append(big, make([]byte, 1<<20))
		}
	}
	return 0
}

func main() {}
