package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/gateway/promptstore"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/identity"
)

// Identity is what the bridge needs of host/identity: a person for each
// network account, and link codes.
type Identity interface {
	PersonByAccount(ctx context.Context, a identity.Account) (identity.Person, error)
	EnsurePerson(ctx context.Context, a identity.Account, name string) (identity.Person, bool, error)
	RedeemLinkCode(ctx context.Context, code string, a identity.Account) (identity.Person, error)
}

// Consent is what the bridge needs of host/consent: a person who told the
// network to stop a business's messages is opted out of that business
// everywhere.
type Consent interface {
	Revoke(ctx context.Context, person, business, purpose, via string) (consent.Record, error)
	// Undeliverable records that the network could not deliver message
	// (WhatsApp 131026): broadcasts skip the person until they write again.
	Undeliverable(ctx context.Context, person, business, via, message string, code int) (consent.Record, error)
	// OptedOut says whether the person stopped the business: the bridge
	// then sends them none of its own messages.
	OptedOut(ctx context.Context, person, business string) (bool, error)
	// OptInUntil records the opt-in a person gave on Messenger's opt-in
	// request (notification messages), expiring with its token; Withdraw
	// records their STOP NOTIFICATIONS.
	OptInUntil(ctx context.Context, g consent.Grant, via string, expires time.Time) (consent.Record, error)
	Withdraw(ctx context.Context, person, business, purpose, surface, via string) (consent.Record, error)
}

// Defaults of Config.
const (
	DefaultRate         = 80.0             // messages per second per connection (WhatsApp's default throughput per number)
	DefaultPairInterval = 6 * time.Second  // WhatsApp: about one message per 6 s per business and person
	DefaultPairBurst    = 45               // WhatsApp lets a burst of 45 go before the pair limit bites
	DefaultBackoff      = time.Second      // first wait before a throttled or failed send is retried
	DefaultMaxAttempts  = 8                // sends of one message refused for throughput before it fails
	DefaultUnknownWait  = 10 * time.Minute // how long a send with no answer waits for a status before a resend
	DefaultPoll         = 250 * time.Millisecond
	DefaultKeep         = 7 * 24 * time.Hour // how long a sent message and a prompt's buttons are remembered
)

// Config configures a Bridge.
type Config struct {
	Server      *gateway.Server       // required: conversations, events, prompts, marks
	Connections connector.Connections // required
	DB          *bbolt.DB             // required: the outbox, routes, prompt tokens and forms
	Identity    Identity              // required
	Consent     Consent               // optional: stops recorded by the network reach the ledger
	// Templates, if set, holds the WhatsApp templates merchants
	// registered: a business-initiated message outside the 24-hour window
	// goes as the one of its purpose's or template's name.
	Templates Templates
	// States, if set, records what became of each app message (sent,
	// delivered, read, failed): the merchant's figures, the message's
	// history, the app's status events (gateway.Server).
	States    States
	WhatsApp  *whatsapp.Store  // the WhatsApp webhooks' inbox (nil: no WhatsApp)
	Messenger *messenger.Store // the Messenger and Instagram webhooks' inbox (nil: neither)
	// AppLog, if set, writes to an app's log (the merchant reads it): a
	// refusal by the network, with its code, goes there.
	AppLog func(ref host.AppRef, level slog.Level, code, msg string)
	Logger *slog.Logger
	HTTP   *http.Client // for the Send APIs; a fresh one if nil

	Rate         float64       // messages per second per connection (DefaultRate)
	PairInterval time.Duration // WhatsApp, per person (DefaultPairInterval; < 0: none)
	PairBurst    int           // WhatsApp, per person (DefaultPairBurst)
	Backoff      time.Duration // DefaultBackoff, doubled per attempt up to a minute
	MaxAttempts  int           // DefaultMaxAttempts
	UnknownWait  time.Duration // DefaultUnknownWait
	Poll         time.Duration // how often an idle inbox is read again (DefaultPoll)
	// Keep is how long the outbox remembers a message once it is settled
	// (its statuses may come for days) and a host prompt's buttons
	// (DefaultKeep); older ones are pruned hourly.
	Keep    time.Duration
	Now     func() time.Time
	Metrics *Metrics // optional: NewMetrics, registered by the caller

	// Elsewhere, if set, learns of a person the business answered from
	// another tool of its Messenger or Instagram account (echo.go), once
	// the message is stored in their conversation. An error makes the
	// echo be handled again.
	Elsewhere func(ctx context.Context, e Elsewhere) error
}

