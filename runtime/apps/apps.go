package apps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/replay"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/sched"
)

// Errors of the router, wrapped with details: host.Error kinds.
var (
	ErrAppMismatch  = &host.Error{Status: host.StatusBadRequest, Code: "app_id_mismatch", Message: "module's app id differs from the app named in the request"}
	ErrNotAvailable = &host.Error{Status: host.StatusUnavailable, Message: "app is not available"}          // no live version, or it cannot be loaded
	ErrWrongOwner   = &host.Error{Status: host.StatusPermissionDenied, Message: "app has another merchant"} // a hook named the wrong merchant
)

// Identity gives the per-app pseudonymous id of a person (host/identity).
type Identity interface {
	OpenID(ref host.AppRef, person string) string
}

// Consent is told what a person sends to a business (host/consent's
// Service satisfies it). With Config.Commit the router uses InboundTx, so
// that a keyword's record commits with the platform's answer and the
// message's consumption; without, Inbound.
type Consent interface {
	Inbound(ctx context.Context, in consent.Inbound) (consent.Reply, error)
	InboundTx(ctx context.Context, tx *host.Tx, in consent.Inbound) (consent.Reply, error)
	Touch(ctx context.Context, person, business string, at time.Time) error
}

// Config wires a Router. Registry, Engine and Identity are required.
type Config struct {
	Registry *registry.Registry
	Engine   *sandbox.Engine
	Identity Identity
	// Outbox is where apps' messages and prompts go for events that name
	// no host.AppEvent.Out. Nil: such events are refused.
	Outbox host.Outbox
	// Consent, if set, sees what a person does in a conversation with a
	// business before the business's app does: every message, open and
	// action opens the service window, and a message that is a keyword
	// (STOP, START, HELP and their synonyms) is answered by the platform
	// and never reaches the app.
	Consent Consent
	// Standing, if set, learns an optout or optin event for every app of
	// each business whose standing with a person a keyword changed (STOP,
	// STOPALL, START): the app of the conversation gets it in that
	// conversation, the business's other apps without one. It runs inside
	// Deliver: queue the event (runtime/hostevents), do not deliver it
	// there.
	Standing func(ctx context.Context, ref host.AppRef, ev host.AppEvent)
	Logger   *slog.Logger
	// Handoffs, if set, holds the person's messages, actions and opens in
	// a conversation the app handed to its merchant's staff (chat.handoff)
	// from the app until they hand it back (handoff.go).
	Handoffs Handoffs
	// NewEventID makes event ids; default: 16 random bytes in hex.
	NewEventID func() string
	// Commit, when set, makes every event one transaction: the host
	// services stage the event's effects (host.Tx) and, once the guest
	// returned successfully, they are written together with the event's
	// consumption (host.AppEvent.Consume) in one store transaction through
	// this committer, which must write to the services' database. An
	// event whose reads changed meanwhile runs again (see the package
	// documentation, "Events and their effects"). Nil: effects are written
	// as the host calls are made, for tools without a store.
	Commit *bolt.Committer
	// Submit's workers (see runtime/sched): Workers run events of all
	// apps (default 256); an app has at most PerApp running (default
	// sandbox.DefaultPoolSize; give the engine's PoolSize) and Queue
	// waiting (default sched.QueueRounds, 64, times PerApp).
	Workers, Queue, PerApp int
	// Recordings, when set and enabled, records every event the apps
	// handle (runtime/replay; record.go).
	Recordings *replay.Store
}

// Router routes events to app versions. It is safe for concurrent use.
type Router struct {
	cfg Config
	reg *registry.Registry
	eng *sandbox.Engine
	log *slog.Logger

	syncMu sync.Mutex // serializes loading and closing of versions
	mu     sync.RWMutex
	loaded map[host.AppRef]*sandbox.App
	closed bool

	uploads chan struct{} // holds a token while an upload checks and compiles

	sched     *sched.Scheduler    // runs Submit's events
	refusedMu sync.Mutex          // guards refused and slow
	refused   map[string]refusals // app -> refusals not yet in its log
	slow      map[string]bool     // apps whose last event ran into its deadline; under refusedMu

	serial [serialStripes]sync.RWMutex // an app's events hold its stripe shared; a serialized run holds it alone
	crash  func(stage string)          // tests: called at each step of an event's commit
}

