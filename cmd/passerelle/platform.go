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

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/api"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/connstore"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/webhooks"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/gateway/eventstore"
	"github.com/passerelle/passerelle/gateway/msgstate"
	"github.com/passerelle/passerelle/gateway/promptstore"
	"github.com/passerelle/passerelle/gateway/readmarks"
	"github.com/passerelle/passerelle/gateway/staff"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/broadcast"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/services"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/hostevents"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/replay"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// platformConfig is what a server needs to start. serve fills it from flags,
// the environment and a config file; demo and the end-to-end tests fill it
// directly.
type platformConfig struct {
	Addr           string        `json:"addr"`            // listen address, e.g. 127.0.0.1:8080; port 0 picks a free one
	Data           string        `json:"data"`            // data directory: the bbolt file and the compilation cache
	AllowedOrigins []string      `json:"allowed_origins"` // browser origins allowed besides the server's own host
	MaxUploadBytes int64         `json:"max_upload_bytes"`
	PoolSize       int           `json:"pool_size"`   // warm instances per app version
	AppWorkers     int           `json:"app_workers"` // app events run at once, all apps together
	Limits         host.Limits   `json:"limits"`      // defaults for apps whose manifest says nothing
	MaxLimits      host.Limits   `json:"max_limits"`  // operator caps
	PaymentTTL     Duration      `json:"payment_ttl"`
	DedupeWindow   Duration      `json:"dedupe_window"` // how long a resent client message id is recognised
	Consent        consentConfig `json:"consent"`
	LogLevel       string        `json:"log_level"` // debug, info, warn, error
	CacheDir       string        `json:"-"`         // compilation cache; "" = Data/cache

	// Connections to Meta's networks (connections.go).
	SecretKeyFile string `json:"secret_key_file"` // file of the keys sealing connection secrets, the current one first
	SecretKey     string `json:"-"`               // the same keys inline, from PASSERELLE_SECRET_KEY; wins over the file
	PublicURL     string `json:"public_url"`      // the server's public base URL, for the webhook URLs shown to merchants
	GraphBaseURL  string `json:"graph_base_url"`  // the Graph API's base URL for sends: a Meta simulator; "" is Meta's

	// ReplayRetention is how long the events apps handle are recorded for
	// replay (runtime/replay); 0, the default, records nothing.
	ReplayRetention Duration `json:"replay_retention"`
	ReplayAsync     bool     `json:"replay_async"` // write records after each event's commit, in batches (runtime/replay Config.Async)

	// DemoSignIn lets anyone sign in as the demo's people, without a
	// password. Only the demo sets it; no config file can.
	DemoSignIn gateway.DemoSignIn `json:"-"`
	// Connections, if set, are the merchants' WhatsApp numbers, Pages and
	// Instagram accounts: the connector runtime serves them (networks.go).
	Connections connector.Connections `json:"-"`
}

// consentConfig is the operator's part of the consent rules (host/consent).
type consentConfig struct {
	Window   Duration                  `json:"window"`   // service window after the person's last message; 24h
	Limits   consent.Limits            `json:"limits"`   // per_person_day, per_business_second for every business
	Business map[string]consent.Limits `json:"business"` // merchant id → its own limits
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
	engine   *sandbox.Engine
	registry *registry.Registry
	router   *apps.Router
	commit   *bolt.Committer // commits each app event's effects with its consumption
	api      *api.Handler
	staff    *staff.Store // merchants' staff and their inbox sessions
	gateway  *gateway.Server
	msgs     *convlog.Log
	prompts  *promptstore.Store
	marks    *readmarks.Store
	kept     *eventstore.Store // persons' events for apps, until consumed
	states   *msgstate.Store   // what became of apps' messages on persons' surfaces

	broadcasts *broadcast.Engine // merchants' broadcasts; started once the gateway runs

	httpSrv  *http.Server
	listener net.Listener
	events   *hostevents.Queue // payment outcomes, consent answers and timers waiting for their app
	payStats *paymentMetrics

	deliverer *hostevents.Deliverer // hands events to their apps once everything is wired
	networks  *networks             // WhatsApp, Messenger, Instagram (networks.go); nil without connections
	wg        sync.WaitGroup        // the HTTP server's goroutine

	conns    *connstore.Store  // merchants' connections to WhatsApp, Messenger and Instagram
	waInbox  *whatsapp.Store   // WhatsApp webhook events, recorded before Meta gets its 200
	msInbox  *messenger.Store  // Messenger and Instagram webhook events, likewise
	webhooks *webhooks.Handler // /webhooks/{network}/{id}

	recordings     *replay.Store // events recorded for replay (recordings.go)
	stopRecordings func()        // stops removing expired recorded events
	stopStates     func()        // stops forgetting old message states
}

