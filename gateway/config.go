package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/gateway/eventstore"
	"github.com/passerelle/passerelle/gateway/promptstore"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
)

// Authenticator verifies a person's session token (a JWT issued by the
// identity service). Only tokens with role "person" may open a connection.
type Authenticator interface {
	Verify(token string) (subject, role string, err error)
}

// Directory looks people up: display names for messages and the list a
// person picks from to start a conversation. host/identity's Service
// satisfies it; only the id and name of a person reach clients.
type Directory interface {
	// Person returns the person with the given id.
	Person(ctx context.Context, id string) (identity.Person, error)
	// FindPeople returns at most limit people whose name matches query ("" = anyone).
	FindPeople(ctx context.Context, query string, limit int) ([]identity.Person, error)
}

// person is a person as clients see them: in the people directory and as
// a message's sender.
type person struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Apps routes events to mini-apps. What an app sends back reaches the
// gateway through Server.Emit, while the event runs or later.
type Apps interface {
	// Submit queues ev for app and returns without waiting for it to run
	// (runtime/apps.Router.Submit: the runtime owns the workers and shares
	// them fairly among apps). When app has too many events waiting it
	// refuses ev with an error wrapping sched.ErrQueueFull. done, when not
	// nil, is called with the outcome once the app handled ev. A runtime
	// that consumes every event it handles (ev.Consume) in the commit of
	// what it wrote for it says so with a method ConsumesEvents() bool
	// (runtime/apps.Router has it); the gateway deletes the events of any
	// other runtime itself once done is called (pending.go).
	Submit(app string, ev host.AppEvent, done func(error)) error
	Catalog(ctx context.Context) ([]host.AppInfo, error)
}

// Payments shows a person's wallet: integer minor units per ISO 4217
// currency code. host/pay's Service satisfies it.
type Payments interface {
	Balances(ctx context.Context, person string) (map[string]int64, error)
}

// Log is where conversations and their messages are kept: the seam
// between the WebSocket server and its store. convlog.Log implements it on
// bbolt; a replicated log (NATS JetStream) would implement it for a
// cluster. RATIONALE.md says why it has these methods and no others.
// When a Log also has Check(ctx) error (convlog.Log does), /healthz
// answers 503 while Check fails.
type Log interface {
	// Append stores m as the next message of conv and returns once it is
	// durable, with m.Seq set. A person's message whose client id that
	// person already used in conv within the log's dedupe window is not
	// stored again: the result says Dup, with the earlier seq.
	Append(ctx context.Context, conv string, m *convlog.Message) (convlog.Appended, error)
	// AppendWith is Append that also runs with, when not nil, in the
	// transaction that stores m (not for a Dup): what with writes commits
	// together with m, or neither does. with may run more than once, each
	// time in a new transaction.
	AppendWith(ctx context.Context, conv string, m *convlog.Message, with func(tx *bbolt.Tx, seq uint64) error) (convlog.Appended, error)
	// AppendTx stores m as the next message of conv inside tx, a write
	// transaction the caller commits or rolls back (an app event's: see
	// Server.Stage), with Append's guarantees; m.Seq is set, and holds
	// once tx committed. A rolled-back tx leaves no trace of m.
	AppendTx(tx *bbolt.Tx, conv string, m *convlog.Message) (convlog.Appended, error)
	// ConvTx is Conv read inside tx.
	ConvTx(tx *bbolt.Tx, id string) (convlog.Conv, uint64, error)
	// AppendAsync queues m (a message without a client id) and returns;
	// then gets the outcome once m is durable, with m.Seq set. then is
	// called in queue order and must be quick.
	AppendAsync(conv string, m *convlog.Message, then func(error)) error
	// Range returns up to limit messages of conv with seq > after, in order.
	Range(ctx context.Context, conv string, after uint64, limit int) ([]convlog.Message, error)
	// Ensure returns conversation c.ID, creating it as c if absent.
	Ensure(ctx context.Context, c convlog.Conv) (out convlog.Conv, created bool, err error)
	// Conv returns a conversation and its newest seq; convlog.ErrNotFound
	// when there is none.
	Conv(ctx context.Context, id string) (convlog.Conv, uint64, error)
	// ConvsOf lists the conversations person is in, with their newest seq.
	ConvsOf(ctx context.Context, person string) ([]convlog.Summary, error)
}

// PromptStore is where the prompts shown to people and their answers are
// kept (promptstore.Store on bbolt).
type PromptStore interface {
	// Put stores p, replacing the prompt with its id.
	Put(ctx context.Context, p promptstore.Prompt) error
	// Get returns a prompt; promptstore.ErrNotFound when there is none.
	Get(ctx context.Context, id string) (promptstore.Prompt, error)
	// PutTx and GetTx are Put and Get inside tx, a write transaction the
	// caller commits or rolls back (an app event's: see Server.Stage).
	PutTx(tx *bbolt.Tx, p promptstore.Prompt) error
	GetTx(tx *bbolt.Tx, id string) (promptstore.Prompt, error)
	// Pending lists person's unanswered prompts, oldest first.
	Pending(ctx context.Context, person string) ([]promptstore.Prompt, error)
}

