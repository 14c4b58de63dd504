package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/gateway/staff"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/miniapps/dist"
	"github.com/passerelle/passerelle/runtime/appbuild"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

var cmdDemo = command{"demo", "start a server with demo people, funded wallets and the example mini-apps; prints a URL per person", runDemo}

// demoPerson is one person the demo creates, signed in on one surface.
type demoPerson struct {
	Name    string
	Surface string
}

// demoPeople sign in to the web client: Alice on the web, Emil in the web
// client's WhatsApp preview (which shows a card as WhatsApp would render it;
// the client labels him "as on WhatsApp"). The people really on WhatsApp,
// Messenger and Instagram write from the Meta simulator's phone pages
// (demoPhonePeople), through the connectors.
var demoPeople = []demoPerson{
	{"Alice", "web"},
	{"Emil", "whatsapp"},
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
	tmp    string        // data directory to remove on close, if the demo made it
	nets   *demoNetworks // the Meta simulator and the accounts connected through it
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
	appsDir := fs.String("apps", "", "build the example mini-apps from source in this directory (e.g. miniapps) instead of installing the ones the binary carries")
	only := fs.String("only", "", "comma-separated apps to install, by name (default: all)")
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
	if *appsDir != "" {
		fmt.Fprintf(stdout, "Building the example mini-apps in %s ...\n", *appsDir)
	} else {
		fmt.Fprintln(stdout, "Installing the example mini-apps (the first demo on this machine compiles them: a few seconds) ...")
	}
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
		where := "web"
		if l.Surface != "web" {
			where = "web, as on " + networkTitle(metasim.Network(l.Surface))
		}
		fmt.Fprintf(stdout, "  %-7s (%s) %s\n", l.Name, where, l.URL)
	}
	fmt.Fprintf(stdout, "\nEach wallet holds %s %d.%02d. Open \"Lunch\" from the app list, order, and confirm the payment.\n",
		demoCurrency, demoFunds/100, demoFunds%100)
	if len(d.nets.phones) > 0 {
		fmt.Fprintf(stdout, "\nPeople on their phones, in the Meta simulator (%s): their messages reach the demo\n", d.nets.base)
		fmt.Fprintln(stdout, "through its webhooks and the answers go back through the Send API, as with Meta.")
		fmt.Fprintln(stdout, "Open a phone and write \"hi\" to the business; its app answers:")
		for _, ph := range d.nets.phones {
			fmt.Fprintf(stdout, "  %s on %s, to %s: %s\n", ph.Name, networkTitle(ph.Network), ph.Business, ph.URL)
		}
	}
	if u, err := d.inboxURL(); err == nil {
		fmt.Fprintf(stdout, "\nAsk the Help centre for a person, then answer as its staff in the merchant inbox:\n  %s\n", u)
		if m, err := d.memberLink(ctx, "Sam"); err == nil {
			fmt.Fprintf(stdout, "or as Sam, a member of its staff (the link signs in once):\n  %s\n", m)
		}
	}
	fmt.Fprintln(stdout, "Stop with Ctrl-C.")
	<-ctx.Done()
	fmt.Fprintln(stdout, "Stopping the demo.")
	return nil
}

// inboxURL is the merchant inbox of the support bot's merchant, signed in
// with a merchant token in the URL's fragment (which never reaches the
// server's logs); an error when the demo has no support bot.
func (d *demo) inboxURL() (string, error) {
	a, err := d.p.registry.App("support")
	if err != nil {
		return "", err
	}
	tok, err := d.p.svc.Identity.Issue(a.Merchant, identity.RoleMerchant, 24*time.Hour)
	if err != nil {
		return "", err
	}
	return d.p.url() + "/inbox#token=" + url.QueryEscape(tok), nil
}

// memberLink is a one-time sign-in link to the merchant inbox of the
// support bot's merchant for its member of staff name, added if absent.
func (d *demo) memberLink(ctx context.Context, name string) (string, error) {
	a, err := d.p.registry.App("support")
	if err != nil {
		return "", err
	}
	_, l, err := d.p.staff.Add(ctx, a.Merchant, name)
	if errors.Is(err, staff.ErrExists) {
		var all []staff.Member
		if all, err = d.p.staff.Members(ctx, a.Merchant); err != nil {
			return "", err
		}
		for _, m := range all {
			if strings.EqualFold(m.Name, name) {
				_, l, err = d.p.staff.NewLink(ctx, a.Merchant, m.ID)
			}
		}
	}
	if err != nil {
		return "", err
	}
	return d.p.url() + "/inbox#signin=" + l.Code, nil
}

// demoOptions says where a demo serves and which apps it installs.
type demoOptions struct {
	Addr    string                // listen address; port 0 picks a free one
	Data    string                // data directory; "" = a fresh temporary one, removed on close
	AppsDir string                // directory of the example apps to build; "" = the carried ones
	Only    []string              // names of the apps to install; nil = all
	Config  func(*platformConfig) // adjusts the platform's configuration; may be nil
}

