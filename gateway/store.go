package gateway

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// Buckets owned by the gateway.
var (
	bucketConvs   = []byte("gateway.convs")   // conv id -> convRecord
	bucketLog     = []byte("gateway.log")     // global seq (8 bytes BE) -> logEntry
	bucketHeads   = []byte("gateway.heads")   // conv id -> last seq, global seq of that message (8+8 bytes BE)
	bucketMarks   = []byte("gateway.marks")   // conv id 0 seq (8 bytes BE) -> global seq, for every markEvery-th seq
	bucketInbox   = []byte("gateway.inbox")   // person 0 conv -> ""
	bucketPrompts = []byte("gateway.prompts") // prompt id -> promptRecord
	bucketPending = []byte("gateway.pending") // person 0 prompt id -> ""
)

// Conversation kinds.
const (
	KindDirect = "direct" // 1:1 between two people
	KindGroup  = "group"  // people
	KindApp    = "app"    // one person and one mini-app
)

type convRecord struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Title   string   `json:"title,omitempty"`
	App     string   `json:"app,omitempty"`
	Members []string `json:"members"` // people
	Created int64    `json:"created"`
}

// sender says who wrote a message.
type sender struct {
	Kind string `json:"kind"` // person or app
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

type msgRecord struct {
	Seq     uint64       `json:"-"`    // the key
	Time    int64        `json:"time"` // unix milliseconds
	From    sender       `json:"from"`
	Msg     host.Message `json:"msg"`
	Client  string       `json:"cid,omitempty"` // the sender's client id (dedupe)
	Surface string       `json:"surface,omitempty"`
}

type promptRecord struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"` // payment, consent, or what the body says
	Person  string          `json:"person"`
	App     host.AppRef     `json:"app"`
	Conv    string          `json:"conv,omitempty"`
	Body    json.RawMessage `json:"body"`
	Created int64           `json:"created"`
	Answer  string          `json:"answer,omitempty"`
}

// store keeps conversations, messages and prompts. Messages are written by
// its commit loop (see commit.go); everything else by DB.Batch.
type store struct {
	db *bbolt.DB
	commits
}

func newStore(db *bbolt.DB) (*store, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketConvs, bucketLog, bucketHeads, bucketMarks, bucketInbox, bucketPrompts, bucketPending, bucketReadMarks} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: create buckets: %w", err)
	}
	s := &store{db: db}
	s.commits.start(db)
	return s, nil
}

func pkey(a, b string) []byte {
	k := make([]byte, 0, len(a)+1+len(b))
	k = append(k, a...)
	k = append(k, 0)
	return append(k, b...)
}

var idEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

func hashID(prefix string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return prefix + strings.ToLower(idEnc.EncodeToString(h[:15]))
}

func randomID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// directID is the id of the 1:1 conversation between a and b.
func directID(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return hashID("d_", a, b)
}

// appConvID is the id of the conversation between person and app.
func appConvID(app, person string) string { return hashID("a_", app, person) }

// ensureConv returns the conversation rec.ID, creating it as rec if absent;
// created says whether it did.
func (s *store) ensureConv(rec convRecord) (out convRecord, created bool, err error) {
	get := func(tx *bbolt.Tx) (bool, error) {
		v := tx.Bucket(bucketConvs).Get([]byte(rec.ID))
		if v == nil {
			return false, nil
		}
		return true, json.Unmarshal(v, &out)
	}
	var found bool
	if err := s.db.View(func(tx *bbolt.Tx) (err error) { found, err = get(tx); return err }); err != nil || found {
		return out, false, err
	}
	err = s.db.Batch(func(tx *bbolt.Tx) error {
		created = false
		if ok, err := get(tx); err != nil || ok {
			return err
		}
		rec.Created = time.Now().UnixMilli()
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketConvs).Put([]byte(rec.ID), v); err != nil {
			return err
		}
		for _, m := range rec.Members {
			if err := tx.Bucket(bucketInbox).Put(pkey(m, rec.ID), nil); err != nil {
				return err
			}
		}
		out, created = rec, true
		return nil
	})
	return out, created, err
}

func (s *store) conv(id string) (convRecord, uint64, error) {
	var rec convRecord
	var last uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketConvs).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("conversation %q: %w", id, ErrNotFound)
		}
		last = lastSeq(tx, id)
		return json.Unmarshal(v, &rec)
	})
	return rec, last, err
}

