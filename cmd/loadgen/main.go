// Command loadgen measures the chat gateway on one machine, over loopback
// only.
//
//	loadgen serve -addr 127.0.0.1:8087 -db /tmp/lg.db -secret S
//	loadgen run   -addr 127.0.0.1:8087 -secret S -conns 10000 -senders 2000 -duration 10s -pid PID
//
// serve runs a gateway with a shared-secret (HS256) authenticator and an
// in-process echo mini-app, so the gateway can be measured on its own.
// run opens N authenticated WebSocket clients, pairs them, sends person to
// person (or person to the echo app and back with -mode app) for a bounded
// time, and reports throughput, p50/p99 latency and the server's resident
// memory per connection (from /proc/PID/status). Tokens are minted with the
// shared secret, or read from -tokens FILE ("person token" per line) to run
// against a server whose tokens come from the identity service; there,
// -mode app -app NAME needs an installed mini-app that answers every message
// (the latency is measured from a timestamp at the start of the text, which
// the app must echo at the start of its reply).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen serve|run [flags]  (loadgen run -h for flags)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "run":
		err = run(ctx, os.Args[2:], os.Stdout)
	default:
		err = fmt.Errorf("unknown mode %q: use serve or run", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
