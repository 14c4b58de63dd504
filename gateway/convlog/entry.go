package convlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// Messages are kept in one append-only log, keyed by a global sequence, so
// that a commit of N messages in N conversations writes the few pages at
// the log's end instead of one page per conversation. Each entry points to
// the previous message of its conversation; gateway.heads holds every
// conversation's newest seq and entry, and gateway.marks the entry of every
// markEvery-th seq, so that reading a conversation from any seq walks at
// most markEvery-1 entries more than it returns.
//
// A log entry is: uvarint len(conv), conv, uvarint seq, uvarint global seq
// of the conversation's previous message (0 for seq 1), then the Message
// as JSON (see encodeRecord).

// markEvery is the spacing of the marks of a conversation.
const markEvery = 64

// errCorrupt says that the log does not link up as it should.
var errCorrupt = errors.New("convlog: the message log is inconsistent")

// head is a conversation's newest message: its seq and its log key.
type head struct{ seq, gseq uint64 }

func getHead(tx *bbolt.Tx, conv string) head {
	v := tx.Bucket(bucketHeads).Get([]byte(conv))
	if len(v) != 16 {
		return head{}
	}
	return head{binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])}
}

// lastSeq returns the highest seq stored in conv, 0 when it has none.
func lastSeq(tx *bbolt.Tx, conv string) uint64 { return getHead(tx, conv).seq }

func u64key(n uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n) }

// markKey is the key in gateway.marks of message seq of conv.
func markKey(conv string, seq uint64) []byte {
	k := make([]byte, 0, len(conv)+9)
	k = append(k, conv...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// putMessage stores rec (a Message as JSON) as message seq of conv, which
// must follow the conversation's head, and returns its log key. rec must
// stay valid until the transaction ends.
func putMessage(tx *bbolt.Tx, conv string, seq uint64, rec []byte) (uint64, error) {
	h := getHead(tx, conv)
	if seq != h.seq+1 {
		return 0, fmt.Errorf("%w: conversation %q: seq %d after %d", errCorrupt, conv, seq, h.seq)
	}
	log := tx.Bucket(bucketLog)
	log.FillPercent = 1 // keys only ever grow: full pages
	g, err := log.NextSequence()
	if err != nil {
		return 0, err
	}
	e := make([]byte, 0, 3*binary.MaxVarintLen64+len(conv)+len(rec))
	e = binary.AppendUvarint(e, uint64(len(conv)))
	e = append(e, conv...)
	e = binary.AppendUvarint(e, seq)
	e = binary.AppendUvarint(e, h.gseq)
	e = append(e, rec...)
	if err := log.Put(u64key(g), e); err != nil {
		return 0, err
	}
	hv := binary.BigEndian.AppendUint64(make([]byte, 0, 16), seq)
	hv = binary.BigEndian.AppendUint64(hv, g)
	if err := tx.Bucket(bucketHeads).Put([]byte(conv), hv); err != nil {
		return 0, err
	}
	if seq%markEvery == 0 {
		if err := tx.Bucket(bucketMarks).Put(markKey(conv, seq), u64key(g)); err != nil {
			return 0, err
		}
	}
	return g, nil
}

// logEntry is a decoded entry; its slices point into the transaction.
type logEntry struct {
	conv      []byte
	seq, prev uint64
	rec       []byte
}

func decodeEntry(v []byte) (logEntry, bool) {
	var e logEntry
	n, k := binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return e, false
	}
	v = v[k:]
	e.conv, v = v[:n], v[n:]
	if e.seq, k = binary.Uvarint(v); k <= 0 {
		return e, false
	}
	v = v[k:]
	if e.prev, k = binary.Uvarint(v); k <= 0 {
		return e, false
	}
	e.rec = v[k:]
	return e, true
}

// walk calls fn with the messages of conv whose seq is in (after, upTo],
// newest first, until fn returns false. It starts at the nearest mark at or
// above upTo, or at the head.
func walk(tx *bbolt.Tx, conv string, after, upTo uint64, fn func(seq uint64, rec []byte) (bool, error)) error {
	h := getHead(tx, conv)
	upTo = min(upTo, h.seq)
	if after >= upTo {
		return nil
	}
	seq, g := h.seq, h.gseq
	if m := (upTo + markEvery - 1) / markEvery * markEvery; m < h.seq {
		if v := tx.Bucket(bucketMarks).Get(markKey(conv, m)); len(v) == 8 {
			seq, g = m, binary.BigEndian.Uint64(v)
		}
	}
	log := tx.Bucket(bucketLog)
	for seq > after {
		e, ok := decodeEntry(log.Get(u64key(g)))
		if !ok || e.seq != seq || string(e.conv) != conv {
			return fmt.Errorf("%w: conversation %q: entry %d is not seq %d", errCorrupt, conv, g, seq)
		}
		if seq <= upTo {
			if more, err := fn(seq, e.rec); err != nil || !more {
				return err
			}
		}
		seq, g = seq-1, e.prev
	}
	return nil
}
