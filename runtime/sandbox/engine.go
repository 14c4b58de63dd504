package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/passerelle/passerelle/host"
)

// Config configures an Engine. It is copied by New; changing it afterwards
// has no effect.
type Config struct {
	CacheDir string      // wazero compilation cache on disk; "" = in memory only
	Funcs    []host.Func // host operations offered (log/event_read/result_read are built in)
	Defaults host.Limits // used where a manifest says nothing
	Max      host.Limits // operator caps: a manifest asking for more is rejected by Load
	PoolSize int         // warm instances kept per app version (default 4)
	Logger   *slog.Logger
	AppLog   AppLogger // receives app log lines, guest stdout/stderr, failures; may be nil
}

// DefaultPoolSize is the pool size used when Config.PoolSize is 0.
const DefaultPoolSize = 4

// Engine compiles, checks and runs mini-apps. It is safe for concurrent use.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	base    host.Limits // defaults after filling and capping
	cache   wazero.CompilationCache
	rtc     wazero.RuntimeConfig // without the memory cap
	checkRT wazero.Runtime       // compiles modules for Check and Load
	baseCtx context.Context      // never done; root of instance contexts
	epoch   time.Time            // monotonic origin of deadlines

	funcs    map[string]*host.Func // by import name
	imports  []hostImport          // the passerelle_v1 module's functions
	wasiSigs map[string]signature  // wasi_snapshot_preview1 functions offered

	maxDepth uint32 // MaxCallDepth; tests lower it

	mu     sync.Mutex
	apps   map[*App]struct{}
	closed bool

	isClosed atomic.Bool
}

type signature struct{ params, results []api.ValueType }

func (s signature) equal(p, r []api.ValueType) bool {
	return string(s.params) == string(p) && string(s.results) == string(r)
}

func (s signature) String() string { return sigString(s.params, s.results) }

func sigString(p, r []api.ValueType) string {
	str := func(ts []api.ValueType) string {
		out := "("
		for i, t := range ts {
			if i > 0 {
				out += ", "
			}
			out += api.ValueTypeName(t)
		}
		return out + ")"
	}
	return str(p) + " -> " + str(r)
}

// New returns an Engine. It compiles nothing until Check or Load. ctx
// supplies the values (not the cancellation) of the contexts guest code
// runs under.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.PoolSize < 0 {
		return nil, fmt.Errorf("sandbox: PoolSize %d is negative", cfg.PoolSize)
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = DefaultPoolSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger,
		base:     baseLimits(cfg.Defaults, cfg.Max),
		baseCtx:  context.WithoutCancel(ctx),
		epoch:    time.Now(),
		funcs:    make(map[string]*host.Func),
		apps:     make(map[*App]struct{}),
		wasiSigs: make(map[string]signature),
		maxDepth: MaxCallDepth,
	}
	e.imports = builtinImports()
	for i := range cfg.Funcs {
		f := &cfg.Funcs[i]
		name := host.ImportName(f.Op)
		switch {
		case f.Op == "" || f.Handle == nil:
			return nil, fmt.Errorf("sandbox: host func %d (%q) needs an Op and a Handle", i, f.Op)
		case e.funcs[name] != nil || isBuiltin(name):
			return nil, fmt.Errorf("sandbox: host func %q is offered twice (import name %q)", f.Op, name)
		}
		e.funcs[name] = f
		e.imports = append(e.imports, opImport(name, f))
	}

	var err error
	if cfg.CacheDir != "" {
		e.cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("sandbox: compilation cache in %s: %w", cfg.CacheDir, err)
		}
	} else {
		e.cache = wazero.NewCompilationCache()
	}
	// No WithCloseOnContextDone: the metered guest returns to the host
	// often enough for the deadline to be checked there (RATIONALE.md).
	e.rtc = wazero.NewRuntimeConfig().WithCompilationCache(e.cache)
	e.checkRT = wazero.NewRuntimeWithConfig(ctx, e.rtc)
	wasi, err := wasi_snapshot_preview1.NewBuilder(e.checkRT).Compile(ctx)
	if err != nil {
		_ = e.checkRT.Close(ctx)
		_ = e.cache.Close(ctx)
		return nil, fmt.Errorf("sandbox: compile WASI: %w", err)
	}
	for name, def := range wasi.ExportedFunctions() {
		e.wasiSigs[name] = signature{def.ParamTypes(), def.ResultTypes()}
	}
	_ = wasi.Close(ctx)
	return e, nil
}

// Close closes every loaded app and releases the compilation cache. Events still running are stopped.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.isClosed.Store(true)
	apps := make([]*App, 0, len(e.apps))
	for a := range e.apps {
		apps = append(apps, a)
	}
	e.mu.Unlock()

	var errs []error
	for _, a := range apps {
		errs = append(errs, a.Close(ctx))
	}
	errs = append(errs, e.checkRT.Close(ctx), e.cache.Close(ctx))
	return errors.Join(errs...)
}

// now returns the monotonic time since the engine started, in nanoseconds.
func (e *Engine) now() int64 { return int64(time.Since(e.epoch)) }