// Bridge is the connector runtime: it reads the networks' inboxes into
// conversations and sends what apps answer through a durable outbox per
// connection. It implements gateway.Networks.
type Bridge struct {
	cfg Config
	srv *gateway.Server
	log *slog.Logger
	met *Metrics

	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu      sync.Mutex
	routes  map[string]*route // conversation -> route; every network conversation
	workers map[string]*worker
	clients map[string]*client

	commit *bolt.Committer // the bridge's writes, grouped into shared transactions

	hand   chan handoff // app messages from Message, for the writer
	rescan chan struct{}
	wake   chan struct{} // a webhook event was recorded: WhatsApp's reader
	wake2  chan struct{} // Messenger's reader
	pairs  *pairLimiter
}

// handoff is an app's message for a network conversation.
type handoff struct {
	r *route
	m convlog.Message
}

var _ gateway.Networks = (*Bridge)(nil)

// New returns a bridge for cfg; Start starts it.
func New(cfg Config) (*Bridge, error) {
	switch {
	case cfg.Server == nil:
		return nil, errors.New("bridge: Config.Server is required")
	case cfg.Connections == nil:
		return nil, errors.New("bridge: Config.Connections is required")
	case cfg.DB == nil:
		return nil, errors.New("bridge: Config.DB is required (the gateway's bbolt file)")
	case cfg.Identity == nil:
		return nil, errors.New("bridge: Config.Identity is required (host/identity's Service)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{}
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.PairInterval == 0 {
		cfg.PairInterval = DefaultPairInterval
	}
	if cfg.PairBurst <= 0 {
		cfg.PairBurst = DefaultPairBurst
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.UnknownWait <= 0 {
		cfg.UnknownWait = DefaultUnknownWait
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Keep <= 0 {
		cfg.Keep = DefaultKeep
	}
	met := cfg.Metrics
	if met == nil {
		met = NewMetrics()
	}
	b := &Bridge{cfg: cfg, srv: cfg.Server, log: cfg.Logger, met: met,
		routes: map[string]*route{}, workers: map[string]*worker{}, clients: map[string]*client{},
		hand: make(chan handoff, 4096), rescan: make(chan struct{}, 1), wake: make(chan struct{}, 1), wake2: make(chan struct{}, 1),
		pairs: newPairLimiter(cfg.PairInterval, cfg.PairBurst), commit: bolt.NewCommitter(cfg.DB, bolt.Config{})}
	err := cfg.DB.Update(func(tx *bbolt.Tx) error {
		for _, n := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(n); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketRoutes).ForEach(func(k, v []byte) error {
			r, err := getRoute(tx, string(k))
			if err != nil {
				return err
			}
			b.routes[r.Conv] = r
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("bridge: open: %w", err)
	}
	return b, nil
}

// Start registers the bridge with the server, marks sends a previous run
// left under way as unknown, hands over app messages the outbox missed and
// starts the inbox readers and the senders. Stop it with Close.
func (b *Bridge) Start() error {
	b.ctx, b.stop = context.WithCancel(context.Background())
	if err := b.recoverSending(); err != nil {
		return err
	}
	b.srv.SetNetworks(b)
	b.goRun(b.writer)
	b.goRun(b.pruner)
	if b.cfg.WhatsApp != nil {
		b.goRun(func() {
			consume(b, b.cfg.WhatsApp, b.wake, func(e whatsapp.Event) string { return e.From + e.Recipient }, b.whatsApp)
		})
	}
	if b.cfg.Messenger != nil {
		b.goRun(func() {
			consume(b, b.cfg.Messenger, b.wake2, func(e messenger.Event) string { return e.Sender }, b.messenger)
		})
	}
	b.kick()
	var conns []string
	_ = b.cfg.DB.View(func(tx *bbolt.Tx) error { conns = queueConns(tx); return nil })
	for _, c := range conns {
		b.wakeWorker(c)
	}
	return nil
}

// Close stops reading and sending and waits for the goroutines. What is
// queued stays in the outbox for the next Start.
func (b *Bridge) Close() {
	if b.stop == nil {
		return
	}
	b.srv.SetNetworks(nil)
	b.stop()
	b.wg.Wait()
	b.commit.Close()
}

func (b *Bridge) goRun(f func()) {
	b.wg.Add(1)
	go func() { defer b.wg.Done(); f() }()
}

// Wake tells the inbox readers that a webhook event was recorded, so that
// they read it now rather than at their next poll, and the senders to look
// at their queues again (a status may have settled a send). Recorder calls
// it.
func (b *Bridge) Wake() {
	for _, ch := range []chan struct{}{b.wake, b.wake2} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	b.mu.Lock()
	ws := make([]*worker, 0, len(b.workers))
	for _, w := range b.workers {
		ws = append(ws, w)
	}
	b.mu.Unlock()
	for _, w := range ws {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// kick asks the writer to look for app messages the outbox missed.
func (b *Bridge) kick() {
	select {
	case b.rescan <- struct{}{}:
	default:
	}
}

// Recorder wraps a network store so that what a webhook records wakes the
// bridge and counts duplicates in its figures.
type Recorder[E any] struct {
	Store   connector.Recorder[E]
	Bridge  *Bridge
	Network string // for the figures
}

// Record records e in the store and wakes the bridge.
func (r Recorder[E]) Record(ctx context.Context, e E) (bool, error) {
	dup, err := r.Store.Record(ctx, e)
	if err == nil {
		if dup {
			r.Bridge.met.dups.WithLabelValues(r.Network).Inc()
		} else {
			r.Bridge.Wake()
		}
	}
	return dup, err
}

// route returns the route of conv, if it is a network conversation.
func (b *Bridge) route(conv string) *route {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.routes[conv]
}

// Message implements gateway.Networks: an app's message in a network
// conversation is handed to the writer, which puts it in the outbox.
func (b *Bridge) Message(conv convlog.Conv, m convlog.Message) {
	if m.From.Kind != "app" {
		return
	}
	r := b.route(conv.ID)
	if r == nil {
		return
	}
	select {
	case b.hand <- handoff{r: r, m: m}:
	default:
		b.kick() // the writer is behind: it finds the message in the log
	}
}

// Prompt implements gateway.Networks: a prompt caused in a network
// conversation is drawn by the host as an interactive message.
func (b *Bridge) Prompt(p promptstore.Prompt) {
	r := b.route(p.Conv)
	if r == nil || r.Person != p.Person {
		return
	}
	if err := b.sendPrompt(b.ctx, r, p); err != nil {
		b.log.Warn("bridge: prompt not sent to the network", "prompt", p.ID, "conv", p.Conv, "err", err)
	}
}

// writer puts the app messages handed over into the outbox, a batch per
// transaction, and moves each route's Handed mark with them; on a kick it
// reads the log for app messages after Handed (missed ones).
func (b *Bridge) writer() {
	for {
		select {
		case <-b.ctx.Done():
			return
		case h := <-b.hand:
			batch := []handoff{h}
		more:
			for len(batch) < 256 {
				select {
				case h := <-b.hand:
					batch = append(batch, h)
				default:
					break more
				}
			}
			if err := b.store(batch); err != nil {
				b.log.Error("bridge: outbox write failed; the messages are read again from the log", "err", err)
				b.kick()
			}
		case <-b.rescan:
			if err := b.catchUp(); err != nil && b.ctx.Err() == nil {
				b.log.Error("bridge: catching up with the log failed", "err", err)
			}
		}
	}
}

// store writes a batch of handed-over messages to the outbox.
func (b *Bridge) store(batch []handoff) error {
	conns := map[string]bool{}
	now := b.cfg.Now().UnixMilli()
	err := b.commit.Do(func(tx *bbolt.Tx) error {
		for _, h := range batch {
			r, err := getRoute(tx, h.r.Conv)
			if err != nil || r == nil {
				return err
			}
			if h.m.Seq <= r.Handed {
				continue
			}
			key := h.m.ID
			if key == "" {
				key = fmt.Sprintf("%s#%d", r.Conv, h.m.Seq)
			}
			msg := h.m.Msg
			if a := h.m.From.Agent; a != "" && msg.Text != "" {
				// The network shows the business as the sender; the name
				// of the member of staff who wrote goes before the text.
				msg.Text = a + ": " + msg.Text
			}
			it := &item{Key: key, Conn: r.Conn, Network: r.Network, To: r.To, Person: r.Person, Conv: r.Conv, Seq: h.m.Seq,
				App: r.App, Merch: r.Merchant, Msg: &msg, Basis: h.m.Basis, Agent: h.m.From.Agent, Created: now}
			if _, err := enqueue(tx, it); err != nil {
				return err
			}
			r.Handed = h.m.Seq
			if err := putJSON(tx.Bucket(bucketRoutes), []byte(r.Conv), r); err != nil {
				return err
			}
			conns[r.Conn] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	for c := range conns {
		b.wakeWorker(c)
	}
	return nil
}

// catchUp hands over the app messages of every network conversation
// after its Handed mark.
func (b *Bridge) catchUp() error {
	b.mu.Lock()
	rs := make([]*route, 0, len(b.routes))
	for _, r := range b.routes {
		rs = append(rs, r)
	}
	b.mu.Unlock()
	for _, r := range rs {
		var handed uint64
		if err := b.cfg.DB.View(func(tx *bbolt.Tx) error {
			cur, err := getRoute(tx, r.Conv)
			if cur != nil {
				handed = cur.Handed
			}
			return err
		}); err != nil {
			return err
		}
		for {
			msgs, err := b.srv.Range(b.ctx, r.Conv, handed, 200)
			if err != nil {
				return err
			}
			var batch []handoff
			for _, m := range msgs {
				if m.From.Kind == "app" {
					batch = append(batch, handoff{r: r, m: m})
				}
			}
			if len(batch) > 0 {
				if err := b.store(batch); err != nil {
					return err
				}
			}
			if len(msgs) < 200 {
				break
			}
			handed = msgs[len(msgs)-1].Seq
		}
	}
	return nil
}

// recoverSending marks the items a previous run left "sending" as unknown:
// the network may have taken them; a status will tell, or UnknownWait
// passes before a resend.
func (b *Bridge) recoverSending() error {
	next := b.cfg.Now().Add(b.cfg.UnknownWait).UnixMilli()
	return b.cfg.DB.Update(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketQueue).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			it, err := getItem(tx, string(v))
			if err != nil || it == nil || it.State != StateSending {
				continue
			}
			it.State, it.NextAt = StateUnknown, next
			if err := putJSON(tx.Bucket(bucketItems), []byte(it.Key), it); err != nil {
				return err
			}
		}
		return nil
	})
}

// pruner forgets settled messages and old prompt buttons, hourly.
func (b *Bridge) pruner() {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		b.Prune()
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Prune forgets the messages settled and the host prompt buttons minted
// more than Config.Keep ago, a thousand at a time; it returns how many.
// The bridge runs it hourly.
func (b *Bridge) Prune() int {
	total := 0
	before := b.cfg.Now().Add(-b.cfg.Keep).UnixMilli()
	for b.ctx.Err() == nil {
		var n int
		err := b.commit.Do(func(tx *bbolt.Tx) error {
			var err error
			n, err = prune(tx, before, 1000)
			return err
		})
		if err != nil {
			b.log.Error("bridge: pruning the outbox failed", "err", err)
			return total
		}
		total += n
		if n < 1000 {
			return total
		}
	}
	return total
}
