package sandbox

import "syscall"

// reserve maps n bytes of anonymous memory without committing them
// (MAP_NORESERVE): the kernel provides zeroed pages as they are first
// touched. A failed reservation (an address space or overcommit limit)
// reports false and the caller falls back to the Go heap.
func reserve(n uint64) ([]byte, bool) {
	if n == 0 || n > 1<<32 {
		return nil, false
	}
	b, err := syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, false
	}
	return b, true
}

// unreserve returns a reservation to the system.
func unreserve(b []byte) {
	_ = syscall.Munmap(b)
}
