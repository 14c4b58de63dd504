package identity

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// Errors returned by the service. They are wrapped with details; test them
// with errors.Is.
var (
	ErrNotFound     = &host.Error{Status: host.StatusNotFound, Message: "identity: not found"}
	ErrExists       = &host.Error{Status: host.StatusConflict, Message: "identity: already exists"}
	ErrInvalid      = &host.Error{Status: host.StatusBadRequest, Message: "identity: invalid input"}
	ErrInvalidToken = &host.Error{Status: host.StatusPermissionDenied, Message: "identity: invalid token"}
)

// Bucket names owned by this package.
var (
	bucketPeople    = []byte("identity.people")
	bucketAccounts  = []byte("identity.accounts")
	bucketMerchants = []byte("identity.merchants")
	bucketKeys      = []byte("identity.keys")
	bucketGrants    = []byte("identity.grants")
	bucketPrompts   = []byte("identity.prompts")
	bucketAnswers   = []byte("identity.answers") // answers not yet known to have reached the app
)

var (
	keySigning   = []byte("ed25519.seed")
	keyPseudonym = []byte("pseudonym.secret")
)

// Defaults for Config.
const (
	DefaultIssuer   = "passerelle"
	DefaultAudience = "passerelle"
)

// Config configures a Service. Zero fields take the defaults.
type Config struct {
	Issuer   string           // "iss" of issued tokens and the only one accepted; DefaultIssuer
	Audience string           // "aud" of issued tokens and the only one accepted; DefaultAudience
	Logger   *slog.Logger     // refusals and failures; nil discards
	Now      func() time.Time // clock; time.Now
	// Answered, if set, is called after a person's answer to a consent
	// prompt (Grant or Refuse) is committed, with the prompt as it was
	// answered (it names the app, the person and the conversation where the
	// app asked) and whether the scopes were granted. It runs in the
	// caller of Grant or Refuse, outside any transaction; it should hand
	// the answer over (queue it) rather than run the app itself.
	//
	// The answer is kept, in the same transaction, until AnswerDelivered
	// is called with the prompt's id; Redeliver hands the answers a
	// previous run of the process kept to Answered again. So the app
	// learns each answer at least once, also across a restart.
	Answered func(ctx context.Context, p Prompt, granted bool)
}

// Service is the identity service. It is safe for concurrent use.
type Service struct {
	db       *bbolt.DB
	log      *slog.Logger
	now      func() time.Time
	answered func(ctx context.Context, p Prompt, granted bool)
	prompt   *host.PromptKind
	issuer   string
	audience string
	priv     ed25519.PrivateKey
	pub      ed25519.PublicKey
	secret   []byte
	macs     sync.Pool // *pseudonymMAC

	mu      sync.Mutex
	backlog []keptAnswer // answers kept by a previous run, for Redeliver
}

// Open prepares the service on db: it creates its buckets and, on first
// start, its signing key and pseudonym secret.
func Open(db *bbolt.DB, cfg Config) (*Service, error) {
	s := &Service{db: db, log: cfg.Logger, now: cfg.Now, answered: cfg.Answered, issuer: cfg.Issuer, audience: cfg.Audience}
	s.prompt = s.newPromptKind()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.issuer == "" {
		s.issuer = DefaultIssuer
	}
	if s.audience == "" {
		s.audience = DefaultAudience
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketPeople, bucketAccounts, bucketMerchants, bucketKeys, bucketGrants, bucketPrompts, bucketAnswers} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketAnswers).ForEach(func(k, v []byte) error {
			var a keptAnswer
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("answer %q: %w", k, err)
			}
			s.backlog = append(s.backlog, a)
			return nil
		}); err != nil {
			return err
		}
		keys := tx.Bucket(bucketKeys)
		seed, err := ensureSecret(keys, keySigning, ed25519.SeedSize)
		if err != nil {
			return err
		}
		s.priv = ed25519.NewKeyFromSeed(seed)
		s.pub = s.priv.Public().(ed25519.PublicKey)
		s.secret, err = ensureSecret(keys, keyPseudonym, 32)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("identity: open store: %w", err)
	}
	return s, nil
}

// ensureSecret returns a copy of the value under key, creating n random bytes
// if absent.
func ensureSecret(b *bbolt.Bucket, key []byte, n int) ([]byte, error) {
	if v := b.Get(key); v != nil {
		if len(v) != n {
			return nil, fmt.Errorf("stored %s has %d bytes, want %d", key, len(v), n)
		}
		return append([]byte(nil), v...), nil
	}
	v := make([]byte, n)
	if _, err := rand.Read(v); err != nil {
		return nil, err
	}
	return v, b.Put(key, v)
}

// PublicKey returns the key that verifies the service's tokens.
func (s *Service) PublicKey() ed25519.PublicKey { return s.pub }

// Person is one platform identity.
type Person struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Phone    string    `json:"phone,omitempty"`
	Accounts []Account `json:"accounts,omitempty"`
	Created  time.Time `json:"created"`
}

