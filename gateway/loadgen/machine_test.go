package loadgen_test

import (
	"io"
	"net"
	"os"
	"testing"
)

// The benchmarks below measure the machine rather than Passerelle: the
// throughput figures in BENCHMARKS.md are bound by system calls (each
// message costs the server a read and about two socket writes, and the
// load generator as many again), so these two numbers say how a machine
// compares with the ones the figures were taken on.

// BenchmarkMachineSyscall is the cost of entering and leaving the kernel:
// one getppid(2) per op.
func BenchmarkMachineSyscall(b *testing.B) {
	for b.Loop() {
		os.Getppid()
	}
}

// BenchmarkMachineLoopbackWrite is one 100-byte write(2) to a TCP socket on
// loopback, which includes the kernel's delivery to the reading side.
func BenchmarkMachineLoopbackWrite(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(io.Discard, c)
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 100)
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
