package broadcast

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/chat"
	"github.com/passerelle/passerelle/host/consent"
)

var (
	bucketList    = []byte("broadcast.list")    // merchant NUL id → stored JSON
	bucketPeople  = []byte("broadcast.people")  // merchant NUL id NUL index (4 bytes) → entry JSON
	bucketRunning = []byte("broadcast.running") // merchant NUL id → "" for every unfinished broadcast
)

// Errors of the engine, as *host.Error sentinels: test them with errors.Is.
var (
	ErrInvalid  = &host.Error{Status: host.StatusBadRequest, Message: "broadcast: invalid request"}
	ErrNotFound = &host.Error{Status: host.StatusNotFound, Code: "broadcast_not_found", Message: "broadcast: no such broadcast"}
	ErrConflict = &host.Error{Status: host.StatusConflict, Message: "broadcast: id already used"}
	ErrClosed   = &host.Error{Status: host.StatusUnavailable, Message: "broadcast: the engine is stopped"}
)

// MaxID is the longest broadcast id, in bytes.
const MaxID = 64

// State is where a broadcast is.
type State string

// States.
const (
	StateRunning State = "running" // people are still waiting for their turn
	StateDone    State = "done"    // every person has an outcome
)

// Reason says why a person was skipped. The consent refusals keep the
// codes of host/consent (and of the ABI).
type Reason string

// Reasons.
const (
	ReasonOptedOut      Reason = "opted_out"     // STOP (or STOPALL, or a revocation) before the person's turn
	ReasonNotOptedIn    Reason = "not_opted_in"  // the opt-in was withdrawn, or the subscription used, before the turn
	ReasonWindowClosed  Reason = "window_closed" // no purpose or template allowed it
	ReasonRateLimited   Reason = "rate_limited"  // the person's daily limit of business-initiated messages was reached
	ReasonUndeliverable Reason = "undeliverable" // the conversation refused the message
)

// Reasons lists every reason, in a stable order.
func Reasons() []Reason {
	return []Reason{ReasonOptedOut, ReasonNotOptedIn, ReasonWindowClosed, ReasonRateLimited, ReasonUndeliverable}
}

// Request is what a merchant asks to broadcast.
type Request struct {
	ID       string       `json:"id"`  // the merchant's id for the broadcast: 1 to MaxID of a-z, A-Z, 0-9, '-', '_', '.'
	App      string       `json:"app"` // the merchant's app that speaks
	Purpose  string       `json:"purpose,omitempty"`
	Template string       `json:"template,omitempty"`
	Message  host.Message `json:"message"`
}

// Broadcast is one broadcast and its progress.
type Broadcast struct {
	ID       string         `json:"id"`
	Merchant string         `json:"merchant"`
	App      string         `json:"app"`
	Purpose  string         `json:"purpose,omitempty"`
	Template string         `json:"template,omitempty"`
	Message  host.Message   `json:"message"`
	Digest   string         `json:"digest"` // hex SHA-256 of app, purpose, template and message: what the id stands for
	State    State          `json:"state"`
	Created  time.Time      `json:"created"`
	Finished time.Time      `json:"finished,omitzero"`
	Total    int            `json:"total"`             // people in the snapshot
	Sent     int            `json:"sent"`              // sent so far
	Skipped  int            `json:"skipped"`           // skipped so far, all reasons
	ByReason map[Reason]int `json:"skipped_by_reason"` // skipped so far, by reason
}

// stored is a broadcast as kept: Next is not part of the view.
type stored struct {
	Broadcast
	Next int `json:"next"`
}

// Outcome is one person's outcome, as the merchant sees it: under the
// app's pseudonymous id for the person, never the platform id.
type Outcome struct {
	ID      string    `json:"id"`                // the app's id for the person (identity's OpenID: the user of its events)
	State   string    `json:"state"`             // pending, sent, skipped
	Reason  Reason    `json:"reason,omitempty"`  // why skipped
	Message string    `json:"message,omitempty"` // the message's id: the same for the person across retries
	Record  uint64    `json:"record,omitempty"`  // the send's consent ledger record
	Relies  uint64    `json:"relies,omitempty"`  // the ledger record of the opt-in or subscription relied on
	Time    time.Time `json:"time,omitzero"`     // when the outcome was recorded
}

