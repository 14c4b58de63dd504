package connstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/gateway/connector"
)

// Buckets: connections (id -> the record as JSON, its secrets sealed) and
// connections.accounts (network, 0, account -> id), which keeps a
// network's account to one connection.
var (
	bucketConns    = []byte("connections")
	bucketAccounts = []byte("connections.accounts")
)

// The names of the secrets, in records, errors and the API.
const (
	FieldAccessToken = "access_token"
	FieldAppSecret   = "app_secret"
	FieldVerifyToken = "verify_token"
)

// Errors of the store. Each is wrapped with what it concerns; none ever
// carries a secret.
var (
	// ErrNoKey: the store has no keyring, so it cannot seal or open.
	ErrNoKey = errors.New("no secret key is configured, so connection secrets cannot be sealed or opened: " +
		"generate one with 'passerelle secret-key' and give it to the server in the environment variable " +
		"PASSERELLE_SECRET_KEY or in a file named by secret_key_file in the config file")
	// ErrUnknownKey: a secret was sealed under a key the keyring lacks.
	ErrUnknownKey = errors.New("sealed under a key the keyring does not hold")
	// ErrBroken: a secret does not open under its key: the row was
	// altered, or its ciphertext copied from another row or field.
	ErrBroken = errors.New("does not open: the stored row was altered, or its ciphertext copied from another connection or field")
	// ErrAccountTaken: another merchant connected the account.
	ErrAccountTaken = errors.New("connected by another merchant")
	// ErrInvalid: a field of a connection or rotation is wrong.
	ErrInvalid = errors.New("invalid connection")
)

// Config wires a Store.
type Config struct {
	// Keys seals and opens the secrets. Without it the store lists and
	// deletes connections but refuses to connect or rotate, and to open
	// secrets, with ErrNoKey.
	Keys *Keyring
	// BaseURL is given to every Connection (the Graph API's base URL for
	// sends; empty means Meta's): a Meta simulator in demos and tests.
	BaseURL string
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// Store keeps connections on bbolt. It implements connector.Connections
// and is safe for concurrent use.
type Store struct {
	db  *bbolt.DB
	cfg Config
}

var _ connector.Connections = (*Store)(nil)

// Open returns the store kept in db, creating its buckets.
func Open(db *bbolt.DB, cfg Config) (*Store, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := bolt.CreateBuckets(db, bucketConns, bucketAccounts); err != nil {
		return nil, fmt.Errorf("connstore: create buckets: %w", err)
	}
	return &Store{db: db, cfg: cfg}, nil
}

// HasKey reports whether the store can seal secrets.
func (s *Store) HasKey() bool { return s.cfg.Keys != nil }

// Info is a connection as a merchant sees it: everything but the secrets,
// of which only whether each is set and when it was last set.
type Info struct {
	ID       string      `json:"id"`
	Merchant string      `json:"merchant"`
	Network  string      `json:"network"`
	Account  string      `json:"account"`
	App      string      `json:"app"`
	Created  time.Time   `json:"created"`
	Updated  time.Time   `json:"updated"`
	Secrets  SecretsInfo `json:"secrets"`
}

// SecretsInfo says which secrets a connection holds.
type SecretsInfo struct {
	AccessToken SecretState `json:"access_token"`
	AppSecret   SecretState `json:"app_secret"`
	VerifyToken SecretState `json:"verify_token"`
}

// SecretState is what is shown of one secret.
type SecretState struct {
	Set     bool      `json:"set"`
	Rotated time.Time `json:"rotated,omitzero"` // when it was last set
}

// record is a connection on disk.
type record struct {
	ID       string            `json:"id"`
	Merchant string            `json:"merchant"`
	Network  string            `json:"network"`
	Account  string            `json:"account"`
	App      string            `json:"app"`
	Created  time.Time         `json:"created"`
	Updated  time.Time         `json:"updated"`
	Secrets  map[string]sealed `json:"secrets"`
}

// sealed is one secret: AES-256-GCM under key Key, the box the nonce
// followed by the ciphertext, the record's identity and the field's name
// bound as additional data.
type sealed struct {
	Key string    `json:"key"`
	Box []byte    `json:"box"`
	Set time.Time `json:"set"`
}

func (r *record) info() Info {
	state := func(f string) SecretState {
		v, ok := r.Secrets[f]
		return SecretState{Set: ok, Rotated: v.Set}
	}
	return Info{ID: r.ID, Merchant: r.Merchant, Network: r.Network, Account: r.Account, App: r.App,
		Created: r.Created, Updated: r.Updated,
		Secrets: SecretsInfo{AccessToken: state(FieldAccessToken), AppSecret: state(FieldAppSecret), VerifyToken: state(FieldVerifyToken)}}
}

// ad is the additional data a secret is sealed with: what the row is and
// which field, so a ciphertext opens only where it was sealed.
func (r *record) ad(field, keyID string) []byte {
	return bolt.Key("passerelle.connection.v1", r.ID, r.Merchant, r.Network, r.Account, field, keyID)
}

func (s *Store) seal(r *record, field, plain string, set time.Time) {
	id := s.cfg.Keys.current
	_, box := s.cfg.Keys.seal([]byte(plain), r.ad(field, id))
	r.Secrets[field] = sealed{Key: id, Box: box, Set: set}
}

func (s *Store) open(r *record, field string) (string, error) {
	v, ok := r.Secrets[field]
	if !ok {
		return "", nil
	}
	if s.cfg.Keys == nil {
		return "", ErrNoKey
	}
	plain, err := s.cfg.Keys.open(v.Key, v.Box, r.ad(field, v.Key))
	switch {
	case errors.Is(err, errUnknownKey):
		return "", fmt.Errorf("connection %s: its %s is %w (key id %s, the keyring holds %s): put that key back in the keyring after the current one (PASSERELLE_SECRET_KEY or secret_key_file), run 'passerelle connections rekey', then remove it",
			r.ID, field, ErrUnknownKey, v.Key, strings.Join(s.cfg.Keys.order, ", "))
	case err != nil:
		return "", fmt.Errorf("connection %s: its %s %w; connect the account again to replace it", r.ID, field, ErrBroken)
	}
	return string(plain), nil
}

func (s *Store) connection(r *record) (connector.Connection, error) {
	c := connector.Connection{ID: r.ID, Merchant: r.Merchant, Network: r.Network, Account: r.Account, App: r.App, BaseURL: s.cfg.BaseURL}
	var err error
	if c.Secrets.AccessToken, err = s.open(r, FieldAccessToken); err != nil {
		return connector.Connection{}, err
	}
	if c.Secrets.AppSecret, err = s.open(r, FieldAppSecret); err != nil {
		return connector.Connection{}, err
	}
	if c.Secrets.VerifyToken, err = s.open(r, FieldVerifyToken); err != nil {
		return connector.Connection{}, err
	}
	return c, nil
}

func newID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "c" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func accountKey(network, account string) []byte { return bolt.Key(network, account) }

func get(tx *bbolt.Tx, id string) (*record, error) {
	v := tx.Bucket(bucketConns).Get([]byte(id))
	if v == nil || id == "" {
		return nil, fmt.Errorf("connection %q: %w", id, connector.ErrNoConnection)
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("connection %q: stored record: %w", id, err)
	}
	if r.Secrets == nil {
		r.Secrets = map[string]sealed{}
	}
	return &r, nil
}

func put(tx *bbolt.Tx, r *record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketConns).Put([]byte(r.ID), v)
}

