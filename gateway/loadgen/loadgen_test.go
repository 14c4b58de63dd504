package loadgen_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/loadgen"
)

// bare starts the gateway-only server on a free loopback port and returns
// its address; it stops with the test.
func bare(t *testing.T, secret string) string { return bareRate(t, secret, 0, 0) }

func bareRate(t *testing.T, secret string, rate float64, burst int) string {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "lg.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Port 0: the server takes a free port itself and names it in its
	// "listening on" line (a port found free and closed again may be
	// taken by another process before the server listens on it).
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	out := &listening{addr: make(chan string, 1)}
	go func() {
		done <- loadgen.ServeBare(ctx, loadgen.BareConfig{Addr: "127.0.0.1:0", DB: db, Secret: []byte(secret), RatePerSecond: rate, RateBurst: burst}, out)
	}()
	select {
	case addr := <-out.addr:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
			db.Close()
		})
		return addr
	case err := <-done:
		cancel()
		db.Close()
		t.Fatalf("the gateway-only server stopped before it listened: %v", err)
	case <-time.After(time.Minute):
		cancel()
		t.Fatal("the gateway-only server did not start listening within a minute")
	}
	return ""
}

// listening passes on the address of the server's "listening on ADDR"
// line.
type listening struct {
	addr chan string // buffered for the one address

	mu   sync.Mutex
	text strings.Builder
	told bool
}

func (l *listening) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.text.Write(p)
	if line, _, ok := strings.Cut(l.text.String(), "\n"); ok && !l.told {
		if i := strings.LastIndexByte(line, ' '); strings.Contains(line, "listening on ") && i >= 0 {
			l.addr <- line[i+1:]
			l.told = true
		}
	}
	return len(p), nil
}

func TestRunAgainstTheGatewayOnly(t *testing.T) {
	addr := bare(t, "k")
	for _, mode := range []string{loadgen.ModeP2P, loadgen.ModeApp} {
		t.Run(mode, func(t *testing.T) {
			var out bytes.Buffer
			res, err := loadgen.Run(context.Background(), loadgen.Options{Addr: addr, Secret: "k", Prefix: "t-" + mode,
				Conns: 8, Duration: 300 * time.Millisecond, Mode: mode}, &out)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			if res.Sent == 0 || res.Acked != res.Sent || res.Delivered != res.Sent || res.ErrorFrames != 0 {
				t.Fatalf("sent %d acked %d delivered %d errors %d:\n%s", res.Sent, res.Acked, res.Delivered, res.ErrorFrames, out.String())
			}
			if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
				t.Fatalf("latencies p50 %s p99 %s max %s", res.P50, res.P99, res.Max)
			}
			for _, want := range []string{"throughput:", "p99"} {
				if !strings.Contains(out.String(), want) {
					t.Fatalf("no %q in:\n%s", want, out.String())
				}
			}
		})
	}
}

// TestRunTwiceOnOneServer: a second run as the same people is measured like
// the first; its sends are not taken for resends of the first run's (the
// gateway does not store a client id it has seen again, nor deliver it).
func TestRunTwiceOnOneServer(t *testing.T) {
	addr := bare(t, "k2")
	for run := range 2 {
		var out bytes.Buffer
		res, err := loadgen.Run(context.Background(), loadgen.Options{Addr: addr, Secret: "k2", Prefix: "again",
			Conns: 4, Duration: 200 * time.Millisecond, Mode: loadgen.ModeP2P}, &out)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out.String())
		}
		if res.Sent == 0 || res.Delivered != res.Sent {
			t.Fatalf("run %d: sent %d, delivered %d:\n%s", run, res.Sent, res.Delivered, out.String())
		}
	}
}

