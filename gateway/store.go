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

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/host"
)

// Buckets owned by the gateway (the conversation log owns the others
// named "gateway.*", see convlog).
var (
	bucketPrompts = []byte("gateway.prompts") // prompt id -> promptRecord
	bucketPending = []byte("gateway.pending") // person 0 prompt id -> ""
)

// Conversation kinds.
const (
	KindDirect = "direct" // 1:1 between two people
	KindGroup  = "group"  // people
	KindApp    = "app"    // one person and one mini-app
)

// The conversation log's types, under the names the gateway's code uses.
type (
	convRecord  = convlog.Conv
	convSummary = convlog.Summary
	sender      = convlog.Sender
	msgRecord   = convlog.Message
)

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

// store keeps prompts, written by DB.Batch.
type store struct {
	db *bbolt.DB
}

func newStore(db *bbolt.DB) (*store, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketPrompts, bucketPending} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: create buckets: %w", err)
	}
	return &store{db: db}, nil
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