// Connect stores c (its ID is ignored) with its secrets sealed. If the
// merchant already connected c's network and account, that connection is
// replaced and keeps its id (and so its webhook URL); created is then
// false. Another merchant's account is refused with ErrAccountTaken, a
// wrong field with ErrInvalid, and without a keyring ErrNoKey.
func (s *Store) Connect(_ context.Context, c connector.Connection) (info Info, created bool, err error) {
	if err := Validate(c); err != nil {
		return Info{}, false, err
	}
	if s.cfg.Keys == nil {
		return Info{}, false, ErrNoKey
	}
	now := s.cfg.Now().UTC()
	err = s.db.Update(func(tx *bbolt.Tx) error {
		accounts := tx.Bucket(bucketAccounts)
		ak := accountKey(c.Network, c.Account)
		r := &record{ID: newID(), Merchant: c.Merchant, Network: c.Network, Account: c.Account, Created: now}
		created = true
		if id := accounts.Get(ak); id != nil {
			old, err := get(tx, string(id))
			if err != nil {
				return err
			}
			if old.Merchant != c.Merchant {
				return fmt.Errorf("the %s account %s is %w; a merchant connects its own accounts only (if it is yours, ask the operator)",
					c.Network, c.Account, ErrAccountTaken)
			}
			r, created = old, false
		}
		r.App, r.Updated, r.Secrets = c.App, now, map[string]sealed{}
		for f, v := range map[string]string{FieldAccessToken: c.Secrets.AccessToken, FieldAppSecret: c.Secrets.AppSecret, FieldVerifyToken: c.Secrets.VerifyToken} {
			if v != "" {
				s.seal(r, f, v, now)
			}
		}
		if err := put(tx, r); err != nil {
			return err
		}
		info = r.info()
		return accounts.Put(ak, []byte(r.ID))
	})
	if err != nil {
		return Info{}, false, err
	}
	return info, created, nil
}

