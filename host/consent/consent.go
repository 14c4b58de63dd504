package consent

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
)

// Bucket names owned by this package.
var (
	bucketLedger  = []byte("consent.ledger")  // seq → hash (32 bytes) ‖ record JSON
	bucketMeta    = []byte("consent.meta")    // "head" → seq (8) ‖ hash (32)
	bucketGates   = []byte("consent.gates")   // business NUL person → gate (24 bytes); NUL person → STOPALL seq (8)
	bucketPairs   = []byte("consent.pairs")   // business NUL person → pair JSON (grants, subscriptions, daily count)
	bucketPeople  = []byte("consent.people")  // person NUL business → "" (the businesses a person dealt with)
	bucketRates   = []byte("consent.rates")   // business → second (8) ‖ count (4)
	bucketInbound = []byte("consent.inbound") // person NUL message id → seq of the keyword's record (8)
	bucketSends   = []byte("consent.sends")   // business NUL message id → seq of the send's record (8)

	keyHead = []byte("head")
)

// Defaults for Config.
const (
	DefaultWindow            = 24 * time.Hour
	DefaultPerPersonDay      = 10 // business-initiated messages from one business to one person per UTC day
	DefaultPerBusinessSecond = 80 // business-initiated messages from one business per second, all people together
	// TouchResolution is how stale a stored "last wrote" time may be before
	// Touch writes it again: the window may close up to this much early,
	// never late.
	TouchResolution = time.Minute
)

// Limits bound a business's business-initiated messages (those sent under
// an opt-in or a one-time subscription; replies inside the service window
// are not counted). Zero fields take the defaults; a negative field means
// no limit.
type Limits struct {
	PerPersonDay      int `json:"per_person_day,omitempty"`      // to one person per UTC day; DefaultPerPersonDay
	PerBusinessSecond int `json:"per_business_second,omitempty"` // to everyone per second; DefaultPerBusinessSecond
}

func (l Limits) withDefaults(d Limits) Limits {
	if l.PerPersonDay == 0 {
		l.PerPersonDay = d.PerPersonDay
	}
	if l.PerBusinessSecond == 0 {
		l.PerBusinessSecond = d.PerBusinessSecond
	}
	return l
}

// Pseudonyms gives the id a merchant sees for a person: one stable id across
// the merchant's apps, never the platform id (identity.Service.UnionID).
type Pseudonyms interface {
	UnionID(merchant, person string) string
}

// Config configures a Service. Zero fields take the defaults.
type Config struct {
	// Window is how long after the person's last message a business may
	// write to them without an opt-in (the service window); DefaultWindow.
	Window time.Duration
	// Limits are the operator's rate limits for every business;
	// Business overrides them for some businesses (merchant id → limits).
	Limits   Limits
	Business map[string]Limits
	// Pseudonyms names people in a merchant's audience export. Nil
	// makes Audience fail: the export never shows platform ids.
	Pseudonyms Pseudonyms
	// BusinessName gives a business's display name for the replies to
	// keywords when Inbound.BusinessName is ""; nil or "" shows the id.
	BusinessName func(ctx context.Context, business string) string
	// Answered, if set, learns every answer to a subscribe prompt
	// (PromptKind), after an accepted grant is recorded, so that the app
	// that asked gets it as a consent event. It runs on the goroutine of
	// the answer: queue the event, do not deliver it there.
	Answered func(ctx context.Context, a Answered)
	Metrics  *Metrics         // nil counts nothing
	Logger   *slog.Logger     // nil discards
	Now      func() time.Time // time.Now if nil
}

// Service is the consent service. It is safe for concurrent use; all its
// state is in the store, so a restarted process carries on where the last
// one stopped.
type Service struct {
	db       *bbolt.DB
	commit   *bolt.Committer
	window   time.Duration
	limits   Limits
	business map[string]Limits
	ids      Pseudonyms
	name     func(ctx context.Context, business string) string
	answered func(ctx context.Context, a Answered)
	prompt   *host.PromptKind
	metrics  *Metrics
	log      *slog.Logger
	now      func() time.Time
}

// Open prepares the service on db, creating its buckets.
func Open(db *bbolt.DB, cfg Config) (*Service, error) {
	s := &Service{
		db:       db,
		commit:   bolt.NewCommitter(db, bolt.Config{}),
		window:   cfg.Window,
		limits:   cfg.Limits.withDefaults(Limits{PerPersonDay: DefaultPerPersonDay, PerBusinessSecond: DefaultPerBusinessSecond}),
		business: map[string]Limits{},
		ids:      cfg.Pseudonyms,
		name:     cfg.BusinessName,
		answered: cfg.Answered,
		metrics:  cfg.Metrics,
		log:      cfg.Logger,
		now:      cfg.Now,
	}
	s.prompt = s.newPromptKind()
	if s.window <= 0 {
		s.window = DefaultWindow
	}
	for b, l := range cfg.Business {
		s.business[b] = l.withDefaults(s.limits)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketLedger, bucketMeta, bucketGates, bucketPairs, bucketPeople, bucketRates, bucketInbound, bucketSends} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consent: open store: %w", err)
	}
	return s, nil
}

// Window returns the service window in force.
func (s *Service) Window() time.Duration { return s.window }

// limitsOf returns the limits of business.
func (s *Service) limitsOf(business string) Limits {
	if l, ok := s.business[business]; ok {
		return l
	}
	return s.limits
}

