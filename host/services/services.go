// Package services opens the platform's host services (identity, payments,
// key-value storage, chat and timers) on one bbolt database and wires them
// to each other, the way every Passerelle process needs them: the server,
// `passerelle dev` and the mini-app tests (runtime/apptest).
//
// What the services need from outside the host layer (where payment
// outcomes and due timers go, who is in a conversation) comes in as
// optional hooks in Config, so this package depends on neither the sandbox
// nor the gateway.
//
//	s, err := services.Open(db, services.Config{Payments: q, FireTimer: fire, Consent: answered})
//	eng, err := sandbox.New(ctx, sandbox.Config{Funcs: s.Funcs(), ...})
//	go s.Run(ctx) // payment expiry and timers, until ctx ends
package services

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/chat"
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
	// Payments learns every final state of an order (pay.Notifier). It may be
	// called inside a guest's host call: queue, do not dispatch. Nil drops
	// the outcomes.
	Payments pay.Notifier
	// FireTimer is called for each due timer (timer.Config.Fire). Nil drops
	// them, with a log line.
	FireTimer func(ctx context.Context, t timer.Timer) error
	// Members answers chat.share's membership checks (chat.Members). Nil
	// lets chat.share post only into the event's own conversation.
	Members chat.Members
	// Consent learns every committed answer to a consent prompt
	// (identity.Config.Answered): the app that asked (merchant and app id),
	// the person, the conversation where it asked and the consent event
	// for the app. It runs in the caller of Identity.Grant or Refuse: queue,
	// do not dispatch. Nil drops the answers. Each answer is kept until the
	// consumer calls Identity.AnswerDelivered with ev.Prompt; Run hands the
	// answers a previous run kept to Consent again.
	Consent func(ctx context.Context, ref host.AppRef, person, conversation string, ev host.ConsentEvent)
}

// Services is the platform's host services on one database.
type Services struct {
	Identity *identity.Service
	Pay      *pay.Service
	KV       *kv.Store
	Chat     *chat.Service
	Timers   *timer.Service
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
	if cfg.Consent != nil {
		idCfg.Answered = func(ctx context.Context, p identity.Prompt, granted bool) {
			cfg.Consent(ctx, p.Ref(), p.Person, p.Conversation, p.Event(granted))
		}
	}
	if s.Identity, err = identity.Open(db, idCfg); err != nil {
		return nil, err
	}
	if s.Pay, err = pay.Open(db, pay.Config{
		TTL:      cfg.PaymentTTL,
		Notifier: cfg.Payments,
		MerchantName: func(ctx context.Context, id string) string {
			m, err := s.Identity.Merchant(ctx, id)
			if err != nil {
				return ""
			}
			return m.Name
		},
		Logger: log.With("component", "pay"),
	}); err != nil {
		return nil, err
	}
	if s.KV, err = kv.Open(db, kv.Config{Pseudonyms: s.Identity, Logger: log.With("component", "kv")}); err != nil {
		return nil, err
	}
	s.Chat = chat.New(chat.Config{Members: cfg.Members, Logger: log.With("component", "chat")})
	if s.Timers, err = timer.Open(db, timer.Config{Fire: cfg.FireTimer, Logger: log.With("component", "timer")}); err != nil {
		return nil, err
	}
	return s, nil
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
	return funcs
}

// Run hands over the consent answers a previous run kept
// (Identity.Redeliver), then runs the services' background loops (expiring
// unconfirmed payment orders and handing over their outcomes, firing due
// timers) until ctx ends, and returns once they have all stopped.
func (s *Services) Run(ctx context.Context) {
	s.Identity.Redeliver(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Pay.Run(ctx) })
	wg.Go(func() { _ = s.Timers.Run(ctx) })
	wg.Wait()
}
