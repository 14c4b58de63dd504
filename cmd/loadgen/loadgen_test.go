package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestServeAndRun(t *testing.T) {
	for _, mode := range []string{"p2p", "app"} {
		t.Run(mode, func(t *testing.T) {
			addr := freeAddr(t)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- serve(ctx, []string{"-addr", addr, "-db", filepath.Join(t.TempDir(), "lg.db"), "-secret", "k"})
			}()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			}()
			for i := 0; i < 100; i++ { // wait for the listener
				if c, err := net.Dial("tcp", addr); err == nil {
					c.Close()
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			var out bytes.Buffer
			err := run(context.Background(), []string{"-addr", addr, "-secret", "k", "-conns", "8", "-duration", "300ms", "-mode", mode}, &out)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			m := regexp.MustCompile(`sent (\d+), acked (\d+), delivered (\d+), error frames (\d+)`).FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("no totals in:\n%s", out.String())
			}
			n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
			if n(1) == 0 || n(2) != n(1) || n(3) != n(1) || n(4) != 0 {
				t.Fatalf("sent %d acked %d delivered %d errors %d:\n%s", n(1), n(2), n(3), n(4), out.String())
			}
			if !strings.Contains(out.String(), "p99") {
				t.Fatalf("no latency in:\n%s", out.String())
			}
		})
	}
}

func TestRefusesOtherThanLoopback(t *testing.T) {
	for _, addr := range []string{"10.0.0.1:80", "example.com:80", "192.168.1.2:8087"} {
		err := run(context.Background(), []string{"-addr", addr, "-secret", "k", "-conns", "2"}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v", addr, err)
		}
		if err := serve(context.Background(), []string{"-addr", addr, "-db", "x", "-secret", "k"}); err == nil {
			t.Errorf("serve %s succeeded", addr)
		}
	}
}
