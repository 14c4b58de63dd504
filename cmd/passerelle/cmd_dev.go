package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/host/services"
	"github.com/passerelle/passerelle/runtime/appbuild"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/assets"
	"github.com/passerelle/passerelle/runtime/hostevents"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

var cmdDev = command{"dev", "run a mini-app in the terminal, rebuilding on change: DIR|FILE.wasm", runDev}

const devHelp = `Type a line to send it as a message. Commands:
  /N            press button N (or pick item N) of the last card
  /open         open the app again
  /confirm ID   confirm the payment order ID the app requested (/decline ID refuses it)
  /grant ID     grant the consent prompt ID (/refuse ID refuses it)
  /accept ID    let the business message you under the subscribe prompt ID (/decline ID refuses it)
  STOP, START   the platform's keywords work as on a server: the app never sees them
  /take NAME    once the app handed the conversation off, take it as the agent NAME
  /handback [NOTE]  hand it back to the app, with NOTE
  /help         show this help
  /quit         exit`

// devPoll is how often dev looks for changed sources.
const devPoll = 500 * time.Millisecond

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return devSession(ctx, args, os.Stdin, stdout, stderr)
}

// devSession is the dev command with its input made explicit for tests.
func devSession(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passerelle dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quiet := fs.Bool("q", false, "do not print host calls")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: passerelle dev [-q] DIR|FILE.wasm")
		fmt.Fprintln(stderr, "Runs a mini-app in the terminal without a server. With DIR, rebuilds and reloads it when a .go, .c or .h file, manifest.json or a file of assets/ changes.")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, devHelp)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give one app directory or one .wasm file, e.g. passerelle dev miniapps/echo"}
	}
	d := &devTerm{out: stdout, trace: !*quiet}
	hostLog := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := openDevHost(ctx, d, hostLog)
	if err != nil {
		return fmt.Errorf("start the host services: %w", err)
	}
	defer h.close()
	d.host = h
	eng, err := sandbox.New(ctx, sandbox.Config{
		CacheDir: appbuild.CompileCacheDir(),
		Funcs:    h.svc.Funcs(),
		PoolSize: 1,
		Logger:   hostLog,
		AppLog:   d,
	})
	if err != nil {
		return err
	}
	defer eng.Close(ctx)

	src := pos[0]
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	isDir := info.IsDir()
	if err := d.load(ctx, eng, src, isDir, stderr); err != nil {
		return err
	}
	defer d.closeApp(ctx)

	if isDir {
		wctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { d.watch(wctx, eng, src, stderr) })
		defer wg.Wait()
		defer cancel()
	}

	d.printf("%s\n", devHelp)
	d.event(ctx, host.EventOpen, "", nil, nil)
	lines := bufio.NewScanner(stdin)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		if ctx.Err() != nil {
			return nil
		}
		line := strings.TrimSpace(lines.Text())
		switch {
		case line == "":
		case line == "/quit" || line == "/exit":
			return nil
		case line == "/help":
			d.printf("%s\n", devHelp)
		case line == "/open":
			d.event(ctx, host.EventOpen, "", nil, nil)
		case line == "/handback" || strings.HasPrefix(line, "/handback ") || strings.HasPrefix(line, "/take "):
			cmd, arg, _ := strings.Cut(line, " ")
			if err := d.staff(ctx, cmd, strings.TrimSpace(arg)); err != nil {
				d.printf("%s: %v\n", cmd, err)
			}
		case strings.HasPrefix(line, "/confirm "), strings.HasPrefix(line, "/decline "),
			strings.HasPrefix(line, "/grant "), strings.HasPrefix(line, "/refuse "), strings.HasPrefix(line, "/accept "):
			cmd, id, _ := strings.Cut(line, " ")
			if err := h.answer(ctx, cmd, strings.TrimSpace(id)); err != nil {
				d.printf("%s: %v\n", cmd, err)
			}
		case strings.HasPrefix(line, "/"):
			n, err := strconv.Atoi(line[1:])
			if err != nil {
				d.printf("unknown command %s\n%s\n", line, devHelp)
				continue
			}
			a, err := d.choice(n)
			if err != nil {
				d.printf("%v\n", err)
				continue
			}
			d.event(ctx, host.EventAction, "", a, nil)
		default:
			d.event(ctx, host.EventMessage, line, nil, nil)
		}
	}
	return lines.Err()
}

