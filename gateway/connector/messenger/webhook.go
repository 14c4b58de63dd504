package messenger

import (
	"context"
	"log/slog"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/connector"
)

// Recorder keeps the events a webhook delivered. Record returns once the
// event is durably recorded; duplicate says that an event with its Key was
// recorded before (and nothing was written). Store implements it.
type Recorder interface {
	Record(ctx context.Context, e Event) (duplicate bool, err error)
}

// WebhookConfig is what the webhook of one connection (a Page or an
// Instagram account) needs.
type WebhookConfig struct {
	AppSecret   string       // the Meta app's secret: the HMAC-SHA256 key of X-Hub-Signature-256
	VerifyToken string       // the token typed in the app dashboard, echoed in GET verification
	Recorder    Recorder     // where the events go
	MaxBody     int64        // largest body accepted, bytes (connector.DefaultMaxBody if 0)
	Log         *slog.Logger // refusals and failures (nothing is logged if nil); secrets never are
}

// Webhook is the http.Handler Meta calls: GET to verify the callback URL,
// POST to deliver notifications (connector.Webhook with Parse).
type Webhook = connector.Webhook[Event]

// NewWebhook returns the webhook handler of one connection. Its errors
// wrap connector.ErrNoSecret, ErrNoToken and ErrNoRecorder.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	c := connector.WebhookConfig[Event]{
		Name:        "messenger",
		AppSecret:   cfg.AppSecret,
		VerifyToken: cfg.VerifyToken,
		Parse:       Parse,
		Key:         func(e Event) string { return e.Key },
		MaxBody:     cfg.MaxBody,
		Log:         cfg.Log,
	}
	if cfg.Recorder != nil {
		c.Record = func(ctx context.Context, e Event) error { _, err := cfg.Recorder.Record(ctx, e); return err }
	}
	return connector.NewWebhook(c)
}

// Entry is an event of the inbox with its place in it.
type Entry = connector.Entry[Event]

// Store records Messenger and Instagram webhook events on bbolt (buckets messenger.seen,
// messenger.expiry and messenger.inbox): each Key once, durably, for the retention
// (7 days by default), and the new events in an inbox until the gateway
// has consumed them. It is safe for concurrent use.
type Store = connector.Store[Event]

// OpenStore returns the store kept in db, creating its buckets. Close it
// before closing db.
func OpenStore(db *bbolt.DB, cfg connector.StoreConfig) (*Store, error) {
	return connector.OpenStore(db, "messenger", func(e Event) string { return e.Key }, cfg)
}
