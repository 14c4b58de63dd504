package whatsapp

import (
	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/connector"
)

// DefaultRetention is how long an event key is remembered when
// StoreConfig.Retention is 0: Meta retries a notification that was not
// answered with 200 for up to 7 days, and a key must outlive that.
const DefaultRetention = connector.DefaultRetention

// ErrClosed is returned by Record after Close.
var ErrClosed = connector.ErrClosed

// StoreConfig says how long keys are kept.
type StoreConfig = connector.StoreConfig

// Entry is an event of the inbox with its place in it.
type Entry = connector.Entry[Event]

// Store records WhatsApp webhook events on bbolt (buckets whatsapp.seen,
// whatsapp.expiry and whatsapp.inbox): each Key once, durably, for the retention
// (7 days by default), and the new events in an inbox until the gateway
// has consumed them. It is safe for concurrent use.
type Store = connector.Store[Event]

// OpenStore returns the store kept in db, creating its buckets. Close it
// before closing db.
func OpenStore(db *bbolt.DB, cfg connector.StoreConfig) (*Store, error) {
	return connector.OpenStore(db, "whatsapp", func(e Event) string { return e.Key }, cfg)
}