// startPlatform opens the store, starts every service and begins serving
// HTTP on cfg.Addr. Stop it with close.
func startPlatform(ctx context.Context, cfg platformConfig, log *slog.Logger) (_ *platform, err error) {
	p := &platform{log: log, events: hostevents.New(), payStats: newPaymentMetrics()}
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
	if p.registry, err = registry.Open(p.db, registry.Options{Logger: log.With("component", "registry"), FlushEvery: 5 * time.Second}); err != nil {
		return nil, err
	}
	consentStats := consent.NewMetrics()
	if p.svc, err = services.Open(p.db, services.Config{
		Assets:     p.registry,
		Logger:     log,
		PaymentTTL: time.Duration(cfg.PaymentTTL),
		Events:     p.events.Push,
		Background: true,
		Consent: &consent.Config{Window: time.Duration(cfg.Consent.Window), Limits: cfg.Consent.Limits,
			Business: cfg.Consent.Business, Metrics: consentStats},
	}); err != nil {
		return nil, err
	}
	cacheDir := cfg.CacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(cfg.Data, "cache")
	}
	if p.engine, err = sandbox.New(ctx, sandbox.Config{
		CacheDir: cacheDir,
		Funcs:    p.svc.Funcs(),
		Defaults: cfg.Limits,
		Max:      cfg.MaxLimits,
		PoolSize: cfg.PoolSize,
		Logger:   log.With("component", "sandbox"),
		AppLog:   apps.LogSink{Registry: p.registry},
	}); err != nil {
		return nil, err
	}
	p.commit = bolt.NewCommitter(p.db, bolt.Config{})
	if err := p.openRecordings(cfg); err != nil {
		return nil, err
	}
	if p.router, err = apps.New(ctx, apps.Config{
		Registry: p.registry,
		Engine:   p.engine,
		Commit:   p.commit,
		Identity: p.svc.Identity,
		Consent:  p.svc.Consent,
		Standing: p.pushStanding,
		Handoffs: p.svc.Handoffs,
		Logger:   log.With("component", "apps"),
		Workers:  cfg.AppWorkers,
		PerApp:   cfg.PoolSize,

		Recordings: p.recordings, // events recorded for replay (recordings.go)
	}); err != nil {
		return nil, err
	}
	if err := p.openConnections(cfg); err != nil {
		return nil, err
	}
	broadcastStats := broadcast.NewMetrics()
	if p.broadcasts, err = broadcast.Open(p.db, broadcast.Config{Consent: p.svc.Consent, Sender: gatewaySender{p}, Pseudonyms: p.svc.Identity,
		Metrics: broadcastStats, Logger: log.With("component", "broadcast")}); err != nil {
		return nil, err
	}
	if p.staff, err = staff.Open(p.db, staff.Config{Logger: log.With("component", "staff")}); err != nil {
		return nil, err
	}
	if p.states, err = msgstate.Open(p.db); err != nil {
		return nil, err
	}
	p.stopStates = p.pruneStates()
	if p.api, err = api.New(api.Config{
		Auth:      p.svc.Identity,
		Apps:      p.router,
		Audience:  p.svc.Consent,
		MaxUpload: cfg.MaxUploadBytes,
		TempDir:   cfg.Data,
		Logger:    log.With("component", "api"),

		Connections: p.conns,
		PublicURL:   cfg.PublicURL,
		Broadcasts:  p.broadcasts,

		Handoffs:      p.svc.Handoffs,
		Conversations: inboxConversations{p},
		Staff:         p.staff,
		Standings:     p.svc.Consent,
		Messages:      p.states,
	}); err != nil {
		return nil, err
	}
	if p.msgs, err = convlog.Open(p.db, convlog.Config{DedupeWindow: time.Duration(cfg.DedupeWindow)}); err != nil {
		return nil, err
	}
	if p.prompts, err = promptstore.Open(p.db); err != nil {
		return nil, err
	}
	if p.marks, err = readmarks.Open(p.db); err != nil {
		return nil, err
	}
	if p.kept, err = eventstore.Open(p.db); err != nil {
		return nil, err
	}
	if p.gateway, err = gateway.New(gateway.Config{
		Log:            p.msgs,
		PromptStore:    p.prompts,
		Marks:          p.marks,
		Events:         p.kept,
		States:         p.states,
		Auth:           p.svc.Identity,
		Directory:      p.svc.Identity,
		Apps:           p.router,
		Payments:       wallet{p.svc.Pay},
		Consents:       consentScreen{consent: p.svc.Consent, identity: p.svc.Identity, router: p.router},
		Prompts:        p.svc.PromptKinds(),
		Logger:         log.With("component", "gateway"),
		API:            p.api,
		Assets:         p.registry,
		AllowedOrigins: cfg.AllowedOrigins,
		DemoSignIn:     cfg.DemoSignIn,
		LinkCodes:      p.svc.Identity,
	}); err != nil {
		return nil, err
	}
	conns := connector.Connections(p.conns)
	if cfg.Connections != nil {
		conns = cfg.Connections
	}
	if err := p.startNetworks(conns, log); err != nil {
		return nil, err
	}
	for _, c := range []prometheus.Collector{newRuntimeCollector(p.router), p.payStats.outcomes, consentStats, broadcastStats} {
		if err := p.gateway.Registerer().Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}

	if p.webhooks, err = webhooks.New(webhooks.Config{Connections: p.conns,
		WhatsApp: p.networks.WhatsAppRecorder(), Messenger: p.networks.MessengerRecorder(),
		Log: log.With("component", "webhooks"), Metrics: p.gateway.Registerer()}); err != nil {
		return nil, err
	}

	p.deliverer = hostevents.NewDeliverer(p.events, p.deliverHostEvent)
	p.broadcasts.Start() // resumes the broadcasts a stopped server left unfinished
	// The persons' events accepted before the last stop whose effects did
	// not commit, before anyone can add to them.
	if n, err := p.gateway.Resume(ctx); err != nil {
		log.Warn("app events kept from before the restart", "resumed", n, "err", err)
	} else if n > 0 {
		log.Info("app events kept from before the restart resumed", "events", n)
	}

	if p.listener, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another server using the port? pick another with --addr)", cfg.Addr, err)
	}
	p.httpSrv = &http.Server{
		Handler:           p.routes(),
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
	if p.broadcasts != nil {
		p.broadcasts.Close() // before the gateway it sends through
	}
	p.closeNetworks()
	if p.gateway != nil {
		if err := p.gateway.Close(ctx); err != nil {
			p.log.Warn("gateway close", "err", err)
		}
	}
	if p.deliverer != nil {
		p.deliverer.Close()
	}
	if p.svc != nil {
		p.svc.Close()
	}
	if p.stopRecordings != nil {
		p.stopRecordings()
	}
	if p.stopStates != nil {
		p.stopStates()
	}
	p.wg.Wait()
	if p.router != nil {
		if err := p.router.Close(ctx); err != nil {
			p.log.Warn("router close", "err", err)
		}
	}
	if p.commit != nil {
		p.commit.Close()
	}
	if p.registry != nil {
		if err := p.registry.Close(); err != nil {
			p.log.Warn("registry close", "err", err)
		}
	}
	if p.engine != nil {
		if err := p.engine.Close(ctx); err != nil {
			p.log.Warn("sandbox close", "err", err)
		}
	}
	p.closeConnections()
	if p.msgs != nil {
		p.msgs.Close() // after everything that posts messages
	}
	if p.marks != nil {
		p.marks.Close()
	}
	if p.kept != nil {
		p.kept.Close() // after the router: a handled event is consumed
	}
	if p.states != nil {
		p.states.Close()
	}
	if p.prompts != nil {
		p.prompts.Close()
	}
	if p.db != nil {
		if err := p.db.Close(); err != nil {
			p.log.Warn("store close", "err", err)
		}
	}
}