// Rotate replaces the secrets given (non-empty) of connection id and
// leaves the others; at least one must be given. The next Get returns
// them, so a webhook checks the new app secret at once.
func (s *Store) Rotate(_ context.Context, id string, sec connector.Secrets) (Info, error) {
	given := map[string]string{}
	for f, v := range map[string]string{FieldAccessToken: sec.AccessToken, FieldAppSecret: sec.AppSecret, FieldVerifyToken: sec.VerifyToken} {
		if v != "" {
			if err := validSecret(f, v); err != nil {
				return Info{}, err
			}
			given[f] = v
		}
	}
	if len(given) == 0 {
		return Info{}, fmt.Errorf("%w: name at least one secret to rotate (access_token, app_secret, verify_token)", ErrInvalid)
	}
	if s.cfg.Keys == nil {
		return Info{}, ErrNoKey
	}
	now := s.cfg.Now().UTC()
	var info Info
	err := s.db.Update(func(tx *bbolt.Tx) error {
		r, err := get(tx, id)
		if err != nil {
			return err
		}
		for f, v := range given {
			s.seal(r, f, v, now)
		}
		r.Updated = now
		info = r.info()
		return put(tx, r)
	})
	return info, err
}

// Delete removes connection id; its account may then be connected again,
// by any merchant.
func (s *Store) Delete(_ context.Context, id string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		r, err := get(tx, id)
		if err != nil {
			return err
		}
		accounts := tx.Bucket(bucketAccounts)
		ak := accountKey(r.Network, r.Account)
		if v := accounts.Get(ak); bytes.Equal(v, []byte(r.ID)) {
			if err := accounts.Delete(ak); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketConns).Delete([]byte(id))
	})
}

// Info returns connection id without its secrets.
func (s *Store) Info(_ context.Context, id string) (Info, error) {
	var info Info
	err := s.db.View(func(tx *bbolt.Tx) error {
		r, err := get(tx, id)
		if err == nil {
			info = r.info()
		}
		return err
	})
	return info, err
}

// Infos returns a merchant's connections ("" for every merchant's) without
// their secrets, by id.
func (s *Store) Infos(_ context.Context, merchant string) ([]Info, error) {
	var out []Info
	err := s.each(merchant, func(r *record) error {
		out = append(out, r.info())
		return nil
	})
	return out, err
}

func (s *Store) each(merchant string, f func(r *record) error) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketConns).ForEach(func(k, _ []byte) error {
			r, err := get(tx, string(k))
			if err != nil {
				return err
			}
			if merchant != "" && r.Merchant != merchant {
				return nil
			}
			return f(r)
		})
	})
}

// Get returns connection id with its secrets opened (connector.Connections).
func (s *Store) Get(_ context.Context, id string) (connector.Connection, error) {
	var r *record
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		r, err = get(tx, id)
		return err
	})
	if err != nil {
		return connector.Connection{}, err
	}
	return s.connection(r)
}

// ByAccount returns the connection of a network's account with its
// secrets opened (connector.Connections).
func (s *Store) ByAccount(_ context.Context, network, account string) (connector.Connection, error) {
	var r *record
	err := s.db.View(func(tx *bbolt.Tx) error {
		id := tx.Bucket(bucketAccounts).Get(accountKey(network, account))
		if id == nil {
			return fmt.Errorf("%s account %q: %w", network, account, connector.ErrNoConnection)
		}
		var err error
		r, err = get(tx, string(id))
		return err
	})
	if err != nil {
		return connector.Connection{}, err
	}
	return s.connection(r)
}

// List returns a merchant's connections ("" for every merchant's) with
// their secrets opened, by id (connector.Connections).
func (s *Store) List(_ context.Context, merchant string) ([]connector.Connection, error) {
	var rs []*record
	if err := s.each(merchant, func(r *record) error { rs = append(rs, r); return nil }); err != nil {
		return nil, err
	}
	out := make([]connector.Connection, 0, len(rs))
	for _, r := range rs {
		c, err := s.connection(r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// KeyUse counts the stored secrets by the id of the key that sealed them.
func (s *Store) KeyUse(context.Context) (map[string]int, error) {
	use := map[string]int{}
	err := s.each("", func(r *record) error {
		for _, v := range r.Secrets {
			use[v.Key]++
		}
		return nil
	})
	return use, err
}

// Rekey seals again under the current key every secret sealed under an
// older one, in one transaction: if one does not open, nothing changes.
// It returns how many secrets it sealed again. Until it has run, the older
// keys must stay in the keyring; after it, they may go.
func (s *Store) Rekey(context.Context) (int, error) {
	if s.cfg.Keys == nil {
		return 0, ErrNoKey
	}
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		n = 0
		var rs []*record
		err := tx.Bucket(bucketConns).ForEach(func(k, _ []byte) error {
			r, err := get(tx, string(k))
			rs = append(rs, r)
			return err
		})
		if err != nil {
			return err
		}
		for _, r := range rs {
			changed := false
			for f, v := range r.Secrets {
				if v.Key == s.cfg.Keys.current {
					continue
				}
				plain, err := s.open(r, f)
				if err != nil {
					return err
				}
				s.seal(r, f, plain, v.Set)
				changed = true
				n++
			}
			if changed {
				if err := put(tx, r); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return n, err
}
