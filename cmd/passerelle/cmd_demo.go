package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/runtime/appbuild"
)

var cmdDemo = command{"demo", "start a server with demo people, funded wallets and the example mini-apps; prints a URL per person", runDemo}

// demoPerson is one person the demo creates, signed in on one surface.
type demoPerson struct {
	Name    string
	Surface string
}

var demoPeople = []demoPerson{
	{"Alice", "web"},
	{"Bruno", "whatsapp"},
	{"Chiara", "messenger"},
	{"Deniz", "instagram"},
}

// demoMerchants names the merchant that owns each example app.
var demoMerchants = map[string]struct{ ID, Name string }{
	"lunch":   {"bistro", "Bistro Lumière"},
	"shop":    {"atelier", "Atelier Nord"},
	"ride":    {"velo", "Vélo Cab"},
	"support": {"helpdesk", "Passerelle Help"},
	"echo":    {"labs", "Passerelle Labs"},
}

// demoFunds is what each demo person's wallet holds at start: EUR 100.00.
const (
	demoCurrency = "EUR"
	demoFunds    = 100_00
)

// demo is a running demo: the platform and the people's sign-in URLs.
type demo struct {
	p      *platform
	mu     sync.Mutex // guards people: the sign-in page may ask while they are made
	people []demoLogin
	tmp    string // data directory to remove on close, if the demo made it
}

type demoLogin struct {
	demoPerson
	ID    string
	Token string
	URL   string
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passerelle demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address; port 0 picks a free port")
	data := fs.String("data", "", "data directory (default: a fresh temporary one, removed on exit)")
	appsDir := fs.String("apps", "miniapps", "directory holding the example mini-apps to build and install")
	only := fs.String("only", "", "comma-separated app directories under --apps to build and install (default: all)")
	level := fs.String("log-level", "warn", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: passerelle demo [--addr HOST:PORT] [--data DIR] [--apps DIR] [--only lunch,echo]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return usageError{err.Error()}
	}
	fmt.Fprintf(stdout, "Building the example mini-apps in %s ...\n", *appsDir)
	opts := demoOptions{Addr: *addr, Data: *data, AppsDir: *appsDir}
	if *only != "" {
		opts.Only = strings.Split(*only, ",")
	}
	d, err := startDemo(ctx, opts, log, stderr)
	if err != nil && isAddrInUse(err) && *addr == "127.0.0.1:8080" {
		fmt.Fprintln(stdout, "Port 8080 is busy; using a free port instead.")
		opts.Addr = "127.0.0.1:0"
		d, err = startDemo(ctx, opts, log, stderr)
	}
	if err != nil {
		return err
	}
	defer d.close(context.WithoutCancel(ctx))

	fmt.Fprintf(stdout, "\nPasserelle demo is running at %s\n\n", d.p.url())
	fmt.Fprintf(stdout, "Open it and pick a person to sign in as, or open one URL per person\n")
	fmt.Fprintln(stdout, "(each signs you in as that person, on that surface):")
	for _, l := range d.people {
		fmt.Fprintf(stdout, "  %-7s (%-9s) %s\n", l.Name, l.Surface, l.URL)
	}
	fmt.Fprintf(stdout, "\nEach wallet holds %s %d.%02d. Open \"Lunch\" from the app list, order, and confirm the payment.\n",
		demoCurrency, demoFunds/100, demoFunds%100)
	fmt.Fprintln(stdout, "Stop with Ctrl-C.")
	<-ctx.Done()
	fmt.Fprintln(stdout, "Stopping the demo.")
	return nil
}

// demoOptions says where a demo serves and which apps it installs.
type demoOptions struct {
	Addr    string                // listen address; port 0 picks a free one
	Data    string                // data directory; "" = a fresh temporary one, removed on close
	AppsDir string                // directory of the example apps
	Only    []string              // app directory names under AppsDir to build; nil = all
	Config  func(*platformConfig) // adjusts the platform's configuration; may be nil
}