// EventStore keeps a person's events for apps from their acceptance until
// their app consumed them (eventstore.Store on bbolt, in the database of
// the Log): a person's message and the event it causes are stored in one
// transaction, and the runtime deletes the event in the transaction that
// commits its effects (host.AppEvent.Consume). See pending.go.
type EventStore interface {
	// PutTx keeps e inside tx, after every event kept before; e.Key is set.
	PutTx(tx *bbolt.Tx, e *eventstore.Event) error
	// Put keeps e in a transaction of its own; e.Key is set.
	Put(ctx context.Context, e *eventstore.Event) error
	// ConsumeTx deletes the event kept under key inside tx; one already
	// consumed is no error.
	ConsumeTx(tx *bbolt.Tx, key uint64) error
	// Consume queues the deletion of the event kept under key, if it still
	// is, and returns; then gets the outcome once committed (not called
	// when there was nothing to delete).
	Consume(ctx context.Context, key uint64, then func(error)) error
	// List returns the events kept, in the order they were kept.
	List(ctx context.Context) ([]eventstore.Event, error)
}

// Config configures a Server. Log, PromptStore and Auth are required; every other
// dependency may be nil, in which case the feature it serves answers
// "unavailable".
type Config struct {
	Log         Log         // conversations and messages; the caller closes it after Close
	PromptStore PromptStore // prompts and their answers; the caller closes it after Close
	Marks       MarkStore   // read markers (marks.go); optional, the caller closes it after Close
	Auth        Authenticator
	Directory   Directory
	Apps        Apps
	Payments    Payments
	Consents    Consents // the consent screen (consent.go)
	// Prompts are the kinds of prompt the host services draw (payment,
	// consent, share, ...): the gateway stores and shows prompts of any
	// kind and hands each answer to its kind. A prompt of a kind not
	// listed can only be dismissed.
	Prompts []*host.PromptKind
	Logger  *slog.Logger
	// API, if set, is mounted under /v1/ (the merchant HTTP API).
	API http.Handler
	// Assets, if set, serves the images mini-apps ship at
	// GET /assets/<sha256>.<ext> (assets.go).
	Assets Assets
	// DemoSignIn, if set, offers password-free sign-in as the demo's
	// people at /signin/demo (signin.go). Only the demo sets it.
	DemoSignIn DemoSignIn
	// LinkCodes, if set, lets a signed-in person ask for a code that links
	// a network account to them at POST /link-code (linkcode.go).
	LinkCodes LinkCodes

	// Events keeps persons' events for apps until their app consumed them,
	// so that an event accepted before a crash is delivered after it
	// (Server.Resume); it must share the Log's database. Optional: without
	// it, an event not yet handled when the server stops is lost. The
	// caller closes it after Close.
	Events EventStore
	// States, if set, keeps what became of apps' messages on persons'
	// surfaces (sent, delivered, read, failed: states.go); with Events, it
	// tells the apps that ask as status events. It must share the Log's
	// database.
	States StateStore

	// AllowedOrigins lists browser origins ("https://chat.example.com")
	// allowed besides the server's own host. "*" allows any origin.
	AllowedOrigins []string

	SendQueue     int           // frames queued per connection before it is a slow consumer (default 256)
	MaxFrameBytes int64         // largest client frame (default 64 KiB)
	MaxTextRunes  int           // longest message text (default 4096)
	RatePerSecond float64       // client frames per second per connection (default 50)
	RateBurst     int           // token bucket size (default 100)
	WriteTimeout  time.Duration // per frame write deadline (default 10s; renewed at most every 1/8 of it, so a write has at least 7/8)
	PingInterval  time.Duration // WebSocket ping period; a peer silent for 2x (at least 1.75x) is dropped (default 30s)
	HelloTimeout  time.Duration // time to send hello after connecting (default 10s)
	MaxReplay     int           // messages replayed per conversation on resume (default 1000)
	// MaxConversations bounds the conversations whose delivery state (the
	// order of their fan-out) is kept in memory; idle ones beyond it are
	// dropped and rebuilt from the log when next used (default 100,000).
	MaxConversations int
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 256
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 64 << 10
	}
	if c.MaxTextRunes <= 0 {
		c.MaxTextRunes = 4096
	}
	if c.RatePerSecond <= 0 {
		c.RatePerSecond = 50
	}
	if c.RateBurst <= 0 {
		c.RateBurst = 100
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = 10 * time.Second
	}
	if c.MaxReplay <= 0 {
		c.MaxReplay = 1000
	}
	if c.MaxConversations <= 0 {
		c.MaxConversations = 100_000
	}
}