// staff plays the merchant's staff on the open handoff of the dev
// conversation: /take NAME takes it (the app gets a handoff event),
// /handback NOTE hands it back (a handback event).
func (d *devTerm) staff(ctx context.Context, cmd, arg string) error {
	d.mu.Lock()
	ref := d.app.Ref()
	d.mu.Unlock()
	hs := d.host.svc.Handoffs
	open, err := hs.List(ctx, ref.Merchant, true, 0)
	if err != nil {
		return err
	}
	for _, h := range open {
		if h.Conversation != "dev" {
			continue
		}
		if cmd == "/take" {
			if arg == "" {
				return errors.New("say who takes it: /take NAME")
			}
			_, err = hs.Take(ctx, ref.Merchant, h.ID, arg)
			return err
		}
		agent := h.Agent
		if agent == "" {
			agent = "staff"
		}
		_, err = hs.Return(ctx, ref.Merchant, h.ID, agent, arg)
		return err
	}
	return errors.New("the app has not handed this conversation off (chat.handoff)")
}

// devTerm is one terminal session: the loaded app, the last card shown, and
// the output, which the input loop and the reloader share.
type devTerm struct {
	trace bool
	host  *devHost

	mu     sync.Mutex
	out    io.Writer
	app    *sandbox.App
	id     string // app id
	card   *host.Card
	events int
	sent   int
	assets []assets.Asset // the images the loaded module ships
}

// AssetPath implements chat.Assets for the loaded module: a card's
// "asset:<name>" shows as the path a server would serve the image at.
func (d *devTerm) AssetPath(_ context.Context, _ host.AppRef, name string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	path, _, err := assets.Resolve(d.assets, assets.Scheme+name)
	return path, err
}

func (d *devTerm) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, format, args...)
}

// Emit implements host.Outbox: it prints the message as a surface without
// cards would, with /N for each choice.
func (d *devTerm) Emit(_ context.Context, o host.Outgoing) error {
	if o.Prompt != nil {
		d.prompt(o.Prompt)
		return nil
	}
	if o.Message == nil {
		return errors.New("dev: neither a message nor a prompt")
	}
	m := *o.Message
	d.mu.Lock()
	defer d.mu.Unlock()
	prefix := d.id + "> "
	pad := strings.Repeat(" ", len(prefix))
	var lines []string
	if m.Text != "" {
		lines = append(lines, strings.Split(m.Text, "\n")...)
	}
	if c := m.Card; c != nil {
		d.card = c
		if c.Title != "" {
			lines = append(lines, "["+c.Title+"]")
		}
		if c.Text != "" {
			lines = append(lines, strings.Split(c.Text, "\n")...)
		}
		if c.Image != "" {
			lines = append(lines, "(image "+c.Image+")")
		}
		for i, b := range c.Buttons {
			lines = append(lines, fmt.Sprintf("/%d %s", i+1, b.Title))
		}
		if c.List != nil {
			for i, it := range c.List.Items {
				s := fmt.Sprintf("/%d %s", i+1, it.Title)
				if it.Description != "" {
					s += " - " + it.Description
				}
				lines = append(lines, s)
			}
		}
		if c.Form != nil {
			lines = append(lines, fmt.Sprintf("(form %q: %d fields; forms cannot be filled in dev yet)", c.Form.ID, len(c.Form.Fields)))
		}
	}
	for i, l := range lines {
		if i == 0 {
			fmt.Fprintf(d.out, "%s%s\n", prefix, l)
		} else {
			fmt.Fprintf(d.out, "%s%s\n", pad, l)
		}
	}
	return nil
}

