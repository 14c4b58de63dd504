package convlog

import (
	"bytes"
	"encoding/binary"

	"go.etcd.io/bbolt"
)

// A sender's client ids are remembered durably for Config.DedupeWindow:
// gateway.dedupe maps (conversation, sender, client id) to the seq it was
// stored as and when. Each append that remembers an id also looks at the
// next sweepPerAppend ids after where the previous one stopped, in key
// order, wrapping around, and forgets those older than the window. With n
// ids kept, a sweep goes round in n/sweepPerAppend appends, so the bucket
// holds at most sweepPerAppend/(sweepPerAppend-1) times a window's worth of
// ids however long the log runs, at the cost of one bucket written per
// commit (a second bucket ordered by time would cost another).

// sweepPerAppend is how many ids an append looks at for expiry.
const sweepPerAppend = 8

// seen returns the seq stored under key if it was stored within the window
// before now (unix milliseconds).
func (l *Log) seen(tx *bbolt.Tx, key []byte, now int64) (uint64, bool) {
	v := tx.Bucket(bucketDedupe).Get(key)
	if len(v) != 16 || l.expired(v, now) {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

func (l *Log) expired(v []byte, now int64) bool {
	return int64(binary.BigEndian.Uint64(v[8:])) <= now-l.cfg.DedupeWindow.Milliseconds()
}

// remember records key as stored at seq at now, then sweeps on.
func (l *Log) remember(tx *bbolt.Tx, key []byte, seq uint64, now int64) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), seq)
	v = binary.BigEndian.AppendUint64(v, uint64(now))
	b := tx.Bucket(bucketDedupe)
	if err := b.Put(key, v); err != nil {
		return err
	}
	return l.sweep(b, now)
}

// sweep looks at the sweepPerAppend ids after l.sweepAt and forgets the
// expired ones. l.sweepAt is only used inside write transactions, which
// bbolt runs one at a time; it is not durable (after a restart the sweep
// starts again from the first id). It is a hint, not state the log must
// agree with: a transaction that rolls back (an AppendTx whose caller
// aborts, a group that is retried job by job) may leave it at an id that
// was never committed, and the next sweep seeks to the first id after it
// in what is stored.
func (l *Log) sweep(b *bbolt.Bucket, now int64) error {
	var old [sweepPerAppend][]byte
	n := 0
	c := b.Cursor()
	k, v := c.Seek(l.sweepAt)
	if k != nil && bytes.Equal(k, l.sweepAt) {
		k, v = c.Next()
	}
	for range sweepPerAppend {
		if k == nil {
			k, v = c.First()
			if k == nil {
				break
			}
		}
		if len(v) != 16 || l.expired(v, now) {
			old[n] = k
			n++
		}
		l.sweepAt = append(l.sweepAt[:0], k...)
		k, v = c.Next()
	}
	for _, k := range old[:n] {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
