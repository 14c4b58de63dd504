package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/loadgen"
	"github.com/passerelle/passerelle/host/identity"
)

var cmdLoadgen = command{"loadgen", "measure a server on this machine: 'loadgen serve' starts one with N people, 'loadgen run' loads it", runLoadgen}

const loadgenUsage = `usage:
  passerelle loadgen serve [-addr 127.0.0.1:8087] [-people 2000] [-tokens FILE] [-apps DIR]
  passerelle loadgen run   -tokens FILE [-addr 127.0.0.1:8087] [-conns 1000] [-senders N] [-duration 10s] [-mode p2p|app] [-pid PID]
  passerelle loadgen serve -gateway-only -secret S -db FILE   (the gateway alone, for 'run -secret S')

serve starts the real platform (store, host services, wasm runtime, gateway)
on a fresh data directory, installs miniapps/echo built with the Go
toolchain, creates N people and writes their tokens to a file. run opens
connections as those people over loopback only, pairs them, sends person to
person (-mode p2p) or person to echo and back (-mode app) for a bounded
time, and prints throughput, p50/p99 latency and the server's memory.
Run 'passerelle loadgen serve -h' or 'passerelle loadgen run -h' for the flags.`

func runLoadgen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, loadgenUsage)
		return nil
	}
	switch args[0] {
	case "serve":
		return loadgenServe(ctx, args[1:], stdout, stderr)
	case "run":
		return loadgenRun(ctx, args[1:], stdout, stderr)
	}
	return usageError{fmt.Sprintf("unknown loadgen mode %q: use serve or run", args[0])}
}

func loadgenRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o loadgen.Options
	fs := flag.NewFlagSet("passerelle loadgen run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:8087", "server address (loopback only)")
	tokens := fs.String("tokens", "", `file of "person token" lines written by 'loadgen serve'`)
	fs.StringVar(&o.Secret, "secret", "", "instead of -tokens: the secret of 'loadgen serve -gateway-only'")
	fs.StringVar(&o.Prefix, "prefix", "lg", "with -secret: person id prefix")
	fs.IntVar(&o.Conns, "conns", 1000, fmt.Sprintf("connections to open (even, at most %d)", loadgen.MaxConns))
	fs.IntVar(&o.Senders, "senders", 0, "connections that send (0 = all); in p2p each sends to its pair")
	fs.IntVar(&o.Window, "window", 1, "sends in flight per sender")
	fs.Float64Var(&o.Rate, "rate", loadgen.DefaultRate, "most sends per second per sender (the gateway refuses more than 50 frames/s per connection by default); -1 = unpaced")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, fmt.Sprintf("how long to send (at most %s)", loadgen.MaxDuration))
	fs.IntVar(&o.PID, "pid", 0, "server PID, to read its resident memory from /proc")
	fs.StringVar(&o.Mode, "mode", loadgen.ModeP2P, "p2p (person to person) or app (person to a mini-app and back)")
	fs.StringVar(&o.App, "app", "echo", "mini-app to open in app mode; it must answer each message with its text")
	fs.StringVar(&o.ReplyPrefix, "reply-prefix", loadgen.EchoPrefix, "app mode: what the app puts before the text it repeats")
	fs.IntVar(&o.Text, "text", 32, "message text bytes after the timestamp")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the load generator to this file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, loadgenUsage)
		fmt.Fprintf(stderr, "\nflags of %s:\n", fs.Name())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if (*tokens == "") == (o.Secret == "") {
		return usageError{"give exactly one of -tokens FILE (a real server) or -secret S (the gateway-only server)"}
	}
	if *tokens != "" {
		logins, err := loadgen.ReadTokens(*tokens)
		if err != nil {
			return err
		}
		o.Logins = logins
	}
	if *cpuprofile != "" {
		stop, err := startCPUProfile(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	_, err := loadgen.Run(ctx, o, stdout)
	return err
}

func loadgenServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passerelle loadgen serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8087", "loopback address to listen on")
	data := fs.String("data", "", "data directory; must not exist yet (default: a fresh temporary one, removed on exit)")
	people := fs.Int("people", 2000, fmt.Sprintf("people to create (at most %d)", loadgen.MaxConns))
	tokens := fs.String("tokens", "", "file to write the people's tokens to (default: tokens.txt in the data directory)")
	appsDir := fs.String("apps", "", "build echo from source in this directory of example apps (default: the echo the binary carries)")
	pool := fs.Int("pool", 64, "warm instances of echo (the sandbox runs at most this many events at once)")
	level := fs.String("log-level", "warn", "debug, info, warn or error")
	gatewayOnly := fs.Bool("gateway-only", false, "serve the gateway alone with an in-process echo and HS256 tokens (isolates the gateway from the wasm runtime and host services)")
	secret := fs.String("secret", "", "-gateway-only: shared secret for 'run -secret'")
	dbPath := fs.String("db", "", "-gateway-only: bbolt file (created if absent)")
	rate := fs.Float64("rate", 0, "-gateway-only: frames per second per connection (0 = the gateway default)")
	queue := fs.Int("queue", 0, "-gateway-only: send queue per connection (0 = the gateway default)")
	workers := fs.Int("app-workers", 0, "app events run at once, all apps together (0 = the default: 256, or the platform's app_workers)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback address, sampling blocking and mutex waits too (profiles of a chosen span, e.g. only while 'loadgen run' sends)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, loadgenUsage)
		fmt.Fprintf(stderr, "\nflags of %s:\n", fs.Name())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if err := loadgen.Loopback(*addr); err != nil {
		return usageError{err.Error()}
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return usageError{err.Error()}
	}
	if *cpuprofile != "" {
		stop, err := startCPUProfile(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if *pprofAddr != "" {
		stop, err := servePprof(*pprofAddr)
		if err != nil {
			return err
		}
		defer stop()
	}
	if *gatewayOnly {
		if *secret == "" || *dbPath == "" {
			return usageError{"-gateway-only needs -secret S and -db FILE"}
		}
		db, err := bbolt.Open(*dbPath, 0o600, &bbolt.Options{Timeout: time.Second})
		if err != nil {
			return fmt.Errorf("open %s: %w", *dbPath, err)
		}
		defer db.Close()
		fmt.Fprintf(stdout, "loadgen serve: pid %d\n", os.Getpid())
		return loadgen.ServeBare(ctx, loadgen.BareConfig{Addr: *addr, DB: db, Secret: []byte(*secret),
			RatePerSecond: *rate, SendQueue: *queue, AppWorkers: *workers, Logger: log}, stdout)
	}
	if *people < 2 || *people > loadgen.MaxConns {
		return usageError{fmt.Sprintf("-people must be from 2 to %d", loadgen.MaxConns)}
	}
	lg, err := startLoadgenServer(ctx, loadgenServer{Addr: *addr, Data: *data, Apps: *appsDir, People: *people, Tokens: *tokens, Pool: *pool, AppWorkers: *workers}, log, stderr)
	if err != nil {
		return err
	}
	defer lg.close(context.WithoutCancel(ctx))
	fmt.Fprintf(stdout, "loadgen serve: pid %d, the real platform on %s with echo and %d people; tokens in %s\n",
		os.Getpid(), lg.p.url(), *people, lg.tokens)
	fmt.Fprintf(stdout, "run: passerelle loadgen run -addr %s -tokens %s -conns %d -mode app -pid %d\n",
		lg.p.listener.Addr(), lg.tokens, min(*people, 2000)&^1, os.Getpid())
	<-ctx.Done()
	return nil
}

// loadgenServer says what 'loadgen serve' starts.
type loadgenServer struct {
	Addr   string
	Data   string // must not exist; "" = a temporary directory removed on close
	Apps   string // directory holding echo/ to build; "" = the carried echo
	People int
	Tokens string // where to write the tokens; "" = tokens.txt in the data directory
	Pool   int    // warm instances per app version
	// AppWorkers is the platform's app_workers; 0 keeps its default.
	AppWorkers int
}

type lgServer struct {
	p      *platform
	tokens string
	tmp    string
}

func (s *lgServer) close(ctx context.Context) {
	if s.p != nil {
		s.p.close(ctx)
	}
	if s.tmp != "" {
		os.RemoveAll(s.tmp)
	}
}

// startLoadgenServer starts the real platform on a fresh data directory,
// installs echo and creates the people, whose tokens it writes to a file.
func startLoadgenServer(ctx context.Context, o loadgenServer, log *slog.Logger, buildOut io.Writer) (_ *lgServer, err error) {
	s := &lgServer{}
	defer func() {
		if err != nil {
			s.close(context.WithoutCancel(ctx))
		}
	}()
	data := o.Data
	if data == "" {
		if s.tmp, err = os.MkdirTemp("", "passerelle-loadgen-"); err != nil {
			return nil, err
		}
		data = s.tmp
	} else if _, err := os.Stat(data); err == nil {
		return nil, fmt.Errorf("data directory %s exists: give a new one, so that the measure starts from an empty store", data)
	}
	built, err := demoApps(ctx, o.Apps, []string{"echo"}, buildOut)
	if err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	cfg.Addr, cfg.Data, cfg.PoolSize = o.Addr, data, o.Pool
	if o.AppWorkers > 0 {
		cfg.AppWorkers = o.AppWorkers
	}
	if s.p, err = startPlatform(ctx, cfg, log); err != nil {
		return nil, err
	}
	if err := installDemoApps(ctx, s.p, built); err != nil {
		return nil, err
	}
	logins := make([]loadgen.Login, o.People)
	for i := range logins {
		name := fmt.Sprintf("lg-%d", i)
		person, _, err := s.p.svc.Identity.EnsurePerson(ctx, identity.Account{Surface: "web", External: name}, name)
		if err != nil {
			return nil, fmt.Errorf("create person %s: %w", name, err)
		}
		tok, err := s.p.svc.Identity.Issue(person.ID, "person", 24*time.Hour)
		if err != nil {
			return nil, err
		}
		logins[i] = loadgen.Login{Person: person.ID, Token: tok}
	}
	s.tokens = o.Tokens
	if s.tokens == "" {
		s.tokens = filepath.Join(data, "tokens.txt")
	}
	f, err := os.OpenFile(s.tokens, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write the tokens: %w", err)
	}
	err = loadgen.WriteTokens(f, logins)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write the tokens to %s: %w", s.tokens, err)
	}
	return s, nil
}

// startCPUProfile writes a CPU profile to path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// servePprof serves net/http/pprof's handlers on a loopback address and
// samples every blocking wait of 10 µs or more and one mutex contention in
// 10 (which costs the server a little: leave -pprof off for the figures).
func servePprof(addr string) (stop func(), err error) {
	if err := loadgen.Loopback(addr); err != nil {
		return nil, usageError{"-pprof: " + err.Error()}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
	runtime.SetBlockProfileRate(10_000)
	runtime.SetMutexProfileFraction(10)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	return func() {
		srv.Close()
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(0)
	}, nil
}
