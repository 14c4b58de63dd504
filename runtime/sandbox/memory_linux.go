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

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14): fault a range in,
// writable, in one call.
const madvPopulateWrite = 23

// commit makes the pages of b present before the guest touches them: one
// call instead of a page fault per page, which on some virtual machines
// costs several microseconds each. A kernel without MADV_POPULATE_WRITE
// refuses it, and the pages then fault in as they are touched.
func commit(b []byte) {
	if len(b) > 0 {
		_ = syscall.Madvise(b, madvPopulateWrite)
	}
}

// unreserve returns a reservation to the system.
func unreserve(b []byte) {
	_ = syscall.Munmap(b)
}