// Account is a person's account on one surface.
type Account struct {
	Surface  string `json:"surface"`  // web, whatsapp, messenger, instagram, dev
	External string `json:"external"` // the surface's own id: a phone number, a page-scoped id, a user name
}

// Merchant is a business that publishes mini-apps.
type Merchant struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns prefix followed by 80 random bits.
func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + idEncoding.EncodeToString(b[:])
}

func checkName(what, v string, max int) error {
	if strings.TrimSpace(v) == "" {
		return host.Wrapf(ErrInvalid, "%s is empty; give a %s", what, what)
	}
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > max {
		return host.Wrapf(ErrInvalid, "%s must be valid text of at most %d characters", what, max)
	}
	return nil
}

func checkAccount(a Account) error {
	if err := checkName("surface", a.Surface, 32); err != nil {
		return err
	}
	if strings.ContainsRune(a.Surface, 0) || strings.ContainsRune(a.External, 0) {
		return host.Wrapf(ErrInvalid, "surface account contains a NUL byte")
	}
	return checkName("surface account id", a.External, 200)
}

func accountKey(a Account) []byte { return []byte(a.Surface + "\x00" + a.External) }

// CreatePerson creates a person with a new platform id.
func (s *Service) CreatePerson(ctx context.Context, name, phone string) (Person, error) {
	if err := checkName("name", name, 100); err != nil {
		return Person{}, err
	}
	if len(phone) > 32 {
		return Person{}, host.Wrapf(ErrInvalid, "phone has more than 32 characters")
	}
	p := Person{ID: newID("p_"), Name: name, Phone: phone, Created: s.now().UTC()}
	err := s.db.Update(func(tx *bbolt.Tx) error { return putJSON(tx.Bucket(bucketPeople), []byte(p.ID), p) })
	if err != nil {
		return Person{}, fmt.Errorf("identity: create person: %w", err)
	}
	return p, nil
}

// Person returns the person with the given platform id.
func (s *Service) Person(ctx context.Context, id string) (Person, error) {
	var p Person
	err := s.db.View(func(tx *bbolt.Tx) error {
		return getJSON(tx.Bucket(bucketPeople), []byte(id), &p)
	})
	if errors.Is(err, ErrNotFound) {
		return Person{}, host.Wrapf(ErrNotFound, "no person %q", id)
	}
	return p, err
}

// People lists every person, ordered by id.
func (s *Service) People(ctx context.Context) ([]Person, error) {
	var out []Person
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketPeople).ForEach(func(k, v []byte) error {
			var p Person
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

// FindPeople returns at most limit people whose name contains query,
// ignoring case ("" matches everyone), ordered by id.
func (s *Service) FindPeople(ctx context.Context, query string, limit int) ([]Person, error) {
	if limit <= 0 {
		limit = 50
	}
	q := strings.ToLower(query)
	var out []Person
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketPeople).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var p Person
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			if strings.Contains(strings.ToLower(p.Name), q) {
				out = append(out, p)
			}
		}
		return nil
	})
	return out, err
}

// SetPhone sets the phone number of a person.
func (s *Service) SetPhone(ctx context.Context, id, phone string) error {
	if len(phone) > 32 {
		return host.Wrapf(ErrInvalid, "phone has more than 32 characters")
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketPeople)
		var p Person
		if err := getJSON(b, []byte(id), &p); err != nil {
			return fmt.Errorf("%w: no person %q", err, id)
		}
		p.Phone = phone
		return putJSON(b, []byte(id), p)
	})
}

// LinkAccount links a surface account to a person. Linking an account that
// is already linked to the same person does nothing; linking one held by
// another person fails with ErrExists.
func (s *Service) LinkAccount(ctx context.Context, personID string, a Account) error {
	if err := checkAccount(a); err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error { return s.link(tx, personID, a) })
}

func (s *Service) link(tx *bbolt.Tx, personID string, a Account) error {
	people, accounts := tx.Bucket(bucketPeople), tx.Bucket(bucketAccounts)
	var p Person
	if err := getJSON(people, []byte(personID), &p); err != nil {
		return fmt.Errorf("%w: no person %q", err, personID)
	}
	if owner := accounts.Get(accountKey(a)); owner != nil {
		if string(owner) == personID {
			return nil
		}
		return host.Wrapf(ErrExists, "%s account %q is linked to another person", a.Surface, a.External)
	}
	p.Accounts = append(p.Accounts, a)
	if err := accounts.Put(accountKey(a), []byte(personID)); err != nil {
		return err
	}
	return putJSON(people, []byte(personID), p)
}

// PersonByAccount returns the person a surface account is linked to.
func (s *Service) PersonByAccount(ctx context.Context, a Account) (Person, error) {
	var p Person
	err := s.db.View(func(tx *bbolt.Tx) error {
		id := tx.Bucket(bucketAccounts).Get(accountKey(a))
		if id == nil {
			return host.Wrapf(ErrNotFound, "no person has %s account %q", a.Surface, a.External)
		}
		return getJSON(tx.Bucket(bucketPeople), id, &p)
	})
	return p, err
}

