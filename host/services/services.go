// Package services opens the platform's host services (identity, payments,
// key-value storage, chat, timers and consent) on one bbolt database and wires them
// to each other, the way every Passerelle process needs them: the server,
// `passerelle dev` and the mini-app tests (runtime/apptest).
//
// What the services cause for apps (payment outcomes, consent answers, due
// timers, an agent taking or handing back a handed-off conversation)
// leaves them as Events through one hook, Config.Events; who is in
// a conversation comes in as Config.Members. So this package depends on
// neither the sandbox nor the gateway.
//
//	q := hostevents.New() // runtime/hostevents
//	s, err := services.Open(db, services.Config{Events: q.Push, Background: true})
//	defer s.Close() // stops payment expiry and timers
//	eng, err := sandbox.New(ctx, sandbox.Config{Funcs: s.Funcs(), ...})
//	d := hostevents.NewDeliverer(q, deliver) // once deliver can deliver
//	defer d.Close()
package services

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/chat"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/handoff"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/host/kv"
	"github.com/passerelle/passerelle/host/pay"
	"github.com/passerelle/passerelle/host/timer"
)

// Config configures Open. Every field is optional.
type Config struct {
	Logger *slog.Logger // nil discards; each service logs with a "component" attribute

	// PaymentTTL is how long a payment order waits for the person's
	// confirmation (pay.DefaultTTL if zero).
	PaymentTTL time.Duration
	// Events learns every event the services cause for an app: each final
	// state of a payment order, each committed answer to a consent prompt,
	// each due timer. It runs on the goroutine that made the change,
	// sometimes inside a guest's host call or a person's request: queue the
	// event (runtime/hostevents), do not deliver it there, and call
	// Event.Done once its delivery ended. Nil forgets payment outcomes and
	// consent answers and drops due timers, with a log line.
	Events func(ctx context.Context, ev Event)
	// Members answers chat.share's membership checks (chat.Members). Nil
	// asks the call's outbox when it can answer (the gateway's does);
	// without either, chat.share posts only into the event's own
	// conversation.
	Members chat.Members
	// Assets resolves the "asset:<name>" images of the cards apps send
	// (chat.Assets; runtime/registry). Nil refuses them.
	Assets chat.Assets
	// Consent configures the consent rules (window, rate limits, metrics);
	// its Pseudonyms and BusinessName come from identity. Nil leaves
	// chat.send unchecked, for tools and tests that play the person
	// without telling the rules that the person wrote (Consent.Touch); the
	// consent service is open either way.
	Consent *consent.Config
	// Background runs the services' background work on goroutines the
	// Services own until Close: handing over the consent answers a previous
	// run kept (Identity.Redeliver), expiring unconfirmed payment orders and
	// handing over their outcomes (pay.DefaultSweepInterval), firing due
	// timers (timer.DefaultPoll). Without it, tools and tests step them
	// (Pay.Sweep, Timers.FireDue).
	Background bool
}

// Services is the platform's host services on one database.
type Services struct {
	Identity *identity.Service
	Pay      *pay.Service
	KV       *kv.Store
	Chat     *chat.Service
	Timers   *timer.Service
	Consent  *consent.Service
	// Handoffs keeps the conversations apps handed to their merchant's
	// staff (chat.handoff) for the merchant inbox.
	Handoffs *handoff.Service

	stop        context.CancelFunc // ends the redelivery
	redelivered sync.WaitGroup
}