type convSummary struct {
	convRecord
	Last uint64 `json:"last"`
}

// convsOf lists the conversations person is a member of, with their last seq.
func (s *store) convsOf(person string) ([]convSummary, error) {
	var out []convSummary
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketInbox).Cursor()
		prefix := pkey(person, "")
		convs := tx.Bucket(bucketConvs)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			id := k[len(prefix):]
			v := convs.Get(id)
			if v == nil {
				continue
			}
			var cs convSummary
			if err := json.Unmarshal(v, &cs.convRecord); err != nil {
				return err
			}
			cs.Last = lastSeq(tx, string(id))
			out = append(out, cs)
		}
		return nil
	})
	return out, err
}

// append persists rec as the next message of conv through the commit loop
// and sets rec.Seq once it is committed.
func (s *store) append(conv string, rec *msgRecord) error {
	v, err := encodeRecord(rec) // outside the transaction: it holds the one writer lock
	if err != nil {
		return err
	}
	seq, err := s.commits.append(conv, v)
	if err == nil {
		rec.Seq = seq
	}
	return err
}

// appendThen queues rec as the next message of conv and returns; once it
// is committed, rec.Seq is set and then is called with the outcome. then is
// not called when appendThen returns an error.
func (s *store) appendThen(conv string, rec *msgRecord, then func(error)) error {
	v, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	return s.commits.appendThen(conv, v, func(seq uint64, err error) {
		if err == nil {
			rec.Seq = seq
		}
		then(err)
	})
}

// recent returns the newest n messages of conv, oldest first.
func (s *store) recent(conv string, n int) ([]msgRecord, error) {
	var out []msgRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		last := lastSeq(tx, conv)
		return walk(tx, conv, last-min(last, uint64(n)), last, func(seq uint64, v []byte) (bool, error) {
			m := msgRecord{Seq: seq}
			out = append(out, m)
			return true, json.Unmarshal(v, &out[len(out)-1])
		})
	})
	slices.Reverse(out)
	return out, err
}

// messages returns up to limit messages of conv with seq > after, in order.
func (s *store) messages(conv string, after uint64, limit int) ([]msgRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []msgRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		return walk(tx, conv, after, after+uint64(limit), func(seq uint64, v []byte) (bool, error) {
			out = append(out, msgRecord{Seq: seq})
			return true, json.Unmarshal(v, &out[len(out)-1])
		})
	})
	slices.Reverse(out)
	return out, err
}

// lastCard returns the newest message of conv sent by an app with a card,
// looking back at most 50 messages.
func (s *store) lastCard(conv string) (*msgRecord, error) {
	var out *msgRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		last := lastSeq(tx, conv)
		return walk(tx, conv, last-min(last, 50), last, func(seq uint64, v []byte) (bool, error) {
			m := msgRecord{Seq: seq}
			if err := json.Unmarshal(v, &m); err != nil {
				return false, err
			}
			if m.From.Kind == "app" && m.Msg.Card != nil {
				out = &m
				return false, nil
			}
			return true, nil
		})
	})
	return out, err
}

func (s *store) putPrompt(p promptRecord) error {
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.db.Batch(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketPrompts).Put([]byte(p.ID), v); err != nil {
			return err
		}
		if p.Answer == "" {
			return tx.Bucket(bucketPending).Put(pkey(p.Person, p.ID), nil)
		}
		return tx.Bucket(bucketPending).Delete(pkey(p.Person, p.ID))
	})
}

func (s *store) prompt(id string) (promptRecord, error) {
	var p promptRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketPrompts).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("prompt %q: %w", id, ErrNotFound)
		}
		return json.Unmarshal(v, &p)
	})
	return p, err
}

// pendingPrompts lists person's unanswered prompts, oldest first.
func (s *store) pendingPrompts(person string) ([]promptRecord, error) {
	var out []promptRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketPending).Cursor()
		prefix := pkey(person, "")
		prompts := tx.Bucket(bucketPrompts)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			v := prompts.Get(k[len(prefix):])
			if v == nil {
				continue
			}
			var p promptRecord
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b promptRecord) int { return int(a.Created - b.Created) })
	return out, err
}
