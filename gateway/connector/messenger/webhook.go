package messenger

import (
	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/connector"
)

// Recorder keeps the events a webhook delivered (connector.Recorder);
// Store implements it.
type Recorder = connector.Recorder[Event]

// WebhookConfig is what the webhook of one connection needs: AppSecret,
// VerifyToken, Recorder, and optionally MaxBody and Log (Name, Parse and
// Key are this package's).
type WebhookConfig = connector.WebhookConfig[Event]

// Webhook is the http.Handler Meta calls: GET to verify the callback URL,
// POST to deliver notifications (connector.Webhook with Parse).
type Webhook = connector.Webhook[Event]

// NewWebhook returns the webhook handler of one connection. Its errors
// wrap connector.ErrNoSecret, ErrNoToken and ErrNoRecorder.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	cfg.Name, cfg.Parse, cfg.Key = "messenger", Parse, func(e Event) string { return e.Key }
	return connector.NewWebhook(cfg)
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