// The kinds of refusal, as *host.Error sentinels: the errors the service
// returns are instances of them (host.Wrapf), with a message that says
// what to do; test them with errors.Is.
var (
	ErrOptedOut     = &host.Error{Status: host.StatusOptedOut, Message: "consent: opted out"}
	ErrWindowClosed = &host.Error{Status: host.StatusWindowClosed, Message: "consent: outside the service window"}
	ErrNotOptedIn   = &host.Error{Status: host.StatusNotOptedIn, Message: "consent: not opted in"}
	ErrRateLimited  = &host.Error{Status: host.StatusRateLimited, Message: "consent: rate limited"}
	// ErrSecondLimit is the refusal under the per-second limit of a
	// business; it is an instance of ErrRateLimited too. Unlike the
	// per-person daily limit it passes within a second: a sender that
	// paces itself (a broadcast) waits and checks again.
	ErrSecondLimit = &host.Error{Status: host.StatusRateLimited, Message: "consent: rate limited", Kind: ErrRateLimited}
	ErrIDReused    = &host.Error{Status: host.StatusConflict, Message: "consent: message id reused"}
	ErrInvalid     = &host.Error{Status: host.StatusBadRequest, Message: "consent: invalid request"}
)

// invalid is the refusal of malformed input. Input is checked before any
// write job starts; a job that refuses (opted out, rate limited) records
// the refusal in its result and returns nil, writing nothing.
func invalid(format string, args ...any) error {
	return host.Wrapf(ErrInvalid, format, args...)
}

// checkParties checks the person and the business, both required, and the
// optional ids beside them, given as name, value, name, value...
func checkParties(person, business string, optional ...string) error {
	if err := checkID("person", person, true); err != nil {
		return err
	}
	if err := checkID("business", business, true); err != nil {
		return err
	}
	for i := 0; i+1 < len(optional); i += 2 {
		if err := checkID(optional[i], optional[i+1], false); err != nil {
			return err
		}
	}
	return nil
}

// checkID checks a person, business, app, surface or conversation id.
func checkID(what, v string, required bool) error {
	if v == "" {
		if required {
			return invalid("%s is empty; give the %s", what, what)
		}
		return nil
	}
	if len(v) > 200 {
		return invalid("%s %.20q... is %d bytes; ids are at most 200", what, v, len(v))
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return invalid("%s %q contains a control character", what, v)
		}
	}
	return nil
}

// checkName checks a purpose or a template name: what a business declares,
// such as "updates" or "table-ready".
func checkName(what, v string) error {
	if len(v) < 1 || len(v) > 64 {
		return invalid("%s %q must be 1 to 64 characters from a-z, 0-9, '-', '_' and '.', e.g. \"updates\"", what, v)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return invalid("%s %q must be 1 to 64 characters from a-z, 0-9, '-', '_' and '.', e.g. \"updates\"", what, v)
		}
	}
	return nil
}

// pairKey is the key of a (business, person) pair: business first, so a
// business's audience is one prefix.
func pairKey(business, person string) []byte {
	k := make([]byte, 0, len(business)+1+len(person))
	k = append(k, business...)
	k = append(k, 0)
	return append(k, person...)
}

// indexKey is the key of the person → business index.
func indexKey(person, business string) []byte {
	k := make([]byte, 0, len(person)+1+len(business))
	k = append(k, person...)
	k = append(k, 0)
	return append(k, business...)
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// gate is what every send check reads: fixed-size, no decoding.
type gate struct {
	lastWrote int64  // unix nanoseconds of the person's last message to the business; 0 never
	stop      uint64 // seq of the last STOP (or revocation of the whole business); 0 none
	start     uint64 // seq of the last START; 0 none
}

const gateSize = 24

func getGate(tx *bbolt.Tx, key []byte) gate { return gateOf(tx.Bucket(bucketGates).Get(key)) }

func gateOf(v []byte) gate {
	if len(v) != gateSize {
		return gate{}
	}
	return gate{
		lastWrote: int64(binary.BigEndian.Uint64(v[0:])),
		stop:      binary.BigEndian.Uint64(v[8:]),
		start:     binary.BigEndian.Uint64(v[16:]),
	}
}

func putGate(tx *bbolt.Tx, key []byte, g gate) error {
	var v [gateSize]byte
	binary.BigEndian.PutUint64(v[0:], uint64(g.lastWrote))
	binary.BigEndian.PutUint64(v[8:], g.stop)
	binary.BigEndian.PutUint64(v[16:], g.start)
	return tx.Bucket(bucketGates).Put(key, v[:])
}

// stopAllKey is the key of a person's last STOPALL in consent.gates: it
// sorts before every pair (a business id is never empty), so the check
// reads both from one bucket.
func stopAllKey(person string) []byte {
	k := make([]byte, 0, 1+len(person))
	return append(append(k, 0), person...)
}

// stopAll returns the seq of the person's last STOPALL, 0 if none.
func stopAll(tx *bbolt.Tx, person string) uint64 {
	return stopAllOf(tx.Bucket(bucketGates).Get(stopAllKey(person)))
}

func stopAllOf(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// stopSeq returns the seq of the last stop that applies to the pair, and
// whether it is still in force (no START after it).
func stopSeq(g gate, all uint64) (seq uint64, inForce bool) {
	seq = max(g.stop, all)
	return seq, seq > g.start
}