// startDemo starts a platform on a fresh (or given) data directory, builds
// and installs the example apps, and creates the demo people.
func startDemo(ctx context.Context, o demoOptions, log *slog.Logger, buildOut io.Writer) (_ *demo, err error) {
	d := &demo{}
	data := o.Data
	if data == "" {
		if d.tmp, err = os.MkdirTemp("", "passerelle-demo-"); err != nil {
			return nil, err
		}
		data = d.tmp
	}
	defer func() {
		if err != nil {
			d.close(context.WithoutCancel(ctx))
		}
	}()
	built, err := buildDemoApps(ctx, o.AppsDir, o.Only, buildOut)
	if err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	cfg.Addr, cfg.Data = o.Addr, data
	cfg.DemoSignIn = demoSignIn{d}
	if d.p, err = startPlatform(ctx, cfg, log); err != nil {
		return nil, err
	}
	if err := installDemoApps(ctx, d.p, built); err != nil {
		return nil, err
	}
	for _, dp := range demoPeople {
		person, created, err := d.p.svc.Identity.EnsurePerson(ctx, identity.Account{Surface: dp.Surface, External: dp.Name}, dp.Name)
		if err != nil {
			return nil, err
		}
		if created {
			if err := d.p.svc.Pay.Fund(ctx, pay.PersonAccount(person.ID), demoCurrency, demoFunds); err != nil {
				return nil, err
			}
		}
		tok, err := d.p.svc.Identity.Issue(person.ID, "person", 7*24*time.Hour)
		if err != nil {
			return nil, err
		}
		d.mu.Lock()
		d.people = append(d.people, demoLogin{demoPerson: dp, ID: person.ID, Token: tok,
			URL: d.p.url() + "/?surface=" + dp.Surface + "#token=" + tok})
		d.mu.Unlock()
	}
	return d, nil
}

// demoSignIn lets the web client's sign-in page list the demo's people and
// sign in as any of them (gateway.DemoSignIn). passerelle serve has no such
// thing.
type demoSignIn struct{ d *demo }

func (s demoSignIn) People(context.Context) ([]gateway.DemoPerson, error) {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	out := make([]gateway.DemoPerson, len(s.d.people))
	for i, l := range s.d.people {
		out[i] = gateway.DemoPerson{ID: l.ID, Name: l.Name, Surface: l.Surface}
	}
	return out, nil
}

func (s demoSignIn) Token(_ context.Context, person string) (string, error) {
	s.d.mu.Lock()
	found := slices.ContainsFunc(s.d.people, func(l demoLogin) bool { return l.ID == person })
	s.d.mu.Unlock()
	if !found {
		return "", gateway.ErrNotFound
	}
	return s.d.p.svc.Identity.Issue(person, "person", 7*24*time.Hour)
}

// installDemoApps makes each app's merchant and uploads the app as its live
// version, unless that version is live already (a kept data directory).
func installDemoApps(ctx context.Context, p *platform, built []*appbuild.Built) error {
	for _, b := range built {
		m, ok := demoMerchants[b.Manifest.ID]
		if !ok {
			m.ID, m.Name = b.Manifest.ID+"-merchant", b.Manifest.Name
		}
		if _, _, err := p.svc.Identity.EnsureMerchant(ctx, m.ID, m.Name); err != nil {
			return err
		}
		if existing, err := p.registry.App(b.Manifest.ID); err == nil && existing.Live == b.Manifest.Version {
			continue // kept data directory: already installed
		}
		if _, _, err := p.router.Upload(ctx, m.ID, "demo", b.Manifest.ID, b.Wasm); err != nil {
			return fmt.Errorf("install %s: %w", b.Manifest.ID, err)
		}
	}
	return nil
}

func (d *demo) close(ctx context.Context) {
	if d.p != nil {
		d.p.close(ctx)
	}
	if d.tmp != "" {
		os.RemoveAll(d.tmp)
	}
}

// buildDemoApps builds every app directory (one holding manifest.json) under
// dir, or only those named in only, two at a time, and returns them sorted
// by id.
func buildDemoApps(ctx context.Context, dir string, only []string, stderr io.Writer) ([]*appbuild.Built, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read the example apps: %w (run the demo from the repository root, or pass --apps DIR)", err)
	}
	var dirs, names []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "manifest.json")); e.IsDir() && err == nil {
			names = append(names, e.Name())
			if only == nil || slices.Contains(only, e.Name()) {
				dirs = append(dirs, filepath.Join(dir, e.Name()))
			}
		}
	}
	for _, name := range only {
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("no app directory %q (with a manifest.json) in %s; there are: %s", name, dir, strings.Join(names, ", "))
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no app directories (with a manifest.json) in %s", dir)
	}
	var (
		mu   sync.Mutex
		out  []*appbuild.Built
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 2)
	)
	for _, d := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			b, err := appbuild.Build(ctx, d, "", stderr)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("build %s: %w", d, err))
				return
			}
			out = append(out, b)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Manifest.ID < out[j].Manifest.ID })
	return out, nil
}

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
