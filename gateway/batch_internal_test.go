package gateway

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
)

// countingConn records each write the batchConn makes to the socket.
type countingConn struct {
	net.Conn
	writes [][]byte
	err    error
}

func (c *countingConn) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func TestBatchConn(t *testing.T) {
	t.Run("held frames go out in one write", func(t *testing.T) {
		sock := &countingConn{}
		b := &batchConn{Conn: sock}
		b.hold()
		for _, f := range []string{"one", "two", "three"} {
			if n, err := b.Write([]byte(f)); n != len(f) || err != nil {
				t.Fatalf("Write(%q) = %d, %v", f, n, err)
			}
		}
		if len(sock.writes) != 0 {
			t.Fatalf("wrote %d times while held", len(sock.writes))
		}
		if err := b.release(); err != nil {
			t.Fatal(err)
		}
		if len(sock.writes) != 1 || string(sock.writes[0]) != "onetwothree" {
			t.Fatalf("writes after release: %q, want one write of onetwothree", sock.writes)
		}
		if err := b.release(); err != nil || len(sock.writes) != 1 {
			t.Fatalf("a second release wrote again: %q, %v", sock.writes, err)
		}
	})
	t.Run("writes outside a hold go straight through", func(t *testing.T) {
		sock := &countingConn{}
		b := &batchConn{Conn: sock}
		b.Write([]byte("pong"))
		b.Write([]byte("close"))
		if len(sock.writes) != 2 {
			t.Fatalf("writes: %q, want 2", sock.writes)
		}
	})
	t.Run("a batch past its byte bound is written as it goes", func(t *testing.T) {
		sock := &countingConn{}
		b := &batchConn{Conn: sock}
		frame := []byte(strings.Repeat("x", maxBatchBytes/3+1))
		b.hold()
		for range 3 {
			b.Write(frame)
		}
		b.release()
		var total int
		for _, w := range sock.writes {
			if len(w) > maxBatchBytes {
				t.Errorf("one write of %d bytes, bound %d", len(w), maxBatchBytes)
			}
			total += len(w)
		}
		if len(sock.writes) != 2 || total != 3*len(frame) {
			t.Fatalf("%d writes of %d bytes in all, want 2 writes of %d", len(sock.writes), total, 3*len(frame))
		}
	})
	t.Run("the socket's error comes back from release", func(t *testing.T) {
		broken := errors.New("broken pipe")
		b := &batchConn{Conn: &countingConn{err: broken}}
		b.hold()
		b.Write([]byte("frame"))
		if err := b.release(); !errors.Is(err, broken) {
			t.Fatalf("release: %v, want %v", err, broken)
		}
	})
}
