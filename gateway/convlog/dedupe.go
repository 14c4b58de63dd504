package convlog

import (
	"bytes"
	"encoding/binary"

	"go.etcd.io/bbolt"
)

// A sender's client ids are remembered durably for Config.DedupeWindow:
// gateway.dedupe maps (conversation, sender, client id) to the seq it was
// stored as and when, and gateway.expiry holds the same keys ordered by
// that time. Each append that remembers a key forgets up to
// sweepPerAppend keys older than the window, oldest first, so the two
// buckets hold about a window's worth of keys however long the log runs.

// sweepPerAppend is how many expired keys an append forgets at most: more
// than one, so that the sweep catches up after a quiet spell.
const sweepPerAppend = 4

// dedupeKey is the key of client id cid of sender in conv. The client id
// comes last: it is the only part that may hold any byte.
func dedupeKey(conv, sender, cid string) []byte {
	k := make([]byte, 0, len(conv)+len(sender)+len(cid)+2)
	k = append(k, conv...)
	k = append(k, 0)
	k = append(k, sender...)
	k = append(k, 0)
	return append(k, cid...)
}

// seen returns the seq stored under key if it was stored within the window
// before now (unix milliseconds).
func (l *Log) seen(tx *bbolt.Tx, key []byte, now int64) (uint64, bool) {
	v := tx.Bucket(bucketDedupe).Get(key)
	if len(v) != 16 {
		return 0, false
	}
	if at := int64(binary.BigEndian.Uint64(v[8:])); at <= now-l.cfg.DedupeWindow.Milliseconds() {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// remember records key as stored at seq at now, then forgets expired keys.
func (l *Log) remember(tx *bbolt.Tx, key []byte, seq uint64, now int64) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), seq)
	v = binary.BigEndian.AppendUint64(v, uint64(now))
	if err := tx.Bucket(bucketDedupe).Put(key, v); err != nil {
		return err
	}
	if err := tx.Bucket(bucketExpiry).Put(append(v[8:16:16], key...), nil); err != nil {
		return err
	}
	return l.sweep(tx, now)
}

// sweep forgets up to sweepPerAppend keys stored before the window. A key
// stored again since (its time in gateway.dedupe is newer) keeps its entry
// there; only the old expiry entry goes.
func (l *Log) sweep(tx *bbolt.Tx, now int64) error {
	cutoff := now - l.cfg.DedupeWindow.Milliseconds()
	dedupe := tx.Bucket(bucketDedupe)
	c := tx.Bucket(bucketExpiry).Cursor()
	for n := 0; n < sweepPerAppend; n++ {
		k, _ := c.First() // the oldest; the previous one was deleted
		if len(k) < 8 {
			return nil
		}
		at := int64(binary.BigEndian.Uint64(k))
		if at > cutoff {
			return nil
		}
		key := k[8:]
		if v := dedupe.Get(key); len(v) == 16 && bytes.Equal(v[8:], k[:8]) {
			if err := dedupe.Delete(key); err != nil {
				return err
			}
		}
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}
