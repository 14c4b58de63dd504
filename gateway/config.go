package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"go.etcd.io/bbolt"

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
// gateway through Server.Emit, during Deliver or later.
type Apps interface {
	Deliver(ctx context.Context, app string, ev host.AppEvent) error
	Catalog(ctx context.Context) ([]host.AppInfo, error)
}

// Payments shows a person's wallet: integer minor units per ISO 4217
// currency code. host/pay's Service satisfies it.
type Payments interface {
	Balances(ctx context.Context, person string) (map[string]int64, error)
}

// Config configures a Server. DB and Auth are required; every other
// dependency may be nil, in which case the feature it serves answers
// "unavailable".
type Config struct {
	DB        *bbolt.DB // shared store; the gateway owns the buckets named "gateway.*"
	Auth      Authenticator
	Directory Directory
	Apps      Apps
	Payments  Payments
	// Prompts are the kinds of prompt the host services draw (payment,
	// consent, share, ...): the gateway stores and shows prompts of any
	// kind and hands each answer to its kind. A prompt of a kind not
	// listed can only be dismissed.
	Prompts []*host.PromptKind
	Logger  *slog.Logger
	// API, if set, is mounted under /v1/ (the merchant HTTP API).
	API http.Handler

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
	AppWorkers    int           // app events delivered at once (default 256); an event holds its worker until what it sent is stored
	// MaxConversations bounds the conversations whose delivery state (order,
	// latest client ids) is kept in memory; idle ones beyond it are dropped
	// and rebuilt from the store when next used (default 100,000).
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
	if c.AppWorkers <= 0 {
		c.AppWorkers = 256
	}
	if c.MaxConversations <= 0 {
		c.MaxConversations = 100_000
	}
}