// prompt prints a host-drawn prompt and how to answer it.
func (d *devTerm) prompt(pr *host.Prompt) {
	var p struct {
		Type        string   `json:"type"`
		ID          string   `json:"id"`
		Order       string   `json:"order"`
		Amount      int64    `json:"amount"`
		Currency    string   `json:"currency"`
		Description string   `json:"description"`
		Scopes      []string `json:"scopes"`
	}
	_ = json.Unmarshal(pr.Body, &p)
	switch pr.Kind {
	case d.host.svc.Pay.PromptKind():
		d.printf("host> pay %d %s (minor units) for %q? /confirm %s or /decline %s\n", p.Amount, p.Currency, p.Description, p.Order, p.Order)
	case d.host.svc.Identity.PromptKind():
		d.printf("host> share %s with the app? /grant %s or /refuse %s\n", strings.Join(p.Scopes, ", "), p.ID, p.ID)
	case d.host.svc.Consent.PromptKind():
		var b consent.PromptBody
		_ = json.Unmarshal(pr.Body, &b)
		d.host.keep(pr)
		d.printf("host> %s /accept %s or /decline %s\n", b.Text, pr.ID, pr.ID)
	default:
		d.printf("host> prompt %s\n", strings.TrimSpace(string(pr.Body)))
	}
}

// keep keeps a subscribe prompt until the dev person answers it.
func (h *devHost) keep(pr *host.Prompt) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.prompts[pr.ID] = pr
}

// answer performs /confirm, /decline, /grant, /refuse or /accept for the
// dev person: /accept and /decline answer a subscribe prompt by its id,
// /decline otherwise a payment order.
func (h *devHost) answer(ctx context.Context, cmd, id string) error {
	if id == "" {
		return errors.New("give the id the prompt showed")
	}
	h.mu.Lock()
	pr := h.prompts[id]
	h.mu.Unlock()
	if pr != nil && (cmd == "/accept" || cmd == "/decline") {
		choice := consent.AnswerAccept
		if cmd == "/decline" {
			choice = consent.AnswerDecline
		}
		var b consent.PromptBody
		_ = json.Unmarshal(pr.Body, &b)
		_, err := pr.Kind.Apply(ctx, host.Answer{Prompt: pr.ID, Person: h.person, App: host.AppRef{Merchant: b.Merchant, App: b.App},
			Conversation: "dev", Body: pr.Body, Choice: choice, Surface: "dev"})
		if err == nil {
			h.mu.Lock()
			delete(h.prompts, id)
			h.mu.Unlock()
		}
		return err
	}
	switch cmd {
	case "/accept":
		return fmt.Errorf("no subscribe prompt %s awaits an answer", id)
	case "/confirm":
		return h.svc.Pay.Confirm(ctx, h.person, id)
	case "/decline":
		return h.svc.Pay.Decline(ctx, h.person, id)
	case "/grant":
		return h.svc.Identity.Grant(ctx, h.person, id, "dev")
	default:
		return h.svc.Identity.Refuse(ctx, h.person, id)
	}
}

// AppLog implements sandbox.AppLogger.
func (d *devTerm) AppLog(_ host.AppRef, rec sandbox.LogRecord) {
	d.printf("  %s %s: %s\n", rec.Source, strings.ToLower(rec.Level.String()), strings.TrimRight(rec.Message, "\n"))
}

// choice returns the action for /n on the last card.
func (d *devTerm) choice(n int) (*host.Action, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.card
	switch {
	case c == nil:
		return nil, errors.New("no card to choose from yet")
	case n >= 1 && n <= len(c.Buttons):
		b := c.Buttons[n-1]
		return &host.Action{ID: b.ID, Value: b.Value}, nil
	case c.List != nil && n >= 1 && n <= len(c.List.Items):
		return &host.Action{ID: c.List.Items[n-1].ID}, nil
	}
	return nil, fmt.Errorf("the last card has no choice %d", n)
}

// event sends one event to the app and prints its outcome; set, when not
// nil, fills the event's payment or timer.
func (d *devTerm) event(ctx context.Context, typ, text string, a *host.Action, set func(*host.Event)) {
	d.eventTx(ctx, typ, text, a, set, nil)
}