// Person states.
const (
	statePending = "pending"
	stateSent    = "sent"
	stateSkipped = "skipped"
)

// entry is one person of a broadcast, as kept.
type entry struct {
	Person       string    `json:"person"`
	Surface      string    `json:"surface,omitempty"`
	Conversation string    `json:"conversation,omitempty"` // "" until resolved, when the evidence is from another app
	State        string    `json:"state"`
	Reason       Reason    `json:"reason,omitempty"`
	Record       uint64    `json:"record,omitempty"`
	Relies       uint64    `json:"relies,omitempty"`
	Time         time.Time `json:"time,omitzero"`
}

// Sender delivers a broadcast's messages: the gateway's outbox.
type Sender interface {
	// Conversation returns the person's conversation with app, creating it
	// when there is none yet.
	Conversation(ctx context.Context, app host.AppRef, person string) (string, error)
	// Send stores out (a message with its ID) for delivery to its
	// conversation and returns once it is durable. A *host.Error with
	// status bad_request, not_found or permission_denied says the
	// conversation will never take it; any other error may pass.
	Send(ctx context.Context, out host.Outgoing) error
	// Sent reports whether a message from out.App with out.ID is already
	// stored in out.Conversation; it was not handed over before since.
	Sent(ctx context.Context, out host.Outgoing, since time.Time) (bool, error)
}

// Pseudonyms names a person for an app (identity.Service.OpenID).
type Pseudonyms interface {
	OpenID(ref host.AppRef, person string) string
}

// Config configures an Engine. Consent, Sender and Pseudonyms are required.
type Config struct {
	Consent    *consent.Service
	Sender     Sender
	Pseudonyms Pseudonyms
	Metrics    *Metrics     // nil counts nothing
	Logger     *slog.Logger // nil discards
	// Now is the clock (time.Now if nil); the consent service should share it.
	Now func() time.Time
	// Retry is how long the runner waits after a send failed for a reason
	// that may pass (default 2 s).
	Retry time.Duration
}

// Engine keeps and runs broadcasts. It is safe for concurrent use. Open
// it, then Start the runner once its Sender can send; Close stops it.
type Engine struct {
	db      *bbolt.DB
	consent *consent.Service
	sender  Sender
	ids     Pseudonyms
	met     *Metrics
	log     *slog.Logger
	now     func() time.Time
	retry   time.Duration

	step sync.Mutex // one step at a time: the runner's and a caller's

	kick chan struct{} // a broadcast was made: the runner looks again
	life sync.Mutex    // guards stop and done
	stop context.CancelFunc
	done chan struct{}
}

// Open prepares an engine on db, creating its buckets. It sends nothing
// until Start.
func Open(db *bbolt.DB, cfg Config) (*Engine, error) {
	if cfg.Consent == nil || cfg.Sender == nil || cfg.Pseudonyms == nil {
		return nil, fmt.Errorf("broadcast: Config needs Consent, Sender and Pseudonyms")
	}
	e := &Engine{db: db, consent: cfg.Consent, sender: cfg.Sender, ids: cfg.Pseudonyms, met: cfg.Metrics,
		log: cfg.Logger, now: cfg.Now, retry: cfg.Retry, kick: make(chan struct{}, 1)}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.retry <= 0 {
		e.retry = 2 * time.Second
	}
	if err := bolt.CreateBuckets(db, bucketList, bucketPeople, bucketRunning); err != nil {
		return nil, fmt.Errorf("broadcast: create buckets: %w", err)
	}
	return e, nil
}

