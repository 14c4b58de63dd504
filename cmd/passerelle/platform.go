package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"

	"passerelle/gateway"
	"passerelle/gateway/api"
	"passerelle/host"
	"passerelle/host/identity"
	"passerelle/host/pay"
	"passerelle/host/services"
	"passerelle/host/timer"
	"passerelle/runtime/apps"
	"passerelle/runtime/registry"
	"passerelle/runtime/sandbox"
)

// platformConfig is what a server needs to start. serve fills it from flags,
// the environment and a config file; demo and the end-to-end tests fill it
// directly.
type platformConfig struct {
	Addr           string      `json:"addr"`            // listen address, e.g. 127.0.0.1:8080; port 0 picks a free one
	Data           string      `json:"data"`            // data directory: the bbolt file and the compilation cache
	AllowedOrigins []string    `json:"allowed_origins"` // browser origins allowed besides the server's own host
	MaxUploadBytes int64       `json:"max_upload_bytes"`
	PoolSize       int         `json:"pool_size"`   // warm instances per app version
	AppWorkers     int         `json:"app_workers"` // app events the gateway runs at once
	Limits         host.Limits `json:"limits"`      // defaults for apps whose manifest says nothing
	MaxLimits      host.Limits `json:"max_limits"`  // operator caps
	PaymentTTL     Duration    `json:"payment_ttl"`
	LogLevel       string      `json:"log_level"` // debug, info, warn, error
}

// Duration is a time.Duration written as "15m" in JSON.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %s: %w (write it like \"15m\" or \"90s\")", b, err)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// platform is one running Passerelle server: the store, the host services,
// the sandbox, the app router and the gateway, wired together.
type platform struct {
	log      *slog.Logger
	db       *bbolt.DB
	svc      *services.Services
	identity *identity.Service // svc.Identity
	pay      *pay.Service      // svc.Pay
	engine   *sandbox.Engine
	registry *registry.Registry
	router   *apps.Router
	api      *api.Handler
	gateway  *gateway.Server

	httpSrv  *http.Server
	listener net.Listener
	payments chan pay.Order     // outcomes waiting to become payment events
	consents chan consentAnswer // answers to consent prompts waiting to become consent events
	payStats *paymentMetrics

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startPlatform opens the store, starts every service and begins serving
// HTTP on cfg.Addr. Stop it with close.
func startPlatform(ctx context.Context, cfg platformConfig, log *slog.Logger) (_ *platform, err error) {
	p := &platform{log: log, payments: make(chan pay.Order, 1024), consents: make(chan consentAnswer, 1024), payStats: newPaymentMetrics()}
	defer func() {
		if err != nil {
			p.close(context.WithoutCancel(ctx))
		}
	}()
	if cfg.Data == "" {
		return nil, errors.New("no data directory: pass --data DIR")
	}
	if p.db, err = openStore(cfg.Data, time.Second); err != nil {
		return nil, err
	}
	if p.svc, err = services.Open(p.db, services.Config{
		Logger:     log,
		PaymentTTL: time.Duration(cfg.PaymentTTL),
		Payments:   paymentQueue(p.payments),
		FireTimer: func(ctx context.Context, t timer.Timer) error {
			return p.router.DeliverTimer(ctx, t.Ref, t.Person, t.Conversation, t.Event())
		},
		Members: members{p},
		Consent: func(ctx context.Context, ref host.AppRef, person, conv string, ev host.ConsentEvent) {
			select {
			case p.consents <- consentAnswer{ref, person, conv, ev}:
			case <-ctx.Done():
			}
		},
	}); err != nil {
		return nil, err
	}
	p.identity, p.pay = p.svc.Identity, p.svc.Pay
	if p.registry, err = registry.Open(p.db, registry.Options{Logger: log.With("component", "registry")}); err != nil {
		return nil, err
	}
	if p.engine, err = sandbox.New(ctx, sandbox.Config{
		CacheDir: filepath.Join(cfg.Data, "cache"),
		Funcs:    p.svc.Funcs(),
		Defaults: cfg.Limits,
		Max:      cfg.MaxLimits,
		PoolSize: cfg.PoolSize,
		Logger:   log.With("component", "sandbox"),
		AppLog:   apps.LogSink{Registry: p.registry},
	}); err != nil {
		return nil, err
	}
	out := &relay{}
	if p.router, err = apps.New(ctx, apps.Config{
		Registry: p.registry,
		Engine:   p.engine,
		Identity: p.identity,
		Outbox:   out,
		Logger:   log.With("component", "apps"),
	}); err != nil {
		return nil, err
	}
	if p.api, err = api.New(api.Config{
		Auth:      p.identity,
		Apps:      p.router,
		MaxUpload: cfg.MaxUploadBytes,
		TempDir:   cfg.Data,
		Logger:    log.With("component", "api"),
	}); err != nil {
		return nil, err
	}
	if p.gateway, err = gateway.New(gateway.Config{
		DB:             p.db,
		Auth:           p.identity,
		Directory:      directory{p.identity},
		Apps:           appsAdapter{p.router},
		Payments:       p.pay,
		Consent:        p.identity,
		Logger:         log.With("component", "gateway"),
		API:            p.api,
		AllowedOrigins: cfg.AllowedOrigins,
		AppWorkers:     cfg.AppWorkers,
	}); err != nil {
		return nil, err
	}
	out.set(p.gateway)
	for _, c := range []prometheus.Collector{newRuntimeCollector(p.router), p.payStats.outcomes} {
		if err := p.gateway.Registerer().Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	p.goRun("payments", func() { p.deliverPayments(runCtx) })
	p.goRun("consents", func() { p.deliverConsents(runCtx) })
	p.goRun("services", func() { p.svc.Run(runCtx) })
	p.goRun("registry", func() { p.registry.Run(runCtx, 5*time.Second) })

	if p.listener, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another server using the port? pick another with --addr)", cfg.Addr, err)
	}
	p.httpSrv = &http.Server{
		Handler:           p.gateway.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	p.goRun("http", func() {
		if err := p.httpSrv.Serve(p.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	})
	log.Info("serving", "addr", p.listener.Addr().String(), "data", cfg.Data)
	return p, nil
}

// goRun starts a goroutine the platform owns and waits for on close.
func (p *platform) goRun(name string, f func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
		p.log.Debug("stopped", "loop", name)
	}()
}

// url returns the server's base URL.
func (p *platform) url() string {
	addr := p.listener.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

// close stops accepting, drains connections and background loops, and
// closes the store. It is safe to call on a partly started platform.
func (p *platform) close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if p.api != nil {
		p.api.Close()
	}
	if p.httpSrv != nil {
		if err := p.httpSrv.Shutdown(ctx); err != nil {
			p.log.Warn("http shutdown", "err", err)
		}
	} else if p.listener != nil {
		p.listener.Close()
	}
	if p.gateway != nil {
		if err := p.gateway.Close(ctx); err != nil {
			p.log.Warn("gateway close", "err", err)
		}
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	if p.router != nil {
		if err := p.router.Close(ctx); err != nil {
			p.log.Warn("router close", "err", err)
		}
	}
	if p.registry != nil {
		if err := p.registry.Flush(); err != nil {
			p.log.Warn("registry flush", "err", err)
		}
	}
	if p.engine != nil {
		if err := p.engine.Close(ctx); err != nil {
			p.log.Warn("sandbox close", "err", err)
		}
	}
	if p.db != nil {
		if err := p.db.Close(); err != nil {
			p.log.Warn("store close", "err", err)
		}
	}
}

// deliverPayments turns queued payment outcomes into payment events. The pay
// service hands outcomes over at least once, also after a restart.
func (p *platform) deliverPayments(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-p.payments:
			p.payStats.observe(o)
			if err := p.router.DeliverPayment(ctx, o.Ref, o.Person, o.Conversation, o.Event()); err != nil {
				p.log.Warn("payment event not delivered", "order", o.ID, "app", o.Ref.String(), "err", err)
			}
		}
	}
}