// New makes a Router and loads every live and candidate version. A
// version that fails to load is logged and skipped (its events fail with
// ErrNotAvailable); it does not stop the others.
func New(ctx context.Context, cfg Config) (*Router, error) {
	if cfg.Registry == nil || cfg.Engine == nil || cfg.Identity == nil {
		return nil, errors.New("apps: Config needs Registry, Engine and Identity")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NewEventID == nil {
		cfg.NewEventID = randomID
	}
	if cfg.PerApp <= 0 {
		cfg.PerApp = sandbox.DefaultPoolSize
	}
	r := &Router{cfg: cfg, reg: cfg.Registry, eng: cfg.Engine, log: cfg.Logger,
		loaded: map[host.AppRef]*sandbox.App{}, uploads: make(chan struct{}, 1),
		refused: map[string]refusals{}, slow: map[string]bool{}}
	all, err := r.reg.Apps("")
	if err != nil {
		return nil, fmt.Errorf("apps: list apps: %w", err)
	}
	for i := range all {
		if err := r.sync(ctx, &all[i]); err != nil {
			r.log.Error("load app", "app", all[i].ID, "err", err)
		}
	}
	r.sched = sched.New(sched.Config{Workers: cfg.Workers, Queue: cfg.Queue, PerApp: cfg.PerApp, Slow: r.isSlow, Logger: r.log})
	return r, nil
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Close stops Submit's workers (events still waiting are dropped, running
// ones see their context end), then closes every loaded version. Deliver
// and Submit fail afterwards.
func (r *Router) Close(ctx context.Context) error {
	serr := r.sched.Close(ctx)
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	r.mu.Lock()
	loaded := r.loaded
	r.loaded, r.closed = map[host.AppRef]*sandbox.App{}, true
	r.mu.Unlock()
	errs := []error{serr}
	for _, a := range loaded {
		errs = append(errs, a.Close(ctx))
	}
	return errors.Join(errs...)
}

func (r *Router) get(ref host.AppRef) *sandbox.App {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.loaded[ref]
}

// load returns the loaded version ref, loading it from the registry if
// needed. The caller holds syncMu.
func (r *Router) load(ctx context.Context, ref host.AppRef) (*sandbox.App, error) {
	if a := r.get(ref); a != nil {
		return a, nil
	}
	wasm, err := r.reg.Module(ref.App, ref.Version)
	if err != nil {
		return nil, err
	}
	a, err := r.eng.Load(ctx, ref, wasm)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", ref, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		a.Close(ctx)
		return nil, sandbox.ErrClosed
	}
	r.loaded[ref] = a
	r.log.Info("app version loaded", "app", ref.String())
	return a, nil
}

// sync makes the loaded versions of app a match the versions serving it.
func (r *Router) sync(ctx context.Context, a *registry.App) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	want := map[host.AppRef]bool{}
	var errs []error
	for _, v := range a.Serving() {
		ref := host.AppRef{Merchant: a.Merchant, App: a.ID, Version: v}
		want[ref] = true
		if _, err := r.load(ctx, ref); err != nil {
			errs = append(errs, err)
		}
	}
	r.mu.Lock()
	var stale []*sandbox.App
	for ref, sa := range r.loaded {
		if ref.App == a.ID && !want[ref] {
			stale = append(stale, sa)
			delete(r.loaded, ref)
		}
	}
	r.mu.Unlock()
	for _, sa := range stale {
		r.log.Info("app version unloaded", "app", sa.Ref().String())
		if err := sa.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Upload checks wasm (ABI conformance, manifest, permissions against
// imports, limits against the operator's caps), compiles it and stores it
// as a new version of the app its manifest names, owned by merchant. When
// appID is not "" the manifest's id must equal it. Nothing is stored when
// any step fails, and the live version is never affected: a first version
// becomes live, later ones wait for Promote.
//
// A module that breaks ABI rules returns *sandbox.CheckError with every
// violation (kind sandbox.ErrRejected); one that cannot start within its
// limits, or breaks an ABI rule while starting, returns its
// *sandbox.LimitError, *TrapError or *ABIError wrapped with
// sandbox.ErrStartFailed. Every error carries a *host.Error with a Code.
//
// Uploads run one at a time: checking and compiling a module keeps a
// processor busy, and event dispatch must keep the others. An upload waits
// for the one before it until ctx is done.
func (r *Router) Upload(ctx context.Context, merchant, uploadedBy, appID string, wasm []byte) (registry.Version, *registry.App, error) {
	select {
	case r.uploads <- struct{}{}:
		defer func() { <-r.uploads }()
	case <-ctx.Done():
		return registry.Version{}, nil, fmt.Errorf("apps: waiting for another upload to be compiled: %w", ctx.Err())
	}
	rep, err := r.eng.Check(ctx, wasm)
	if err != nil {
		return registry.Version{}, nil, err
	}
	if len(rep.Violations) > 0 {
		return registry.Version{}, nil, &sandbox.CheckError{Report: rep}
	}
	if rep.Manifest == nil {
		return registry.Version{}, nil, fmt.Errorf("%w: no manifest in the module; build it with 'passerelle app build'", host.ErrInvalidManifest)
	}
	m := *rep.Manifest
	if err := m.Validate(); err != nil {
		return registry.Version{}, nil, err
	}
	if appID != "" && m.ID != appID {
		return registry.Version{}, nil, fmt.Errorf("%w: the module is app %q, the request names %q; upload it to /v1/apps/%s/versions", ErrAppMismatch, m.ID, appID, m.ID)
	}
	if err := r.reg.CheckOwner(m.ID, merchant); err != nil {
		return registry.Version{}, nil, err
	}
	if _, err := r.reg.Version(m.ID, m.Version); err == nil {
		return registry.Version{}, nil, fmt.Errorf("app %q version %q: %w; raise the version in manifest.json and build again", m.ID, m.Version, registry.ErrVersionExists)
	}
	ref := host.AppRef{Merchant: merchant, App: m.ID, Version: m.Version}
	sa, err := r.eng.Load(ctx, ref, wasm)
	if err != nil {
		var (
			le *sandbox.LimitError
			te *sandbox.TrapError
			ae *sandbox.ABIError
		)
		if errors.As(err, &le) || errors.As(err, &te) || errors.As(err, &ae) {
			err = fmt.Errorf("%w: %w", sandbox.ErrStartFailed, err)
		}
		return registry.Version{}, nil, err
	}
	v, a, err := r.reg.Add(merchant, uploadedBy, m, wasm)
	if err != nil {
		sa.Close(ctx)
		return registry.Version{}, nil, err
	}
	r.syncMu.Lock()
	keep := a.Live == m.Version && r.get(ref) == nil
	if keep {
		r.mu.Lock()
		if r.closed {
			keep = false
		} else {
			r.loaded[ref] = sa
		}
		r.mu.Unlock()
	}
	r.syncMu.Unlock()
	if !keep {
		// Compiled into the cache; Promote loads it again cheaply.
		sa.Close(ctx)
	}
	r.log.Info("app version uploaded", "app", ref.String(), "sha256", v.SHA256, "size", v.Size)
	return v, a, nil
}

// Promote loads version, then rolls it out to percent of people (see
// registry.Promote), then unloads versions that stopped serving.
func (r *Router) Promote(ctx context.Context, appID, version string, percent int) (*registry.App, error) {
	a, err := r.reg.App(appID)
	if err != nil {
		return nil, err
	}
	if _, err := r.reg.Version(appID, version); err != nil {
		return nil, err
	}
	r.syncMu.Lock()
	_, err = r.load(ctx, host.AppRef{Merchant: a.Merchant, App: appID, Version: version})
	r.syncMu.Unlock()
	if err != nil {
		return nil, err
	}
	a, err = r.reg.Promote(appID, version, percent)
	if err != nil {
		// The version is loaded but not serving: unload it again.
		if a2, err2 := r.reg.App(appID); err2 == nil {
			r.sync(ctx, a2)
		}
		return nil, err
	}
	return a, r.sync(ctx, a)
}

// Rollback applies registry.Rollback and loads and unloads versions to match.
func (r *Router) Rollback(ctx context.Context, appID, version string) (*registry.App, error) {
	a, err := r.reg.Rollback(appID, version)
	if err != nil {
		return nil, err
	}
	return a, r.sync(ctx, a)
}

// Deliver runs ev in the version of appID that serves ev.Person in
// ev.Conversation. It returns when the app has handled the event; what the
// app sends went through ev.Out (Config.Outbox when nil) meanwhile. A
// failed event returns the
// sandbox's typed error (wrapped), after it was counted and logged and, for
// failures the platform caused, the person was told.
//
// Deliver is for a person's events (Submit's): with Config.Commit, their
// consumption (host.AppEvent.Consume) commits with whatever is written for
// them, their failure included. The events the host services cause come
// through DeliverFor, whose consumption commits only with the app's
// effects: a failed one is left to its service (Done).
func (r *Router) Deliver(ctx context.Context, appID string, ev host.AppEvent) error {
	return r.deliver(ctx, appID, ev, nil, true)
}

// deliver is Deliver; released, if set, is called once the guest is done
// with the event, before its messages are stored (sandbox.Event.Released),
// or when the event ends without running. settles says whether the
// router consumes the event whatever the outcome (a person's event), or
// only with the app's effects (an event a host service caused).
func (r *Router) deliver(ctx context.Context, appID string, ev host.AppEvent, released func(), settles bool) error {
	if ev.Out == nil {
		ev.Out = r.cfg.Outbox
	}
	if ev.Out == nil {
		return fmt.Errorf("%w: the event names no outbox for the app's answers", ErrNotAvailable)
	}
	for attempt := 0; ; attempt++ {
		a, version, err := r.reg.Pick(appID, ev.Person, ev.Conversation)
		if errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrNoLive) {
			// Nothing will run it: it is consumed, and written nowhere else.
			return errors.Join(fmt.Errorf("%w: %v", ErrNotAvailable, err), r.settle(ctx, &host.Tx{}, ev, settles))
		}
		if err != nil {
			return err
		}
		ref := host.AppRef{Merchant: a.Merchant, App: a.ID, Version: version}
		if attempt == 0 {
			answered, err := r.screen(ctx, ref, ev)
			if err != nil && !answered {
				// The rules refused the event: it is consumed, as one that
				// failed, and the app does not get it.
				return errors.Join(err, r.settle(ctx, &host.Tx{}, ev, settles))
			}
			if answered {
				return err
			}
		}
		sa := r.get(ref)
		if sa == nil {
			sa, err = r.loadServing(ctx, ref)
			if errors.Is(err, errNotServing) && attempt < 3 {
				continue // a rollout changed the versions meanwhile: pick again
			}
			if errors.Is(err, sandbox.ErrClosed) || ctx.Err() != nil {
				return fmt.Errorf("%w: %s: %w", ErrNotAvailable, ref, err) // closing: the event stays kept
			}
			if err != nil {
				return errors.Join(fmt.Errorf("%w: %s: %v", ErrNotAvailable, ref, err), r.settle(ctx, &host.Tx{}, ev, settles))
			}
		}
		if host.IsOptIn(ev.Event.Type) && !wants(sa, ev.Event.Type) {
			// An opt-in event (status) for a version that did not ask for
			// it (a rollout between versions that differ): not run, but
			// consumed, so that it does not come again at the next start.
			if released != nil {
				released()
			}
			return r.settle(ctx, &host.Tx{}, ev, settles)
		}
		err = r.dispatch(ctx, sa, a, ref, ev, released, settles)
		if errors.Is(err, sandbox.ErrClosed) && attempt < 3 {
			continue // the version was unloaded by a rollout meanwhile: pick again
		}
		return err
	}
}

var errNotServing = errors.New("version no longer serving")

// ErrStopped is the kind of the outcome of an event the router stopped
// because ctx ended (Close, or the caller's context) before the event was
// answered: with Config.Commit nothing of it is written and it is not
// consumed, so that its source hands it over again at the next start
// (gateway Resume, a service's kept events). Submit does not call done for
// it.
var ErrStopped = errors.New("apps: the event was stopped before it was answered; it is handed over again at the next start")

// screen passes ev through the consent rules and the handoffs before ref's
// app may see it. A keyword (STOP, START, HELP...) is the platform's: the
// consent rules apply it, the person gets the one reply and the
// business's apps are told (Config.Standing). A person's event in a
// conversation handed to the merchant's staff is held from the app. Either
// way answered is true, the app never sees the event, and, with
// Config.Commit, what the platform writes for it (the keyword's ledger
// record and its reply; the held event's check that the handoff is still
// open) commits with the event's consumption in one store transaction,
// through the same path as an app's effects: a crash before that commit
// leaves nothing and the event comes again, after it the event is gone.
func (r *Router) screen(ctx context.Context, ref host.AppRef, ev host.AppEvent) (answered bool, err error) {
	if r.cfg.Commit == nil {
		if r.cfg.Consent != nil && ev.Person != "" {
			if taken, err := r.inbound(ctx, ref, ev); taken || err != nil {
				return true, err
			}
		}
		return r.held(ctx, ref, ev), nil
	}
	for run := 1; ; run++ {
		tx := &host.Tx{}
		answered, err := r.screenTx(ctx, tx, ref, ev)
		if err != nil || !answered {
			return answered, err
		}
		err = commit(r.cfg.Commit, tx, ev.Consume, r.step)
		if !errors.Is(err, host.ErrTxConflict) {
			return true, err
		}
		if run >= OptimisticRuns+SerialRuns {
			return true, fmt.Errorf("apps: the platform's answer to event %s kept conflicting: %w", ev.Event.ID, err)
		}
		// What it relied on changed (the handoff was handed back, the
		// keyword was applied meanwhile): decide again.
	}
}

// screenTx decides ev as screen does, staging in tx what the platform
// writes for an event it answers.
func (r *Router) screenTx(ctx context.Context, tx *host.Tx, ref host.AppRef, ev host.AppEvent) (answered bool, err error) {
	if r.cfg.Consent != nil && ev.Person != "" {
		var reply consent.Reply
		if ev.Event.Type == host.EventMessage {
			reply, err = r.cfg.Consent.InboundTx(ctx, tx, consent.Inbound{Person: ev.Person, Business: ref.Merchant, App: ref.App,
				Surface: ev.Surface, Conversation: ev.Conversation, Message: ev.Event.ID, Text: ev.Event.Text})
			if err != nil {
				return false, fmt.Errorf("apps: consent rules: %w", err)
			}
		} else if reply, err = Screen(ctx, r.cfg.Consent, ref, ev, time.Now()); err != nil {
			return false, err
		}
		if reply.Keyword != consent.KeywordNone {
			if reply.Text != "" { // first, so that the confirmation comes before what the apps answer the event
				out := host.Outgoing{App: ref, Conversation: ev.Conversation, Message: &host.Message{Text: reply.Text}}
				if err := r.stageOut(ctx, tx, ev.Out, out); err != nil {
					return false, fmt.Errorf("apps: answer %s: %w", reply.Keyword, err)
				}
			}
			if !reply.Duplicate && r.cfg.Standing != nil {
				tx.Stage(host.Effect{Committed: func() { r.standing(ctx, ref, ev, reply) }})
			}
			return true, nil
		}
	}
	if r.cfg.Handoffs == nil || ev.Person == "" || ev.Conversation == "" {
		return false, nil
	}
	switch ev.Event.Type {
	case host.EventMessage, host.EventAction, host.EventOpen:
	default:
		return false, nil
	}
	held, err := r.cfg.Handoffs.HoldsTx(ctx, tx, ev.Conversation)
	if err != nil {
		r.log.Warn("apps: handoff state not read; the app gets the event", "app", ref.String(), "conversation", ev.Conversation, "err", err)
		return false, nil
	}
	if held {
		r.log.Debug("apps: event held for the merchant's staff", "app", ref.String(), "conversation", ev.Conversation, "type", ev.Event.Type)
	}
	return held, nil
}

// stageOut stages out in tx as an app's host call does (host.Call.Emit):
// stored in the commit when o is a host.TxOutbox, handed to o.Emit once
// committed otherwise.
func (r *Router) stageOut(ctx context.Context, tx *host.Tx, o host.Outbox, out host.Outgoing) error {
	call := host.Call{Out: o, Log: r.log, Tx: tx}
	return call.Emit(ctx, out)
}

// settle commits tx's effects with ev's consumption (Config.Commit), for
// an event the platform answers itself or one that failed; without
// consume (an event a host service caused, whose service decides from its
// Done), the effects alone. Without Config.Commit there is nothing to
// consume and tx holds nothing. A commit that fails leaves the event
// kept: it comes again at the next start.
func (r *Router) settle(ctx context.Context, tx *host.Tx, ev host.AppEvent, consume bool) error {
	if r.cfg.Commit == nil {
		return nil
	}
	c := ev.Consume
	if !consume {
		c = nil
	}
	if err := commit(r.cfg.Commit, tx, c, r.step); err != nil {
		r.log.Warn("apps: the platform's answer to an event was not committed; the event is kept and comes again at the next start",
			"event", ev.Event.ID, "type", ev.Event.Type, "err", err)
		return err
	}
	return nil
}

// inbound tells the consent rules that ev's person acted in a conversation
// with ref's business (Screen). A message that is a keyword is the
// platform's: its one reply goes to the person, the business's apps are
// told (Config.Standing) and taken is true; the app never sees it.
func (r *Router) inbound(ctx context.Context, ref host.AppRef, ev host.AppEvent) (taken bool, err error) {
	reply, err := Screen(ctx, r.cfg.Consent, ref, ev, time.Now())
	if err != nil || reply.Keyword == consent.KeywordNone {
		return false, err
	}
	if reply.Text != "" { // first, so that the confirmation comes before what the apps answer the event
		out := host.Outgoing{App: ref, Conversation: ev.Conversation, Message: &host.Message{Text: reply.Text}}
		if eerr := ev.Out.Emit(ctx, out); eerr != nil {
			err = fmt.Errorf("apps: answer %s: %w", reply.Keyword, eerr)
		}
	}
	if !reply.Duplicate && r.cfg.Standing != nil { // the keyword is applied: tell the apps even if the answer failed
		r.standing(ctx, ref, ev, reply)
	}
	return true, err
}

// StandingEvent returns the type of the event that tells an app a keyword
// changed its business's standing with the person: optout for STOP and
// STOPALL, optin for START; ok is false for the others.
func StandingEvent(kw consent.Keyword) (typ string, ok bool) {
	switch kw {
	case consent.KeywordStop, consent.KeywordStopAll:
		return host.EventOptOut, true
	case consent.KeywordStart:
		return host.EventOptIn, true
	}
	return "", false
}

// Screen passes an event of a person through the consent rules c before
// ref's app may see it, as Deliver does: a message goes to c.Inbound (a
// keyword is applied there, and the reply it returns, whose Keyword is not
// KeywordNone, is the platform's answer: the app must not get the
// message); an open or an action opens the service window (c.Touch, at
// now). Other events, and events without a person, pass untouched.
// passerelle dev and runtime/apptest, which run one app without a Router,
// call it too, so that an app meets the same rules everywhere.
func Screen(ctx context.Context, c Consent, ref host.AppRef, ev host.AppEvent, now time.Time) (consent.Reply, error) {
	if ev.Person == "" {
		return consent.Reply{}, nil
	}
	switch ev.Event.Type {
	case host.EventMessage:
		reply, err := c.Inbound(ctx, consent.Inbound{Person: ev.Person, Business: ref.Merchant, App: ref.App,
			Surface: ev.Surface, Conversation: ev.Conversation, Message: ev.Event.ID, Text: ev.Event.Text})
		if err != nil {
			return consent.Reply{}, fmt.Errorf("apps: consent rules: %w", err)
		}
		return reply, nil
	case host.EventOpen, host.EventAction:
		if err := c.Touch(ctx, ev.Person, ref.Merchant, now); err != nil {
			return consent.Reply{}, fmt.Errorf("apps: consent rules: %w", err)
		}
	}
	return consent.Reply{}, nil
}

// standing tells every app of the businesses in reply that the person
// stopped or started them (Config.Standing).
func (r *Router) standing(ctx context.Context, ref host.AppRef, ev host.AppEvent, reply consent.Reply) {
	typ, ok := StandingEvent(reply.Keyword)
	if !ok {
		return
	}
	for _, business := range reply.Businesses {
		r.tell(ctx, business, ref, ev, host.Event{Type: typ})
	}
}

// tell gives every live app of business the event e about ev's person
// (Config.Standing): the app ref names in ev's conversation, the others
// without one.
func (r *Router) tell(ctx context.Context, business string, ref host.AppRef, ev host.AppEvent, e host.Event) {
	all, err := r.reg.Apps(business)
	if err != nil {
		r.log.Warn("apps: "+e.Type+" not told", "merchant", business, "err", err)
		return
	}
	for _, a := range all {
		if a.Live == "" {
			continue
		}
		conv := ""
		if a.ID == ref.App && business == ref.Merchant {
			conv = ev.Conversation
		}
		r.cfg.Standing(ctx, host.AppRef{Merchant: business, App: a.ID},
			host.AppEvent{Person: ev.Person, Conversation: conv, Surface: ev.Surface, Event: e})
	}
}

// Revoked tells every live app of rec's business that the person revoked
// their consent in the consent screen (rec is what consent.Service.Revoke
// recorded; a zero rec tells nobody): the whole business, like STOP, with
// an optout event; one purpose (a withdrawal) with a consent event naming
// the purpose, granted false and no prompt. The events have no
// conversation and go through Config.Standing, like those of STOP.
func (r *Router) Revoked(ctx context.Context, rec consent.Record) {
	if rec.Seq == 0 || rec.Business == "" || r.cfg.Standing == nil {
		return
	}
	var e host.Event
	switch rec.Kind {
	case consent.KindOptOut:
		e = host.Event{Type: host.EventOptOut}
	case consent.KindWithdrawal:
		e = host.Event{Type: host.EventConsent, Consent: &host.ConsentEvent{Purpose: rec.Purpose}}
	default:
		return
	}
	r.tell(ctx, rec.Business, host.AppRef{}, host.AppEvent{Person: rec.Person, Surface: rec.Surface}, e)
}

// loadServing loads ref if it still serves its app, so that a version a
// rollout just unloaded is not loaded again behind its back.
func (r *Router) loadServing(ctx context.Context, ref host.AppRef) (*sandbox.App, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	a, err := r.reg.App(ref.App)
	if err != nil {
		return nil, err
	}
	if ref.Version != a.Live && ref.Version != a.Candidate {
		return nil, errNotServing
	}
	return r.load(ctx, ref)
}

func (r *Router) dispatch(ctx context.Context, sa *sandbox.App, a *registry.App, ref host.AppRef, ev host.AppEvent, released func(), settles bool) error {
	e := ev.Event
	e.V, e.App, e.Conversation, e.Surface = 1, a.ID, ev.Conversation, ev.Surface
	if e.ID == "" {
		e.ID = r.cfg.NewEventID()
	}
	e.User = ""
	if ev.Person != "" {
		e.User = r.cfg.Identity.OpenID(ref, ev.Person)
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("apps: encode event: %w", err)
	}
	start := time.Now()
	var (
		res    sandbox.Result
		failed *replay.Record // the recording of a run the guest failed
	)
	for run := 1; ; run++ {
		res, failed, err = r.run(ctx, sa, ev, &sandbox.Event{
			Payload:  payload,
			Caller:   host.Caller{Person: ev.Person, Conversation: ev.Conversation, Surface: ev.Surface, EventID: e.ID},
			Out:      ev.Out,
			Released: released,
		}, run > OptimisticRuns)
		if !errors.Is(err, host.ErrTxConflict) || run >= OptimisticRuns+SerialRuns {
			break
		}
		r.reg.RecordRerun(ref)
	}
	if errors.Is(err, sandbox.ErrClosed) {
		return err
	}
	if err != nil && r.cfg.Commit != nil && ctx.Err() != nil {
		// Stopped, not failed: nothing is written, the event stays kept.
		return fmt.Errorf("app %s event %s: %w (%w)", ref, e.ID, ErrStopped, err)
	}
	d := res.Duration
	if d == 0 {
		d = time.Since(start)
	}
	kind := sandbox.FailureKind(err)
	switch {
	case errors.Is(err, host.ErrTxConflict):
		kind = KindConflict
	case kind == "internal" && host.StatusOf(err) == host.StatusQuota:
		kind = KindQuota // the commit found a quota exceeded
	}
	r.reg.Record(ref, d, kind)
	if err == nil {
		return nil
	}
	r.log.Warn("app event failed", "app", ref.String(), "event", e.ID, "type", e.Type, "kind", kind, "err", err)
	line := registry.LogRecord{Level: slog.LevelError.String(), Source: "failure",
		Message: err.Error(), EventID: e.ID, Event: e.Type, Kind: kind}
	// The person is told when the platform failed their event; not of a
	// status event, which nothing they did caused.
	tell := kind != "guest" && ev.Conversation != "" && e.Type != host.EventStatus
	if r.cfg.Commit == nil {
		r.keep(failed)
		r.reg.AppendLog(ref, line)
		if tell {
			r.tellProblem(ctx, a, ref, ev)
		}
		return fmt.Errorf("app %s event %s: %w", ref, e.ID, err)
	}
	// The platform's answer to the failure (the recording of what the
	// guest did, the notice to the person, the line in the app's log)
	// commits with the event's consumption, as an app's effects do.
	line.Message += " (nothing the event did was kept: its storage writes, messages, timers and requests were dropped; its log lines above are kept)"
	tx := &host.Tx{}
	if failed != nil {
		tx.Stage(r.cfg.Recordings.Effect(failed))
	}
	if tell {
		if serr := r.stageOut(ctx, tx, ev.Out, problem(a, ref, ev)); serr != nil {
			r.log.Warn("tell person about app failure", "app", ref.String(), "err", serr)
		}
	}
	tx.Stage(host.Effect{Committed: func() { r.reg.AppendLog(ref, line) }})
	if serr := r.settle(ctx, tx, ev, settles); serr != nil {
		line.Message += " (the event is kept and runs again at the next start: " + serr.Error() + ")"
		r.reg.AppendLog(ref, line)
	}
	return fmt.Errorf("app %s event %s: %w", ref, e.ID, err)
}

// OptimisticRuns is how often an event runs alongside its app's other
// events before it runs alone: a run whose commit finds that what it read
// changed (host.ErrTxConflict) is dropped and the event runs again. After
// OptimisticRuns such runs the event runs with its app's other events
// held back (up to SerialRuns more times), where no event of the same app
// can change what it reads.
const (
	OptimisticRuns = 5
	SerialRuns     = 3
)

// Failure kinds of an event whose commit failed: it kept finding what it
// read changed, even when run alone (KindConflict), or its writes would
// have exceeded a storage or timer quota filled by other events meanwhile
// (KindQuota).
const (
	KindConflict = "conflict"
	KindQuota    = "quota_exceeded"
)

// serialStripes is how many locks the apps' serialized runs share (by a
// hash of the app id).
const serialStripes = 64

func (r *Router) stripe(app string) *sync.RWMutex {
	h := uint32(2166136261)
	for i := 0; i < len(app); i++ {
		h = (h ^ uint32(app[i])) * 16777619
	}
	return &r.serial[h%serialStripes]
}

// run dispatches one run of an event and, with Config.Commit, commits its
// effects with its consumption. alone runs it with the other events of
// its app held back.
//
// failed is the recording of a run the guest failed (a non-zero return),
// when recording is on: it is kept with the platform's answer to the
// failure.
func (r *Router) run(ctx context.Context, sa *sandbox.App, ev host.AppEvent, se *sandbox.Event, alone bool) (_ sandbox.Result, failed *replay.Record, _ error) {
	rec := r.capture(se)
	if r.cfg.Commit == nil {
		res, err := sa.Dispatch(ctx, se)
		return res, r.record(rec, sa, ev, se, err), err
	}
	lock := r.stripe(sa.Ref().App)
	if alone {
		lock.Lock()
		defer lock.Unlock()
	} else {
		lock.RLock()
		defer lock.RUnlock()
	}
	se.Tx = &host.Tx{}
	res, err := sa.Dispatch(ctx, se)
	failed = r.record(rec, sa, ev, se, err)
	if err != nil {
		return res, failed, err
	}
	return res, nil, commit(r.cfg.Commit, se.Tx, ev.Consume, r.step)
}

// RunTx runs one event on sa as a transaction, for tools that run one app
// without a Router (passerelle dev, runtime/apptest): se gets a new
// host.Tx, and once the guest returned successfully its effects commit
// with consume (which may be nil) through c. A run whose commit conflicts
// (host.ErrTxConflict) is dropped and the event runs again, up to
// OptimisticRuns+SerialRuns times; the caller runs one event at a time.
func RunTx(ctx context.Context, sa *sandbox.App, se *sandbox.Event, c *bolt.Committer, consume func(*bbolt.Tx) error) (sandbox.Result, error) {
	for run := 1; ; run++ {
		se.Tx = &host.Tx{}
		res, err := sa.Dispatch(ctx, se)
		if err == nil {
			err = commit(c, se.Tx, consume, nil)
		}
		if !errors.Is(err, host.ErrTxConflict) || run >= OptimisticRuns+SerialRuns {
			return res, err
		}
	}
}

// commit writes tx's effects and the event's consumption in one store
// transaction through c, then runs the effects' Committed hooks in order.
// step, when not nil, is told each step (Router.crash).
func commit(c *bolt.Committer, tx *host.Tx, consume func(*bbolt.Tx) error, step func(string)) error {
	if step == nil {
		step = func(string) {}
	}
	step("before-commit")
	effects := tx.Effects()
	writes := consume != nil
	for _, e := range effects {
		writes = writes || e.Apply != nil
	}
	if !writes { // nothing to store: no transaction, no sync
		committed(effects, step)
		return nil
	}
	err := c.Do(func(btx *bbolt.Tx) error {
		if err := tx.Apply(btx); err != nil {
			return err
		}
		if consume != nil {
			return consume(btx)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, host.ErrTxConflict) {
			return err
		}
		return fmt.Errorf("apps: commit the event's effects: %w", err)
	}
	committed(effects, step)
	return nil
}

// committed runs the Committed hooks of a committed event's effects, in
// order.
func committed(effects []host.Effect, step func(string)) {
	step("after-commit")
	for i, e := range effects {
		if e.Committed != nil {
			e.Committed()
		}
		if i == 0 {
			step("committed-hook")
		}
	}
}

// step calls the crash hook tests set (export_test.go).
func (r *Router) step(stage string) {
	if r.crash != nil {
		r.crash(stage)
	}
}

// problem is the message that tells ev's person that a's event failed.
func problem(a *registry.App, ref host.AppRef, ev host.AppEvent) host.Outgoing {
	name := a.Name
	if name == "" {
		name = a.ID
	}
	return host.Outgoing{App: ref, Conversation: ev.Conversation,
		Message: &host.Message{Text: name + " had a problem and could not answer. Please try again in a moment."}}
}

// tellProblem sends problem at once, for a router without Config.Commit.
func (r *Router) tellProblem(ctx context.Context, a *registry.App, ref host.AppRef, ev host.AppEvent) {
	if err := ev.Out.Emit(ctx, problem(a, ref, ev)); err != nil {
		r.log.Warn("tell person about app failure", "app", ref.String(), "err", err)
	}
}

// DeliverFor delivers an event the host services caused (a payment
// outcome, a consent answer, a due timer: host/services.Event) to the app
// ref names, checking that ref.Merchant owns it; the version follows the
// conversation rule like any event, whatever ref.Version says.
func (r *Router) DeliverFor(ctx context.Context, ref host.AppRef, ev host.AppEvent) error {
	a, err := r.reg.App(ref.App)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotAvailable, err)
	}
	if ref.Merchant != "" && a.Merchant != ref.Merchant {
		return fmt.Errorf("%w: %s", ErrWrongOwner, ref)
	}
	return r.deliver(ctx, ref.App, ev, nil, false)
}

// Catalog lists the apps that have a live version, by id.
func (r *Router) Catalog(ctx context.Context) ([]host.AppInfo, error) {
	all, err := r.reg.Apps("")
	if err != nil {
		return nil, err
	}
	var out []host.AppInfo
	for _, a := range all {
		if a.Live == "" {
			continue
		}
		name, desc := a.Name, a.Description
		if v, err := r.reg.Version(a.ID, a.Live); err == nil {
			name, desc = v.Manifest.Name, v.Manifest.Description
		}
		out = append(out, host.AppInfo{ID: a.ID, Name: name, Description: desc})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Pools returns the instance-pool figures of the loaded versions of appID.
func (r *Router) Pools(appID string) map[string]sandbox.PoolStats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := map[string]sandbox.PoolStats{}
	for ref, sa := range r.loaded {
		if ref.App == appID {
			out[ref.Version] = sa.Stats()
		}
	}
	return out
}

// Registry returns the registry the router uses.
func (r *Router) Registry() *registry.Registry { return r.reg }
