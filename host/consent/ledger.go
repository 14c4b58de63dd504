package consent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Kind is the kind of a ledger record.
type Kind string

// Record kinds.
const (
	KindGrant        Kind = "grant"        // standing opt-in to a purpose, answered in a host-drawn prompt
	KindWithdrawal   Kind = "withdrawal"   // the person withdrew the opt-in to one purpose
	KindSubscription Kind = "subscription" // one-time subscription to a template, answered in a host-drawn prompt
	KindConsumption  Kind = "consumption"  // a one-time subscription used by a send (written with the send's record)
	KindSend         Kind = "send"         // a business-initiated message was let through; Relies names the grant or subscription
	KindOptOut       Kind = "opt_out"      // STOP (or a revocation of the whole business); Business "" for STOPALL
	KindOptIn        Kind = "opt_in"       // START or UNSTOP
)

// Record is one entry of the consent ledger. Records are only appended;
// each is chained to the one before by a SHA-256 hash (see Verify).
type Record struct {
	Seq          uint64 `json:"seq"`
	Kind         Kind   `json:"kind"`
	Person       string `json:"person"`             // platform person id
	Business     string `json:"business,omitempty"` // merchant id; "" on a STOPALL
	App          string `json:"app,omitempty"`      // the app of the business involved, when there is one
	Purpose      string `json:"purpose,omitempty"`  // grant, withdrawal, send under an opt-in
	Template     string `json:"template,omitempty"` // subscription, consumption, send under a subscription
	Surface      string `json:"surface,omitempty"`
	Conversation string `json:"conversation,omitempty"`
	Seen         string `json:"seen,omitempty"`      // what the person saw (the prompt's text) or typed (the keyword)
	SeenHash     string `json:"seen_hash,omitempty"` // hex SHA-256 of what the person saw
	Message      string `json:"message,omitempty"`   // the message or prompt answer that carried it; for a send, the message sent
	Relies       uint64 `json:"relies,omitempty"`    // send, consumption: the grant or subscription record relied on
	Via          string `json:"via,omitempty"`       // how: "prompt", "keyword", "consent screen", "operator", a network's opt-in
	// Expires is when a grant given on a network with an expiry
	// (OptInUntil: Messenger's notification messages token) runs out;
	// zero for the others.
	Expires time.Time `json:"expires,omitzero"`
	Time    time.Time `json:"time"`
}

// HashSize is the size of a record's chain hash.
const HashSize = sha256.Size

// ErrBroken is wrapped by the error Verify returns for a ledger that does
// not match its hash chain; the error is a *BrokenError.
var ErrBroken = errors.New("consent: ledger broken")

// BrokenError names the first record of the ledger that fails the check.
type BrokenError struct {
	Seq    uint64 // the first broken record (or the missing one)
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("consent ledger: record %d is broken: %s", e.Seq, e.Reason)
}

func (e *BrokenError) Unwrap() error { return ErrBroken }

// Head is the last record of the ledger and its chain hash. Publishing the
// head outside the store (a log, a notary) makes a rewrite of the whole
// chain evident too.
type Head struct {
	Seq  uint64
	Hash [HashSize]byte
}

func (h Head) String() string { return fmt.Sprintf("%d:%s", h.Seq, hex.EncodeToString(h.Hash[:])) }

func getHead(tx *bbolt.Tx) Head {
	var h Head
	v := tx.Bucket(bucketMeta).Get(keyHead)
	if len(v) == 8+HashSize {
		h.Seq = binary.BigEndian.Uint64(v)
		copy(h.Hash[:], v[8:])
	}
	return h
}

// chain returns the hash of a record whose JSON is body, after prev.
func chain(prev [HashSize]byte, body []byte) [HashSize]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(body)
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

// appendRecord gives r the next seq and the current time, chains it and
// stores it in tx. It returns r as stored.
func (s *Service) appendRecord(tx *bbolt.Tx, r Record) (Record, error) {
	head := getHead(tx)
	r.Seq = head.Seq + 1
	r.Time = s.now().UTC()
	if r.Seen != "" && r.SeenHash == "" {
		sum := sha256.Sum256([]byte(r.Seen))
		r.SeenHash = hex.EncodeToString(sum[:])
	}
	body, err := json.Marshal(r)
	if err != nil {
		return Record{}, err
	}
	h := chain(head.Hash, body)
	v := make([]byte, 0, HashSize+len(body))
	v = append(append(v, h[:]...), body...)
	if err := tx.Bucket(bucketLedger).Put(u64(r.Seq), v); err != nil {
		return Record{}, err
	}
	meta := make([]byte, 0, 8+HashSize)
	meta = append(append(meta, u64(r.Seq)...), h[:]...)
	return r, tx.Bucket(bucketMeta).Put(keyHead, meta)
}