// consentAnswer is a person's answer to a consent prompt, for the app that
// asked.
type consentAnswer struct {
	ref          host.AppRef
	person, conv string
	ev           host.ConsentEvent
}

// deliverConsents turns queued answers to consent prompts into consent
// events. Answers are queued (the gateway's Grant must not wait for the
// app) and, unlike payment outcomes, not kept across a restart.
func (p *platform) deliverConsents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-p.consents:
			if err := p.router.DeliverConsent(ctx, a.ref, a.person, a.conv, a.ev); err != nil {
				p.log.Warn("consent event not delivered", "prompt", a.ev.Prompt, "app", a.ref.String(), "err", err)
			}
		}
	}
}

// paymentQueue is the pay.Notifier: it queues outcomes for deliverPayments,
// since the notifier may run inside a guest's host call.
type paymentQueue chan pay.Order

func (q paymentQueue) PaymentOutcome(ctx context.Context, o pay.Order) {
	select {
	case q <- o:
	case <-ctx.Done():
	}
}

// relay is the Outbox the router emits into; it forwards to the gateway,
// which is built after the router.
type relay struct {
	mu sync.RWMutex
	gw *gateway.Server
}

func (r *relay) set(gw *gateway.Server) { r.mu.Lock(); r.gw = gw; r.mu.Unlock() }

func (r *relay) Emit(ctx context.Context, out host.Outgoing) error {
	r.mu.RLock()
	gw := r.gw
	r.mu.RUnlock()
	if gw == nil {
		return host.Errorf(host.StatusUnavailable, "the gateway is not running yet; retry")
	}
	return gw.Emit(ctx, out)
}

// members answers chat.Members from the gateway, which is built after the
// chat service but before anything is served.
type members struct{ p *platform }

func (m members) IsMember(ctx context.Context, conversation, person string) (bool, error) {
	if m.p.gateway == nil {
		return false, host.Errorf(host.StatusUnavailable, "the gateway is not running yet; retry")
	}
	return m.p.gateway.IsMember(ctx, conversation, person)
}

// directory adapts the identity service to gateway.Directory.
type directory struct{ id *identity.Service }

func (d directory) Person(ctx context.Context, id string) (string, error) {
	p, err := d.id.Person(ctx, id)
	if err != nil {
		return "", err
	}
	return p.Name, nil
}

func (d directory) Find(ctx context.Context, query string, limit int) ([]gateway.Person, error) {
	people, err := d.id.FindPeople(ctx, query, limit)
	if err != nil {
		return nil, err
	}
	out := make([]gateway.Person, 0, len(people))
	for _, p := range people {
		out = append(out, gateway.Person{ID: p.ID, Name: p.Name})
	}
	return out, nil
}

// appsAdapter adapts the app router to gateway.Apps.
type appsAdapter struct{ r *apps.Router }

func (a appsAdapter) Deliver(ctx context.Context, app string, ev gateway.AppEvent) error {
	return a.r.Deliver(ctx, app, apps.AppEvent(ev))
}

func (a appsAdapter) Catalog(ctx context.Context) ([]gateway.AppInfo, error) {
	entries, err := a.r.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]gateway.AppInfo, 0, len(entries))
	for _, e := range entries {
		out = append(out, gateway.AppInfo{ID: e.ID, Name: e.Name, Description: e.Description})
	}
	return out, nil
}