// pushStanding queues an optout or optin event for an app
// (apps.Config.Standing), delivered like the events the services cause.
func (p *platform) pushStanding(ctx context.Context, ref host.AppRef, ev host.AppEvent) {
	p.events.Push(ctx, services.Event{App: ref, Person: ev.Person, Conversation: ev.Conversation, Surface: ev.Surface, Event: ev.Event})
}

// deliverHostEvent hands an event the host services caused to its app.
func (p *platform) deliverHostEvent(ctx context.Context, ev services.Event) error {
	if pe := ev.Event.Payment; pe != nil {
		p.payStats.observe(*pe)
	}
	err := p.router.DeliverFor(ctx, ev.App, host.AppEvent{Person: ev.Person, Conversation: ev.Conversation, Surface: ev.Surface,
		Event: ev.Event, Out: p.gateway, Consume: ev.Consume})
	if err != nil {
		what, id := "person", ev.Person
		switch {
		case ev.Event.Payment != nil:
			what, id = "order", ev.Event.Payment.Order
		case ev.Event.Consent != nil:
			what, id = "prompt", ev.Event.Consent.Prompt
		case ev.Event.Timer != nil:
			what, id = "timer", ev.Event.Timer.ID
		case ev.Event.Handoff != nil:
			what, id = "handoff", ev.Event.Handoff.ID
		}
		p.log.Warn(ev.Event.Type+" event not delivered", what, id, "app", ev.App.String(), "err", err)
	}
	return err
}