func TestRunCountsRefusedFrames(t *testing.T) {
	// A burst of 4 and practically no refill: the greeting takes two, so
	// the first window of 4 sends already meets refusals, however slowly
	// the machine goes (with a refill of one a second, a slow run sent
	// too few frames in its 300 ms to be refused any).
	addr := bareRate(t, "r", 0.001, 4)
	var out bytes.Buffer
	res, err := loadgen.Run(context.Background(), loadgen.Options{Addr: addr, Secret: "r", Conns: 2,
		Duration: 300 * time.Millisecond, Rate: -1, Window: 32}, &out) // 32 in flight: past the burst before any ack
	if err != nil {
		t.Fatal(err)
	}
	if res.ErrorFrames == 0 || res.Acked+res.ErrorFrames != res.Sent || res.Delivered != res.Acked {
		t.Fatalf("sent %d acked %d delivered %d refused %d:\n%s", res.Sent, res.Acked, res.Delivered, res.ErrorFrames, out.String())
	}
	if res.ErrorCodes["rate_limited"] != res.ErrorFrames || len(res.ErrorCodes) != 1 {
		t.Fatalf("error codes %v, want all %d rate_limited", res.ErrorCodes, res.ErrorFrames)
	}
	if !strings.Contains(out.String(), "refused") || !strings.Contains(out.String(), fmt.Sprintf("rate_limited %d", res.ErrorFrames)) {
		t.Fatalf("no warning about refused frames:\n%s", out.String())
	}
}

func TestRunWithATokensFile(t *testing.T) {
	addr := bare(t, "s")
	var logins []loadgen.Login
	for _, p := range []string{"ana", "ben", "cem", "dia"} {
		tok, err := loadgen.Mint([]byte("s"), p)
		if err != nil {
			t.Fatal(err)
		}
		logins = append(logins, loadgen.Login{Person: p, Token: tok})
	}
	path := filepath.Join(t.TempDir(), "tokens")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := loadgen.WriteTokens(f, logins); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := loadgen.ReadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(logins) || got[3] != logins[3] {
		t.Fatalf("read back %v", got)
	}
	res, err := loadgen.Run(context.Background(), loadgen.Options{Addr: addr, Logins: got, Conns: 4, Duration: 200 * time.Millisecond}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent == 0 || res.Delivered != res.Sent {
		t.Fatalf("sent %d delivered %d", res.Sent, res.Delivered)
	}
	if _, err := loadgen.Run(context.Background(), loadgen.Options{Addr: addr, Logins: got, Conns: 6, Duration: time.Second}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "4 tokens for 6 connections") {
		t.Fatalf("too few tokens: %v", err)
	}
}

func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    loadgen.Options
		want string
	}{
		{"remote address", loadgen.Options{Addr: "10.0.0.1:80", Secret: "k", Conns: 2, Duration: time.Second}, "loopback"},
		{"host name", loadgen.Options{Addr: "example.com:80", Secret: "k", Conns: 2, Duration: time.Second}, "loopback"},
		{"private address", loadgen.Options{Addr: "192.168.1.2:8087", Secret: "k", Conns: 2, Duration: time.Second}, "loopback"},
		{"odd connections", loadgen.Options{Addr: "127.0.0.1:1", Secret: "k", Conns: 3, Duration: time.Second}, "even number"},
		{"too many connections", loadgen.Options{Addr: "127.0.0.1:1", Secret: "k", Conns: loadgen.MaxConns + 2, Duration: time.Second}, "even number"},
		{"too long", loadgen.Options{Addr: "127.0.0.1:1", Secret: "k", Conns: 2, Duration: time.Hour}, "duration"},
		{"no tokens", loadgen.Options{Addr: "127.0.0.1:1", Conns: 2, Duration: time.Second}, "no tokens"},
		{"unknown mode", loadgen.Options{Addr: "127.0.0.1:1", Secret: "k", Conns: 2, Duration: time.Second, Mode: "x"}, "mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadgen.Run(context.Background(), tc.o, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
	if err := loadgen.ServeBare(context.Background(), loadgen.BareConfig{Addr: "10.0.0.1:80", DB: &bbolt.DB{}, Secret: []byte("k")}, &bytes.Buffer{}); err == nil {
		t.Fatal("the gateway-only server listened on a non-loopback address")
	}
}

func FuzzReadTokens(f *testing.F) {
	f.Add("p1 tok1\np2 tok2\n")
	f.Add("  \n p tok \r\n")
	f.Add("no-token\n")
	f.Fuzz(func(t *testing.T, s string) {
		path := filepath.Join(t.TempDir(), "tokens")
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		logins, err := loadgen.ReadTokens(path)
		if err != nil {
			return
		}
		for _, l := range logins {
			if l.Person == "" || l.Token == "" || strings.ContainsAny(l.Person, " \n") {
				t.Fatalf("bad login %+v from %q", l, s)
			}
		}
	})
}
