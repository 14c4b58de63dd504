package sandbox

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// guestMemory backs one instance's linear memory. Where the system allows
// (reserve, memory_linux.go), it is one anonymous mapping the size of the
// memory's maximum, reserved but not committed: memory.grow lengthens the
// view in place, without the copy wazero's own buffer makes each time it
// outgrows its capacity, and the first commitMax bytes of each growth are
// committed in one call rather than faulted in page by page (the rest, as
// the guest touches them). Elsewhere, or if the reservation fails, it is a
// Go slice grown like wazero's own.
//
// wazero calls Free when the module closes, which App.Close may do while
// the guest still runs on another goroutine (it stops at its next refill); unmapping then would fault the
// running guest. Free therefore releases nothing; the sandbox calls release
// once no call can be running on the instance (closeInstance, or a failed
// instantiation), and only then is the mapping returned.
// commitMax bounds what one growth commits at once: a Go guest grows its
// heap by a few hundred KiB at a time and starts with about 3 MiB.
const commitMax = 8 << 20

type guestMemory struct {
	mu       sync.Mutex
	buf      []byte // the mapping (its length is the reservation) or the heap slice
	size     uint64 // bytes in use
	mapped   bool
	released bool
}

// allocator returns the wazero allocator that hands out m. An instance has
// one memory, so Allocate is called at most once per instantiation.
func (m *guestMemory) allocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capBytes, maxBytes uint64) experimental.LinearMemory {
		m.mu.Lock()
		defer m.mu.Unlock()
		if b, ok := reserve(maxBytes); ok {
			m.buf, m.mapped = b, true
		} else {
			m.buf = make([]byte, 0, capBytes)
		}
		return m
	})
}

// Reallocate implements experimental.LinearMemory: the first size bytes of
// the reservation, or nil when size is past it (memory.grow then fails).
func (m *guestMemory) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.released {
		return nil
	}
	if m.mapped {
		if size > uint64(len(m.buf)) {
			return nil
		}
		if size > m.size {
			// A guest grows its memory to use it; a large declared
			// minimum or growth is left to fault in as it is used.
			commit(m.buf[m.size:min(size, m.size+commitMax)])
		}
		m.size = size
		return m.buf[:size:size]
	}
	if size > uint64(len(m.buf)) {
		m.buf = append(m.buf, make([]byte, size-uint64(len(m.buf)))...)
	}
	m.size = size
	return m.buf[:size]
}

// Free implements experimental.LinearMemory. It releases nothing: see the
// type's comment.
func (m *guestMemory) Free() {}

// release returns the memory to the system. The instance's module must be
// closed and no call may be running on it.
func (m *guestMemory) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.released {
		return
	}
	m.released = true
	if m.mapped {
		unreserve(m.buf)
	}
	m.buf, m.size = nil, 0
}
