package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/gateway/promptstore"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/runtime/sched"
)

// BareConfig configures a gateway-only server: the gateway with a
// shared-secret authenticator, a directory that accepts any person id and
// an in-process echo app, without the wasm runtime or the host services. It
// isolates the gateway's own cost from the rest of the platform.
type BareConfig struct {
	Addr          string        // loopback listen address
	DB            *bbolt.DB     // the gateway's store
	Secret        []byte        // HS256 secret for Mint's tokens
	RatePerSecond float64       // gateway.Config.RatePerSecond (0 = its default)
	RateBurst     int           // gateway.Config.RateBurst (0 = its default)
	SendQueue     int           // gateway.Config.SendQueue (0 = its default)
	AppWorkers    int           // workers running echo's events (0 = sched.DefaultWorkers); echo may use all of them
	Logger        *slog.Logger  // may be nil
	Drain         time.Duration // shutdown grace (default 10s)
}

// ServeBare runs the gateway-only server until ctx ends. It writes one
// "listening on ADDR" line to out once it accepts connections.
func ServeBare(ctx context.Context, cfg BareConfig, out io.Writer) error {
	if cfg.DB == nil || len(cfg.Secret) == 0 {
		return errors.New("the gateway-only server needs a store and a secret")
	}
	if err := Loopback(cfg.Addr); err != nil {
		return err
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 10 * time.Second
	}
	log, err := convlog.Open(cfg.DB, convlog.Config{})
	if err != nil {
		return err
	}
	defer log.Close() // after srv.Close: what the connections posted is committed
	prompts, err := promptstore.Open(cfg.DB)
	if err != nil {
		return err
	}
	defer prompts.Close()
	workers := cfg.AppWorkers
	if workers <= 0 {
		workers = sched.DefaultWorkers
	}
	app := &echoApp{sched: sched.New(sched.Config{Workers: workers, PerApp: workers, Logger: cfg.Logger})}
	defer app.sched.Close(context.WithoutCancel(ctx)) // before log.Close: echo writes to the log
	srv, err := gateway.New(gateway.Config{Log: log, PromptStore: prompts, Auth: hsAuth{cfg.Secret}, Directory: people{}, Apps: app,
		Logger: cfg.Logger, RatePerSecond: cfg.RatePerSecond, RateBurst: cfg.RateBurst, SendQueue: cfg.SendQueue})
	if err != nil {
		return err
	}
	app.out = srv
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		srv.Close(context.WithoutCancel(ctx))
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "gateway-only server listening on %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Drain)
	defer cancel()
	_ = hs.Shutdown(sctx)
	if serveErr == nil {
		<-errc
	}
	if err := srv.Close(sctx); err != nil {
		return err
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// people accepts every person id as its own display name.
type people struct{}

func (people) Person(_ context.Context, id string) (identity.Person, error) {
	return identity.Person{ID: id, Name: id}, nil
}
func (people) FindPeople(context.Context, string, int) ([]identity.Person, error) {
	return nil, nil
}

// echoApp is an in-process mini-app that answers every message like
// miniapps/echo ("echo: " and the text), through the gateway's Emit like a
// real app's chat.send. Its events run on a runtime scheduler, like a
// real app's.
type echoApp struct {
	out   host.Outbox
	sched *sched.Scheduler
}

func (a *echoApp) Submit(app string, ev host.AppEvent, done func(error)) error {
	return a.sched.Submit(app, ev.Conversation, func(ctx context.Context, _ func()) {
		err := a.deliver(ctx, app, ev)
		if done != nil {
			done(err)
		}
	})
}

func (a *echoApp) deliver(ctx context.Context, app string, ev host.AppEvent) error {
	if ev.Event.Type != host.EventMessage {
		return nil
	}
	return a.out.Emit(ctx, host.Outgoing{App: host.AppRef{Merchant: "bench", App: app, Version: "1"},
		Conversation: ev.Conversation, Message: &host.Message{Text: EchoPrefix + strings.TrimSpace(ev.Event.Text)}})
}

func (a *echoApp) Catalog(context.Context) ([]host.AppInfo, error) {
	return []host.AppInfo{{ID: "echo", Name: "Echo"}}, nil
}