// Open creates the services' buckets in db (each service owns its own) and
// wires them: storage takes its per-person pseudonyms from identity.
func Open(db *bbolt.DB, cfg Config) (*Services, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Services{}
	var err error
	idCfg := identity.Config{Logger: log.With("component", "identity")}
	merchantName := func(ctx context.Context, id string) string {
		m, err := s.Identity.Merchant(ctx, id)
		if err != nil {
			return ""
		}
		return m.Name
	}
	payCfg := pay.Config{TTL: cfg.PaymentTTL, MerchantName: merchantName, Logger: log.With("component", "pay")}
	timerCfg := timer.Config{Logger: log.With("component", "timer")}
	// A timer already due when the store opens fires from timer.Open's own
	// loop, possibly before Open has returned and s.Timers is set.
	timersOpen := make(chan struct{})
	consumeTimer := func(t timer.Timer) func(*bbolt.Tx) error { <-timersOpen; return s.Timers.Consume(t) }
	if cfg.Background {
		payCfg.SweepInterval, timerCfg.Poll = pay.DefaultSweepInterval, timer.DefaultPoll
	}
	if cfg.Events != nil {
		idCfg.Answered = s.consentAnswered(cfg.Events, log)
		payCfg.Notifier = outcomes{s, cfg.Events}
		timerCfg.Fire = fireTimer(cfg.Events, consumeTimer)
	}
	if s.Identity, err = identity.Open(db, idCfg); err != nil {
		return nil, err
	}
	if s.Pay, err = pay.Open(db, payCfg); err != nil {
		return nil, err
	}
	if s.KV, err = kv.Open(db, kv.Config{Pseudonyms: s.Identity, Logger: log.With("component", "kv")}); err != nil {
		return nil, err
	}
	var consentCfg consent.Config
	if cfg.Consent != nil {
		consentCfg = *cfg.Consent
	}
	consentCfg.Pseudonyms, consentCfg.BusinessName, consentCfg.Logger = s.Identity, merchantName, log.With("component", "consent")
	if cfg.Events != nil {
		consentCfg.Answered = subscribeAnswered(cfg.Events)
	}
	if s.Consent, err = consent.Open(db, consentCfg); err != nil {
		return nil, err
	}
	hoCfg := handoff.Config{Pseudonyms: s.Identity, Logger: log.With("component", "handoff")}
	if cfg.Events != nil {
		hoCfg.Notify = handoffNotice(cfg.Events)
	}
	if s.Handoffs, err = handoff.Open(db, hoCfg); err != nil {
		return nil, err
	}
	chatCfg := chat.Config{Members: cfg.Members, Assets: cfg.Assets, Logger: log.With("component", "chat"), Handoffs: s.Handoffs}
	if cfg.Consent != nil {
		chatCfg.Consent = s.Consent
	}
	s.Chat = chat.New(chatCfg)
	s.Timers, err = timer.Open(db, timerCfg)
	close(timersOpen)
	if err != nil {
		s.Pay.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	if cfg.Background {
		s.redelivered.Go(func() { s.Identity.Redeliver(ctx) })
		s.redelivered.Go(func() {
			if err := s.Handoffs.Redeliver(ctx); err != nil {
				log.Warn("handoff events of the previous run not handed over", "err", err)
			}
		})
	}
	return s, nil
}

// Close stops the background work (Config.Background) and waits for it,
// then stops the payment and timer services; the services must not be used
// after. Close them before db.
func (s *Services) Close() {
	s.stop()
	s.redelivered.Wait()
	s.Pay.Close()
	s.Timers.Close()
}

// Funcs returns every host operation the services serve, for
// sandbox.Config.Funcs.
func (s *Services) Funcs() []host.Func {
	var funcs []host.Func
	funcs = append(funcs, s.Chat.Funcs()...)
	funcs = append(funcs, s.KV.Funcs()...)
	funcs = append(funcs, s.Identity.Funcs()...)
	funcs = append(funcs, s.Pay.Funcs()...)
	funcs = append(funcs, s.Timers.Funcs()...)
	funcs = append(funcs, s.Consent.Funcs()...)
	return funcs
}

// PromptKinds returns the kinds of prompt the services draw (payment,
// consent, share, subscribe), for whoever shows prompts and takes the
// answers.
func (s *Services) PromptKinds() []*host.PromptKind {
	return []*host.PromptKind{s.Pay.PromptKind(), s.Identity.PromptKind(), s.Chat.PromptKind(), s.Consent.PromptKind()}
}

// Event is an event the host services caused for an app: a payment
// order's final state, a person's answer to a consent prompt, a due timer.
// App names the app (its Version may be empty: the conversation's version
// serves it); Event is what the app reads, without the fields the runtime
// fills (id, app, pseudonymous user).
type Event struct {
	App          host.AppRef
	Person       string // platform id; "" for a timer set without a person
	Conversation string
	Surface      string
	Event        host.Event
	// Consume, when not nil, marks the event consumed in the store: give it
	// to host.AppEvent.Consume, so that the runtime calls it in the
	// transaction that commits the event's effects. Until then the event
	// is kept (a payment outcome in the payment service's outbox, a
	// consent answer in the identity service's, a timer pending) and a
	// restarted process hands it over again; after it, never. Nil for an
	// event nothing keeps (an answer to a subscribe prompt).
	Consume func(tx *bbolt.Tx) error

	done func(ctx context.Context, err error)
}

// Done tells the service that caused ev how its delivery ended: err is nil
// once the app had the event, or the reason it did not. A payment outcome
// or a consent answer whose delivery failed is forgotten unless ctx has
// ended (the process is stopping: the next start hands it over again); a
// timer whose delivery failed is tried again later
// (timer.Config.MaxAttempts). A delivered event was consumed by Consume in
// its commit, or, where the runtime commits nothing (no Consume given to
// it), is forgotten here. Call it once per event.
func (ev Event) Done(ctx context.Context, err error) {
	if ev.done != nil {
		ev.done(ctx, err)
	}
}

// outcomes is the pay.Notifier: every final state of an order becomes a
// payment event for the app that requested it.
type outcomes struct {
	s      *Services
	events func(context.Context, Event)
}

func (n outcomes) PaymentOutcome(ctx context.Context, o pay.Order) {
	pe := o.Event()
	n.events(ctx, Event{App: o.Ref, Person: o.Person, Conversation: o.Conversation, Surface: o.Surface,
		Event:   host.Event{Type: host.EventPayment, Payment: &pe},
		Consume: n.s.Pay.ConsumeOutcome(o),
		done: func(ctx context.Context, _ error) {
			if ctx.Err() == nil {
				n.s.Pay.OutcomeDelivered(o)
			}
		}})
}

// consentAnswered is the identity.Config.Answered hook: every answer
// becomes a consent event for the app that asked.
func (s *Services) consentAnswered(events func(context.Context, Event), log *slog.Logger) func(context.Context, identity.Prompt, bool) {
	return func(ctx context.Context, p identity.Prompt, granted bool) {
		ce := p.Event(granted)
		events(ctx, Event{App: p.Ref(), Person: p.Person, Conversation: p.Conversation,
			Event:   host.Event{Type: host.EventConsent, Consent: &ce},
			Consume: s.Identity.ConsumeAnswer(ce.Prompt),
			done: func(ctx context.Context, _ error) {
				if ctx.Err() != nil {
					return
				}
				if err := s.Identity.AnswerDelivered(ctx, ce.Prompt); err != nil {
					log.Warn("consent answer not forgotten", "prompt", ce.Prompt, "err", err)
				}
			}})
	}
}

// subscribeAnswered is the consent.Config.Answered hook: every answer to
// a subscribe prompt becomes a consent event for the app that asked. The
// grant is in the ledger before the event leaves; an event lost to a
// crash before its delivery is not sent again (the app sees the grant
// work when it sends).
func subscribeAnswered(events func(context.Context, Event)) func(context.Context, consent.Answered) {
	return func(ctx context.Context, a consent.Answered) {
		ce := a.Event
		events(ctx, Event{App: a.App, Person: a.Person, Conversation: a.Conversation, Surface: a.Surface,
			Event: host.Event{Type: host.EventConsent, Consent: &ce}})
	}
}

// fireTimer is the timer.Config.Fire hook: it hands the timer event over
// and waits for its delivery, so that a timer whose event did not reach the
// app is tried again.
func fireTimer(events func(context.Context, Event), consume func(timer.Timer) func(*bbolt.Tx) error) func(context.Context, timer.Timer) error {
	return func(ctx context.Context, t timer.Timer) error {
		te := t.Event()
		res := make(chan error, 1)
		events(ctx, Event{App: t.Ref, Person: t.Person, Conversation: t.Conversation, Surface: t.Surface,
			Event:   host.Event{Type: host.EventTimer, Timer: &te},
			Consume: consume(t),
			done:    func(_ context.Context, err error) { res <- err }})
		select {
		case err := <-res:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// handoffNotice is the handoff.Config.Notify hook: an agent taking a
// handed-off conversation, or handing it back, becomes a handoff or
// handback event for the app, in that conversation.
func handoffNotice(events func(context.Context, Event)) func(context.Context, handoff.Notice) {
	return func(ctx context.Context, n handoff.Notice) {
		h := n.Handoff
		events(ctx, Event{App: host.AppRef{Merchant: h.App.Merchant, App: h.App.App}, Person: h.Person,
			Conversation: h.Conversation, Surface: h.Surface, Event: n.Event, done: n.Done})
	}
}
