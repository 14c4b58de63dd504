package consent

import (
	"context"
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"
)

// KindUndeliverable is a record that a network could not deliver a
// business's message to the person (WhatsApp 131026: the number is not
// on WhatsApp, or cannot receive it). Until the person writes to the
// business again, broadcasts skip them (Recipients).
const KindUndeliverable Kind = "undeliverable"

// bucketUndeliverable: business NUL person -> seq of the undeliverable
// record (8) ‖ its time in unix nanoseconds (8).
var bucketUndeliverable = []byte("consent.undeliverable")

// Undeliverable records that a network (via: whatsapp, messenger...)
// could not deliver message of business to person, with the network's
// code. The person stays reachable by a conversation they start: a
// message from them (Touch) after the record lifts it.
func (s *Service) Undeliverable(ctx context.Context, person, business, via, message string, code int) (Record, error) {
	if err := checkParties(person, business, "surface", via); err != nil {
		return Record{}, err
	}
	var stored Record
	err := s.commit.Do(func(tx *bbolt.Tx) error {
		var err error
		stored, err = s.appendRecord(tx, Record{Kind: KindUndeliverable, Person: person, Business: business, Surface: via,
			Message: message, Via: fmt.Sprintf("network code %d", code)})
		if err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketUndeliverable)
		if err != nil {
			return err
		}
		v := binary.BigEndian.AppendUint64(u64(stored.Seq), uint64(stored.Time.UnixNano()))
		return b.Put(pairKey(business, person), v)
	})
	if err != nil {
		return Record{}, fmt.Errorf("consent: undeliverable: %w", err)
	}
	return stored, nil
}

// undeliverable says whether the pair's last undeliverable record came
// after the person's last message to the business (g.lastWrote).
func undeliverable(tx *bbolt.Tx, key []byte, g gate) bool {
	b := tx.Bucket(bucketUndeliverable)
	if b == nil {
		return false
	}
	v := b.Get(key)
	if len(v) != 16 {
		return false
	}
	return int64(binary.BigEndian.Uint64(v[8:])) > g.lastWrote
}

// IsUndeliverable says whether a network could not deliver business's
// last message to person and they have not written since.
func (s *Service) IsUndeliverable(ctx context.Context, person, business string) (bool, error) {
	var out bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		key := pairKey(business, person)
		out = undeliverable(tx, key, getGate(tx, key))
		return nil
	})
	return out, err
}

// OptedOut says whether person stopped business's messages (STOP,
// STOPALL, a revocation or a network's opt-out) and has not sent START
// since: the platform then sends them nothing of its own either, except
// the answers to their keywords.
func (s *Service) OptedOut(ctx context.Context, person, business string) (bool, error) {
	var out bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		_, out = stopSeq(getGate(tx, pairKey(business, person)), stopAll(tx, person))
		return nil
	})
	return out, err
}