// getRecord reads record seq in tx.
func getRecord(tx *bbolt.Tx, seq uint64) (Record, bool) {
	v := tx.Bucket(bucketLedger).Get(u64(seq))
	if len(v) <= HashSize {
		return Record{}, false
	}
	var r Record
	if json.Unmarshal(v[HashSize:], &r) != nil {
		return Record{}, false
	}
	return r, true
}

// Records returns the ledger's records from seq from (1 for all) on, at
// most limit of them (0 for no limit), oldest first.
func (s *Service) Records(ctx context.Context, from uint64, limit int) ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketLedger).Cursor()
		for k, v := c.Seek(u64(from)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			if len(v) <= HashSize {
				return fmt.Errorf("record %d has no body", binary.BigEndian.Uint64(k))
			}
			var r Record
			if err := json.Unmarshal(v[HashSize:], &r); err != nil {
				return fmt.Errorf("record %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consent: read ledger: %w", err)
	}
	return out, nil
}

// Head returns the ledger's last record and chain hash.
func (s *Service) Head(ctx context.Context) (Head, error) {
	var h Head
	err := s.db.View(func(tx *bbolt.Tx) error { h = getHead(tx); return nil })
	return h, err
}

// Verify checks the ledger of the service's store; see the package
// function Verify.
func (s *Service) Verify(ctx context.Context) (Head, error) { return Verify(ctx, s.db) }

// Verify checks the consent ledger in db in one read transaction: records
// numbered 1, 2, 3... with none missing, each body a record carrying its
// own number, each stored hash equal to SHA-256(previous hash ‖ body), and
// the stored head equal to the last record. It returns the head, or a
// *BrokenError naming the first record that fails. A store without a
// ledger verifies as empty. It needs no write access, so it runs beside a
// stopped server's store or on a copy.
func Verify(ctx context.Context, db *bbolt.DB) (Head, error) {
	var head Head
	err := db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLedger)
		if b == nil {
			return nil
		}
		var prev [HashSize]byte
		var want uint64 = 1
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(k) != 8 {
				return &BrokenError{Seq: want, Reason: fmt.Sprintf("a key of %d bytes (%x) is in the ledger; keys are 8-byte record numbers", len(k), k)}
			}
			seq := binary.BigEndian.Uint64(k)
			if seq != want {
				return &BrokenError{Seq: want, Reason: fmt.Sprintf("it is missing (the next record is %d)", seq)}
			}
			if len(v) <= HashSize {
				return &BrokenError{Seq: seq, Reason: "its value is too short to hold a hash and a record"}
			}
			body := v[HashSize:]
			var r Record
			if err := json.Unmarshal(body, &r); err != nil {
				return &BrokenError{Seq: seq, Reason: fmt.Sprintf("its body is not a record: %v", err)}
			}
			if r.Seq != seq {
				return &BrokenError{Seq: seq, Reason: fmt.Sprintf("its body says it is record %d", r.Seq)}
			}
			h := chain(prev, body)
			if !bytes.Equal(h[:], v[:HashSize]) {
				return &BrokenError{Seq: seq, Reason: "its hash does not match its contents and the record before it (edited after it was written)"}
			}
			prev = h
			head = Head{Seq: seq, Hash: h}
			want++
		}
		if mb := tx.Bucket(bucketMeta); mb != nil {
			stored := getHead(tx)
			if stored.Seq != head.Seq {
				return &BrokenError{Seq: max(stored.Seq, head.Seq), Reason: fmt.Sprintf("the ledger ends at record %d but its head says %d (records removed or added outside the ledger)", head.Seq, stored.Seq)}
			}
			if stored.Hash != head.Hash {
				return &BrokenError{Seq: head.Seq, Reason: "the head's hash differs from the last record's"}
			}
		}
		return nil
	})
	if err != nil {
		return Head{}, err
	}
	return head, nil
}
