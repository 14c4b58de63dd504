package bolt

import "go.etcd.io/bbolt"

// CreateBuckets creates the top-level buckets that do not exist yet, in one
// transaction.
func CreateBuckets(db *bbolt.DB, names ...[]byte) error {
	return db.Update(func(tx *bbolt.Tx) error {
		for _, b := range names {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// Key joins parts with a 0 byte between them: a key whose parts sort
// together (every key of parts[0] is next to the others). Only the last
// part may hold a 0 byte.
func Key(parts ...string) []byte {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, p...)
	}
	return k
}
