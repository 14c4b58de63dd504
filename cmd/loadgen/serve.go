package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"time"

	"go.etcd.io/bbolt"

	"passerelle/gateway"
	"passerelle/host"
)

// people accepts every person id as its own display name.
type people struct{}

func (people) Person(_ context.Context, id string) (string, error) { return id, nil }
func (people) Find(context.Context, string, int) ([]gateway.Person, error) {
	return nil, nil
}

// echoApp is an in-process mini-app that answers every message with the
// same text, through the gateway's Emit like a real app's chat.send.
type echoApp struct{ out host.Outbox }

func (a *echoApp) Deliver(ctx context.Context, app string, ev gateway.AppEvent) error {
	if ev.Event.Type != host.EventMessage {
		return nil
	}
	b, _ := json.Marshal(host.Message{Text: ev.Event.Text})
	return a.out.Emit(ctx, host.Outgoing{Kind: "message", App: host.AppRef{Merchant: "bench", App: app, Version: "1"},
		Conversation: ev.Conversation, Body: b})
}

func (a *echoApp) Catalog(context.Context) ([]gateway.AppInfo, error) {
	return []gateway.AppInfo{{ID: "echo", Name: "Echo"}}, nil
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8087", "loopback address to listen on")
	dbPath := fs.String("db", "", "bbolt file (required; created if absent)")
	secret := fs.String("secret", "", "shared secret for HS256 person tokens (required)")
	rate := fs.Float64("rate", 0, "frames per second per connection (0 = the gateway default)")
	queue := fs.Int("queue", 0, "send queue per connection (0 = the gateway default)")
	workers := fs.Int("app-workers", 0, "app deliveries in flight (0 = the gateway default, 64)")
	batch := fs.Int("batch", 0, "bbolt MaxBatchSize (0 = bbolt's default, 1000)")
	batchDelay := fs.Duration("batch-delay", 0, "bbolt MaxBatchDelay (0 = bbolt's default, 10ms)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbPath == "" || *secret == "" {
		return errors.New("serve needs -db and -secret")
	}
	if err := loopback(*addr); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	db, err := bbolt.Open(*dbPath, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("open %s: %w", *dbPath, err)
	}
	defer db.Close()
	if *batch > 0 {
		db.MaxBatchSize = *batch
	}
	if *batchDelay > 0 {
		db.MaxBatchDelay = *batchDelay
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	app := &echoApp{}
	srv, err := gateway.New(gateway.Config{DB: db, Auth: hsAuth{[]byte(*secret)}, Directory: people{}, Apps: app,
		Logger: log, RatePerSecond: *rate, SendQueue: *queue, AppWorkers: *workers})
	if err != nil {
		return err
	}
	app.out = srv
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("loadgen serve: pid %d listening on %s\n", os.Getpid(), ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return srv.Close(sctx)
}

// loopback refuses any address that is not on this machine's loopback.
func loopback(addr string) error {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if h == "localhost" {
		return nil
	}
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address: loadgen only runs against this machine (127.0.0.1, ::1, localhost)", addr)
	}
	return nil
}
