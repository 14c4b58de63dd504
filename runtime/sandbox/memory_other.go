//go:build !linux

package sandbox

// reserve is only implemented on Linux; elsewhere guest memory lives on
// the Go heap.
func reserve(uint64) ([]byte, bool) { return nil, false }

func commit([]byte) {}

func unreserve([]byte) {}