// startDemo starts a platform on a fresh (or given) data directory, installs
// the example apps (carried, or built from o.AppsDir) and creates the demo
// people.
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
	built, err := demoApps(ctx, o.AppsDir, o.Only, buildOut)
	if err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	cfg.Addr, cfg.Data = o.Addr, data
	if err := demoSecretKey(&cfg, d.tmp == ""); err != nil {
		return nil, err
	}
	if d.nets, err = listenDemoNetworks(o.Addr); err != nil {
		return nil, err
	}
	cfg.GraphBaseURL = d.nets.base
	cfg.DemoSignIn = demoSignIn{d}
	if d.tmp != "" {
		// A throwaway data directory keeps compiled modules where the local
		// tools do, so that the next demo does not compile the same apps again.
		cfg.CacheDir = appbuild.CompileCacheDir()
	}
	if o.Config != nil {
		o.Config(&cfg)
	}
	if d.p, err = startPlatform(ctx, cfg, log); err != nil {
		return nil, err
	}
	if err := installDemoApps(ctx, d.p, built); err != nil {
		return nil, err
	}
	var installed []string
	for _, b := range built {
		installed = append(installed, b.Manifest.ID)
	}
	if err := d.nets.connect(ctx, d.p, installed, log); err != nil {
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
// version, unless that version is live already (a kept data directory). It
// installs as many apps at once as there are CPUs: each upload compiles.
func installDemoApps(ctx context.Context, p *platform, built []*appbuild.Built) error {
	return forEach(built, runtime.NumCPU(), func(b *appbuild.Built) error {
		m, ok := demoMerchants[b.Manifest.ID]
		if !ok {
			m.ID, m.Name = b.Manifest.ID+"-merchant", b.Manifest.Name
		}
		if _, _, err := p.svc.Identity.EnsureMerchant(ctx, m.ID, m.Name); err != nil {
			return err
		}
		if existing, err := p.registry.App(b.Manifest.ID); err == nil && existing.Live == b.Manifest.Version {
			return nil // kept data directory: already installed
		}
		if _, _, err := p.router.Upload(ctx, m.ID, "demo", b.Manifest.ID, b.Wasm); err != nil {
			return fmt.Errorf("install %s: %w", b.Manifest.ID, err)
		}
		return nil
	})
}

// forEach calls fn on every item, at most n at once, and returns when all
// calls have, with their errors joined.
func forEach[T any](items []T, n int, fn func(T) error) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, max(n, 1))
	)
	for _, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(it); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (d *demo) close(ctx context.Context) {
	if d.nets != nil {
		d.nets.close(ctx) // before the platform: the simulator posts to its webhooks
	}
	if d.p != nil {
		d.p.close(ctx)
	}
	if d.tmp != "" {
		os.RemoveAll(d.tmp)
	}
}

// demoApps returns the example apps: those the binary carries
// (miniapps/dist) or, when dir is not "", those built from source in dir;
// only those named in only, if it is not nil.
func demoApps(ctx context.Context, dir string, only []string, buildOut io.Writer) ([]*appbuild.Built, error) {
	if dir != "" {
		return buildDemoApps(ctx, dir, only, buildOut)
	}
	mods, err := dist.Modules()
	if err != nil {
		return nil, err
	}
	var out []*appbuild.Built
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
		if only != nil && !slices.Contains(only, m.Name) {
			continue
		}
		man, err := wasmfile.ReadManifest(m.Wasm)
		if err != nil {
			return nil, fmt.Errorf("carried module %s: %w", m.Name, err)
		}
		out = append(out, &appbuild.Built{Manifest: man, Wasm: m.Wasm})
	}
	for _, name := range only {
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("no example app %q; there are: %s (or pass --apps DIR to build others from source)", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// buildDemoApps builds every app directory (one holding manifest.json) under
// dir, or only those named in only, two at a time, and returns them sorted
// by id.
func buildDemoApps(ctx context.Context, dir string, only []string, stderr io.Writer) ([]*appbuild.Built, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read the example apps: %w (give the directory holding them, e.g. --apps miniapps from the repository root)", err)
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
		mu  sync.Mutex
		out []*appbuild.Built
	)
	from := map[*appbuild.Built]string{}
	err = forEach(dirs, 2, func(d string) error {
		b, err := appbuild.Build(ctx, d, "", stderr)
		if err != nil {
			return fmt.Errorf("build %s: %w", d, err)
		}
		mu.Lock()
		out = append(out, b)
		from[b] = d
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Manifest.ID != out[j].Manifest.ID {
			return out[i].Manifest.ID < out[j].Manifest.ID
		}
		return from[out[i]] < from[out[j]]
	})
	for i := 1; i < len(out); i++ {
		if id := out[i].Manifest.ID; id == out[i-1].Manifest.ID {
			return nil, fmt.Errorf("%s and %s both declare app id %q; choose one with --only (e.g. --only %s)",
				from[out[i-1]], from[out[i]], id, filepath.Base(from[out[i]]))
		}
	}
	return out, nil
}

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