// MessageID is the id of the message a broadcast sends a person: the same
// on every attempt, different for every person and broadcast.
func MessageID(merchant, broadcast, person string) string {
	h := sha256.Sum256([]byte("broadcast\x00" + merchant + "\x00" + broadcast + "\x00" + person))
	return "msg_b" + idEncoding.EncodeToString(h[:15])
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func checkRequest(r Request) error {
	if len(r.ID) < 1 || len(r.ID) > MaxID {
		return host.Wrapf(ErrInvalid, "\"id\" must be 1 to %d characters; name the broadcast, e.g. \"winter-sale-2026\"", MaxID)
	}
	for i := 0; i < len(r.ID); i++ {
		c := r.ID[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return host.Wrapf(ErrInvalid, "\"id\" %q may only hold a-z, A-Z, 0-9, '-', '_' and '.'", r.ID)
		}
	}
	if r.App == "" {
		return host.Wrapf(ErrInvalid, "\"app\" is missing; name the app the message comes from")
	}
	if (r.Purpose == "") == (r.Template == "") {
		return host.Wrapf(ErrInvalid, "name exactly one of \"purpose\" (people opted in to it) and \"template\" (people holding a one-time subscription to it)")
	}
	m := r.Message
	if err := chat.Validate(&m); err != nil {
		return host.Wrapf(ErrInvalid, "\"message\": %s", host.MessageOf(err))
	}
	return nil
}

// digest is what a broadcast id stands for.
func digest(r Request) string {
	data, _ := json.Marshal(struct {
		App, Purpose, Template string
		Message                host.Message
	}{r.App, r.Purpose, r.Template, r.Message})
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

func listKey(merchant, id string) []byte { return bolt.Key(merchant, id) }

func personKey(merchant, id string, i int) []byte {
	k := append(bolt.Key(merchant, id), 0)
	return binary.BigEndian.AppendUint32(k, uint32(i))
}

// Create makes a broadcast of r for merchant and starts it; the caller
// has checked that r.App is merchant's. created is false when merchant
// already made broadcast r.ID with the same content: that broadcast is
// returned, as it is now. The same id with other content is ErrConflict.
func (e *Engine) Create(ctx context.Context, merchant string, r Request) (b Broadcast, created bool, err error) {
	if merchant == "" {
		return Broadcast{}, false, host.Wrapf(ErrInvalid, "no merchant")
	}
	if err := checkRequest(r); err != nil {
		return Broadcast{}, false, err
	}
	d := digest(r)
	if old, err := e.Get(ctx, merchant, r.ID); err == nil {
		return same(old, d)
	}
	people, err := e.consent.Recipients(ctx, merchant, r.Purpose, r.Template)
	if err != nil {
		if host.StatusOf(err) == host.StatusBadRequest {
			return Broadcast{}, false, host.Wrapf(ErrInvalid, "%s", host.MessageOf(err))
		}
		return Broadcast{}, false, fmt.Errorf("broadcast: audience: %w", err)
	}
	now := e.now().UTC()
	s := stored{Broadcast: Broadcast{ID: r.ID, Merchant: merchant, App: r.App, Purpose: r.Purpose, Template: r.Template,
		Message: r.Message, Digest: d, State: StateRunning, Created: now, Total: len(people), ByReason: map[Reason]int{}}}
	if len(people) == 0 {
		s.State, s.Finished = StateDone, now
	}
	var existing *Broadcast
	err = e.db.Update(func(tx *bbolt.Tx) error {
		key := listKey(merchant, r.ID)
		if v := tx.Bucket(bucketList).Get(key); v != nil { // made meanwhile
			var o stored
			if err := json.Unmarshal(v, &o); err != nil {
				return err
			}
			existing = &o.Broadcast
			return nil
		}
		pb := tx.Bucket(bucketPeople)
		for i, p := range people {
			en := entry{Person: p.Person, Surface: p.Evidence.Surface, State: statePending}
			if p.Evidence.App == r.App {
				en.Conversation = p.Evidence.Conversation
			}
			v, err := json.Marshal(en)
			if err != nil {
				return err
			}
			if err := pb.Put(personKey(merchant, r.ID, i), v); err != nil {
				return err
			}
		}
		if s.State == StateRunning {
			if err := tx.Bucket(bucketRunning).Put(key, []byte{}); err != nil {
				return err
			}
		}
		return putStored(tx, s)
	})
	if err != nil {
		return Broadcast{}, false, fmt.Errorf("broadcast: create %s: %w", r.ID, err)
	}
	if existing != nil {
		return same(*existing, d)
	}
	e.met.created()
	e.log.Info("broadcast created", "merchant", merchant, "id", r.ID, "app", r.App, "purpose", r.Purpose, "template", r.Template, "people", len(people))
	e.wake()
	return s.view(), true, nil
}

func same(old Broadcast, d string) (Broadcast, bool, error) {
	if old.Digest != d {
		return Broadcast{}, false, host.Wrapf(ErrConflict,
			"broadcast %q was already made with another app, purpose, template or message; nothing was sent: give a new broadcast its own id, or send the same content again to read the first one", old.ID)
	}
	return old, false, nil
}

func (s stored) view() Broadcast {
	b := s.Broadcast
	b.ByReason = map[Reason]int{}
	for k, v := range s.ByReason {
		b.ByReason[k] = v
	}
	return b
}

func putStored(tx *bbolt.Tx, s stored) error {
	v, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketList).Put(listKey(s.Merchant, s.ID), v)
}

func getStored(tx *bbolt.Tx, merchant, id string) (stored, error) {
	v := tx.Bucket(bucketList).Get(listKey(merchant, id))
	if v == nil {
		return stored{}, host.Wrapf(ErrNotFound, "you have no broadcast %q; list yours with GET /v1/broadcasts", id)
	}
	var s stored
	if err := json.Unmarshal(v, &s); err != nil {
		return stored{}, fmt.Errorf("broadcast %q: %w", id, err)
	}
	if s.ByReason == nil {
		s.ByReason = map[Reason]int{}
	}
	return s, nil
}

// Get returns merchant's broadcast id with its progress; ErrNotFound when
// merchant has none by that id (another merchant's is never found).
func (e *Engine) Get(ctx context.Context, merchant, id string) (Broadcast, error) {
	var s stored
	err := e.db.View(func(tx *bbolt.Tx) error {
		var err error
		s, err = getStored(tx, merchant, id)
		return err
	})
	if err != nil {
		return Broadcast{}, err
	}
	return s.view(), nil
}

// List returns merchant's broadcasts, by id.
func (e *Engine) List(ctx context.Context, merchant string) ([]Broadcast, error) {
	var out []Broadcast
	err := e.db.View(func(tx *bbolt.Tx) error {
		prefix := append([]byte(merchant), 0)
		c := tx.Bucket(bucketList).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var s stored
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("broadcast %q: %w", k[len(prefix):], err)
			}
			out = append(out, s.view())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("broadcast: list: %w", err)
	}
	return out, nil
}

// Outcomes returns the outcomes of merchant's broadcast id from the
// after-th person on (0 for the first), at most limit of them (0: all),
// in the order the people are sent to.
func (e *Engine) Outcomes(ctx context.Context, merchant, id string, after, limit int) ([]Outcome, error) {
	var out []Outcome
	err := e.db.View(func(tx *bbolt.Tx) error {
		s, err := getStored(tx, merchant, id)
		if err != nil {
			return err
		}
		ref := host.AppRef{Merchant: merchant, App: s.App}
		prefix := append(listKey(merchant, id), 0)
		c := tx.Bucket(bucketPeople).Cursor()
		for k, v := c.Seek(personKey(merchant, id, max(after, 0))); k != nil && bytes.HasPrefix(k, prefix) && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			var en entry
			if err := json.Unmarshal(v, &en); err != nil {
				return fmt.Errorf("broadcast %q: person %x: %w", id, k[len(prefix):], err)
			}
			o := Outcome{ID: e.ids.OpenID(ref, en.Person), State: en.State, Reason: en.Reason, Record: en.Record, Relies: en.Relies, Time: en.Time}
			if en.State == stateSent {
				o.Message = MessageID(merchant, id, en.Person)
			}
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
