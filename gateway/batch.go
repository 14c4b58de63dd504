package gateway

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// maxBatchBytes bounds what a connection's writer gathers before writing
// to the socket; maxBatchFrames bounds how many queued frames it takes at
// once.
const (
	maxBatchBytes  = 64 << 10
	maxBatchFrames = 64
)

// batchConn is a WebSocket's socket as the gateway writes to it. While the
// connection's writer holds it, the frames gorilla/websocket writes are
// gathered and go to the socket in one write when the writer releases it:
// frames queued together (an ack and a delivery, a group's burst, a replay)
// cost one system call instead of one each. Writes outside a hold (the
// handshake, and the pongs and close frames gorilla writes from the reader
// goroutine) go straight through. gorilla serialises its own writes; mu
// orders them with release, which runs outside gorilla's lock.
type batchConn struct {
	net.Conn
	mu   sync.Mutex
	held bool
	buf  *[]byte // from batchBufs while held and not empty
}

var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.held {
		return b.Conn.Write(p)
	}
	if b.buf != nil && len(*b.buf)+len(p) > maxBatchBytes {
		if err := b.flush(); err != nil {
			return 0, err
		}
	}
	if b.buf == nil {
		if len(p) >= maxBatchBytes {
			return b.Conn.Write(p)
		}
		b.buf = batchBufs.Get().(*[]byte)
	}
	*b.buf = append(*b.buf, p...)
	return len(p), nil
}

// hold starts gathering writes.
func (b *batchConn) hold() {
	b.mu.Lock()
	b.held = true
	b.mu.Unlock()
}

// release writes what was gathered since hold, in one write, and stops
// gathering. Its error is the socket's.
func (b *batchConn) release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held = false
	return b.flush()
}

// flush writes the gathered bytes and returns the buffer to the pool.
// Called with mu held.
func (b *batchConn) flush() error {
	if b.buf == nil {
		return nil
	}
	_, err := b.Conn.Write(*b.buf)
	if cap(*b.buf) <= maxBatchBytes {
		*b.buf = (*b.buf)[:0]
		batchBufs.Put(b.buf)
	}
	b.buf = nil
	return err
}

// batchWriter hands gorilla/websocket's Upgrade a hijacked connection
// wrapped in a batchConn.
type batchWriter struct {
	http.ResponseWriter
	conn *batchConn
}

func (w *batchWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &batchConn{Conn: nc}
	return w.conn, rw, nil
}