// EnsurePerson returns the person linked to account a, creating a person
// named name and linking a if there is none. created reports which.
func (s *Service) EnsurePerson(ctx context.Context, a Account, name string) (p Person, created bool, err error) {
	if err := checkAccount(a); err != nil {
		return Person{}, false, err
	}
	if err := checkName("name", name, 100); err != nil {
		return Person{}, false, err
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		created = false
		if id := tx.Bucket(bucketAccounts).Get(accountKey(a)); id != nil {
			return getJSON(tx.Bucket(bucketPeople), id, &p)
		}
		p = Person{ID: newID("p_"), Name: name, Created: s.now().UTC()}
		if err := putJSON(tx.Bucket(bucketPeople), []byte(p.ID), p); err != nil {
			return err
		}
		if err := s.link(tx, p.ID, a); err != nil {
			return err
		}
		p.Accounts = []Account{a}
		created = true
		return nil
	})
	return p, created, err
}

// CreateMerchant creates a merchant. id is what app references use
// (lowercase letters, digits and '-', 2..40 characters).
func (s *Service) CreateMerchant(ctx context.Context, id, name string) (Merchant, error) {
	m, created, err := s.ensureMerchant(id, name)
	if err == nil && !created {
		err = host.Wrapf(ErrExists, "merchant %q", id)
	}
	return m, err
}

// EnsureMerchant returns merchant id, creating it with name if absent.
func (s *Service) EnsureMerchant(ctx context.Context, id, name string) (Merchant, bool, error) {
	return s.ensureMerchant(id, name)
}

func (s *Service) ensureMerchant(id, name string) (m Merchant, created bool, err error) {
	if !ValidMerchantID(id) {
		return Merchant{}, false, host.Wrapf(ErrInvalid, "merchant id %q must be 2..40 lowercase letters, digits or '-'", id)
	}
	if name == "" {
		name = id
	}
	if err := checkName("merchant name", name, 100); err != nil {
		return Merchant{}, false, err
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		created = false
		b := tx.Bucket(bucketMerchants)
		if err := getJSON(b, []byte(id), &m); err == nil {
			return nil
		}
		m = Merchant{ID: id, Name: name, Created: s.now().UTC()}
		created = true
		return putJSON(b, []byte(id), m)
	})
	return m, created, err
}

// ValidMerchantID reports whether id is a well-formed merchant id.
func ValidMerchantID(id string) bool {
	if len(id) < 2 || len(id) > 40 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// Merchant returns merchant id.
func (s *Service) Merchant(ctx context.Context, id string) (Merchant, error) {
	var m Merchant
	err := s.db.View(func(tx *bbolt.Tx) error { return getJSON(tx.Bucket(bucketMerchants), []byte(id), &m) })
	if errors.Is(err, ErrNotFound) {
		return Merchant{}, host.Wrapf(ErrNotFound, "no merchant %q", id)
	}
	return m, err
}

// Merchants lists every merchant, ordered by id.
func (s *Service) Merchants(ctx context.Context) ([]Merchant, error) {
	var out []Merchant
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMerchants).ForEach(func(k, v []byte) error {
			var m Merchant
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			out = append(out, m)
			return nil
		})
	})
	return out, err
}

// OpenID returns the stable pseudonymous id of person inside one app
// (merchant + app id; the same across the app's versions).
func (s *Service) OpenID(ref host.AppRef, person string) string {
	return "o_" + s.mac("openid", ref.Merchant, ref.App, person)
}

// UnionID returns the stable pseudonymous id of person across all the apps
// of merchant.
func (s *Service) UnionID(merchant, person string) string {
	return "u_" + s.mac("unionid", merchant, person)
}

func (s *Service) mac(parts ...string) string {
	m, _ := s.macs.Get().(*pseudonymMAC)
	if m == nil {
		m = &pseudonymMAC{h: hmac.New(sha256.New, s.secret)}
	}
	defer s.macs.Put(m)
	m.h.Reset()
	b := m.buf[:0]
	for _, p := range parts {
		// Length-prefix each part so that no two part lists collide:
		// "<len>:<part>;".
		b = strconv.AppendInt(b, int64(len(p)), 10)
		b = append(b, ':')
		b = append(b, p...)
		b = append(b, ';')
	}
	m.h.Write(b)
	m.buf = b
	sum := m.h.Sum(m.sum[:0])
	return idEncoding.EncodeToString(sum[:20])
}

// pseudonymMAC is a keyed HMAC with its buffers, reused through
// Service.macs: pseudonyms are computed for every app event.
type pseudonymMAC struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

func getJSON(b *bbolt.Bucket, key []byte, v any) error {
	data := b.Get(key)
	if data == nil {
		return ErrNotFound
	}
	return json.Unmarshal(data, v)
}

func sortedScopes(s []Scope) []Scope {
	out := append([]Scope(nil), s...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
