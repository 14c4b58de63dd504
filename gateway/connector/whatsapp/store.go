package whatsapp

import (
	"context"

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
// whatsapp.expiry and whatsapp.inbox): each key once, durably, and the new
// events in an inbox until the gateway has consumed them. It is
// connector.Store keyed by Event.Key, and safe for concurrent use.
type Store struct {
	*connector.Store[Event]
}

// OpenStore returns the store kept in db, creating its buckets. Close it
// before closing db.
func OpenStore(db *bbolt.DB, cfg StoreConfig) (*Store, error) {
	s, err := connector.OpenStore[Event](db, "whatsapp", cfg)
	if err != nil {
		return nil, err
	}
	return &Store{s}, nil
}

// Record stores e in the inbox unless an event with its Key was recorded
// within the retention; it returns once the transaction is committed.
func (s *Store) Record(ctx context.Context, e Event) (bool, error) {
	return s.Store.Record(ctx, e.Key, e)
}