// eventTx is event for an event the host services keep until consume
// runs in its commit.
func (d *devTerm) eventTx(ctx context.Context, typ, text string, a *host.Action, set func(*host.Event), consume func(*bbolt.Tx) error) {
	d.mu.Lock()
	d.events++
	id := "ev_" + strconv.Itoa(d.events)
	app := d.app
	appID := d.id
	d.mu.Unlock()
	person := d.host.person
	e := host.Event{V: 1, Type: typ, ID: id, App: appID, Conversation: "dev",
		User: d.host.svc.Identity.OpenID(app.Ref(), person), Surface: "dev", Text: text, Action: a}
	if set != nil {
		set(&e)
	}
	reply, err := apps.Screen(ctx, d.host.svc.Consent, app.Ref(),
		host.AppEvent{Person: person, Conversation: "dev", Surface: "dev", Event: e}, time.Now())
	if err != nil {
		d.printf("  event %s: %v\n", typ, err)
		return
	}
	if reply.Keyword != consent.KeywordNone { // the platform's, as on a server
		d.printf("host> %s\n", reply.Text)
		if st, ok := apps.StandingEvent(reply.Keyword); ok && !reply.Duplicate {
			ref := app.Ref()
			d.host.events.Push(ctx, services.Event{App: host.AppRef{Merchant: ref.Merchant, App: ref.App}, Person: person,
				Conversation: "dev", Surface: "dev", Event: host.Event{Type: st}})
		}
		return
	}
	if held, err := apps.Held(ctx, d.host.svc.Handoffs, host.AppEvent{Person: person, Conversation: "dev", Event: e}); held || err != nil {
		d.printf("host> (handed off: the merchant's staff read this, not the app; /take NAME answers as one of them, /handback [NOTE] gives the conversation back)\n")
		return
	}
	payload, err := json.Marshal(e)
	if err != nil {
		d.printf("encode event: %v\n", err)
		return
	}
	ev := &sandbox.Event{
		Payload: payload,
		Caller:  host.Caller{Person: person, Conversation: "dev", Surface: "dev", EventID: id},
		Out:     d,
	}
	if d.trace {
		ev.Trace = func(t sandbox.CallTrace) {
			d.printf("  call %s %s -> %s %s (%s)\n", t.Op, strings.TrimSpace(string(t.Request)), t.Status,
				strings.TrimSpace(string(t.Response)), t.Duration.Round(time.Microsecond))
		}
	}
	res, err := apps.RunTx(ctx, app, ev, d.host.commit, consume)
	if err != nil {
		d.printf("  event %s failed (nothing it did was kept): %v\n", typ, err)
		return
	}
	if d.trace {
		d.printf("  event %s ok: %d host calls, %s\n", typ, res.HostCalls, res.Duration.Round(time.Microsecond))
	}
}

// load builds (for a directory) and loads src, replacing the current app.
func (d *devTerm) load(ctx context.Context, eng *sandbox.Engine, src string, isDir bool, stderr io.Writer) error {
	var wasm []byte
	var err error
	if isDir {
		b, err := appbuild.Build(ctx, src, "", stderr)
		if err != nil {
			return err
		}
		wasm = b.Wasm
	} else if wasm, err = os.ReadFile(src); err != nil {
		return err
	}
	m, err := wasmfile.ReadManifest(wasm)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	app, err := eng.Load(ctx, host.AppRef{Merchant: "dev", App: m.ID, Version: m.Version}, wasm)
	if err != nil {
		var ce *sandbox.CheckError
		if errors.As(err, &ce) {
			var b strings.Builder
			printViolations(&b, src, ce.Report.Violations)
			return fmt.Errorf("the module breaks ABI rules:\n%s", b.String())
		}
		return err
	}
	files, err := assets.FromModule(wasm) // checked by Load; read for the cards that name them
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	d.mu.Lock()
	old := d.app
	d.app, d.id, d.card, d.assets = app, m.ID, nil, files
	fmt.Fprintf(d.out, "loaded %s %s (%s), permissions %s\n", m.ID, m.Version, m.Name, permList(m.Permissions))
	d.mu.Unlock()
	if old != nil {
		old.Close(ctx)
	}
	return nil
}

func (d *devTerm) closeApp(ctx context.Context) {
	d.mu.Lock()
	app := d.app
	d.mu.Unlock()
	if app != nil {
		app.Close(ctx)
	}
}

// watch polls dir for changed .go, .c and .h files and manifest.json and reloads the app
// until ctx ends. A failed build keeps the running app.
func (d *devTerm) watch(ctx context.Context, eng *sandbox.Engine, dir string, stderr io.Writer) {
	last := sourceStamp(dir)
	t := time.NewTicker(devPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := sourceStamp(dir)
		if now == last {
			continue
		}
		last = now
		d.printf("sources changed, rebuilding...\n")
		if err := d.load(ctx, eng, dir, true, stderr); err != nil {
			if ctx.Err() != nil {
				return
			}
			d.printf("reload failed, still running the previous build: %v\n", err)
			continue
		}
		d.printf("reloaded; type /open to open it again\n")
	}
}

// sourceStamp summarises the names, sizes and modification times of the
// .go, .c and .h files, manifest.json and the images of assets/ under dir.
func sourceStamp(dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.IsDir() {
			if path != dir && (strings.HasPrefix(e.Name(), ".") || e.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(path); ext != ".go" && ext != ".c" && ext != ".h" && e.Name() != "manifest.json" && filepath.Base(filepath.Dir(path)) != "assets" {
			return nil
		}
		if info, err := e.Info(); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", path, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}

// devHost is the platform's own host services (host/services) on a
// throwaway store, with one person, "Dev", funded with 1000.00 in EUR and
// USD. The payment, consent and timer events they cause wait in the
// platform's queue (runtime/hostevents) and reach the app, in order, from
// one goroutine.
type devHost struct {
	dir      string
	db       *bbolt.DB
	svc      *services.Services
	person   string
	events   *hostevents.Queue
	delivery *hostevents.Deliverer
	commit   *bolt.Committer // commits each event's effects (apps.RunTx)

	mu      sync.Mutex
	prompts map[string]*host.Prompt // subscribe prompts awaiting /accept or /decline
}

func openDevHost(ctx context.Context, d *devTerm, log *slog.Logger) (_ *devHost, err error) {
	h := &devHost{events: hostevents.New(), prompts: map[string]*host.Prompt{}}
	if h.dir, err = os.MkdirTemp("", "passerelle-dev-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			h.close()
		}
	}()
	if h.db, err = bbolt.Open(filepath.Join(h.dir, "dev.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true}); err != nil {
		return nil, err
	}
	h.commit = bolt.NewCommitter(h.db, bolt.Config{})
	if h.svc, err = services.Open(h.db, services.Config{
		Assets:     d,
		Logger:     log,
		Events:     h.events.Push,
		Background: true,
		Consent:    &consent.Config{}, // the rules a server runs: window_closed in dev as in production
	}); err != nil {
		return nil, err
	}
	p, err := h.svc.Identity.CreatePerson(ctx, "Dev", "+15550100")
	if err != nil {
		return nil, err
	}
	h.person = p.ID
	for _, cur := range []string{"EUR", "USD"} {
		if err = h.svc.Pay.Fund(ctx, pay.PersonAccount(h.person), cur, 100000); err != nil {
			return nil, err
		}
	}

	h.delivery = hostevents.NewDeliverer(h.events, func(ctx context.Context, ev services.Event) error {
		d.eventTx(ctx, ev.Event.Type, "", nil, func(e *host.Event) {
			e.Payment, e.Consent, e.Timer, e.Handoff = ev.Event.Payment, ev.Event.Consent, ev.Event.Timer, ev.Event.Handoff
		}, ev.Consume)
		return nil
	})
	return h, nil
}

func (h *devHost) close() {
	if h.delivery != nil {
		h.delivery.Close()
	}
	if h.svc != nil {
		h.svc.Close()
	}
	if h.commit != nil {
		h.commit.Close()
	}
	if h.db != nil {
		h.db.Close()
	}
	os.RemoveAll(h.dir)
}
