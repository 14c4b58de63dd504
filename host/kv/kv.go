package kv

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
)

// Default limits.
const (
	MaxKeyBytes    = 256       // bytes of one key
	MaxValueBytes  = 64 << 10  // bytes of one value
	MaxAppBytes    = 16 << 20  // key + value bytes stored by one app, all scopes
	MaxPersonBytes = 256 << 10 // key + value bytes stored in one person's scope of one app
	DefaultList    = 100       // keys kv.list returns when no limit is given
	MaxList        = 1000      // most keys one kv.list returns
)

// Errors, wrapped with details; test with errors.Is.
var (
	ErrNotFound = &host.Error{Status: host.StatusNotFound, Message: "kv: key not found"}
	ErrInvalid  = &host.Error{Status: host.StatusBadRequest, Message: "kv: invalid request"}
	ErrQuota    = &host.Error{Status: host.StatusQuota, Message: "kv: storage limit exceeded"}
)

var (
	bucketData  = []byte("kv.data")
	bucketUsage = []byte("kv.usage")
)

// Pseudonyms gives the per-app id of a person; the identity service
// implements it.
type Pseudonyms interface {
	OpenID(ref host.AppRef, person string) string
}

// Limits bound what apps store. Zero fields take the defaults above.
type Limits struct {
	KeyBytes    int
	ValueBytes  int
	AppBytes    int64
	PersonBytes int64
}

// Config configures a Store.
type Config struct {
	Pseudonyms Pseudonyms // required for the "person" scope
	Limits     Limits
	Logger     *slog.Logger
}

// Store is the key-value service. It is safe for concurrent use.
type Store struct {
	db     *bbolt.DB
	commit *bolt.Committer
	ids    Pseudonyms
	lim    Limits
	log    *slog.Logger
}

// Open prepares the store on db, creating its buckets.
func Open(db *bbolt.DB, cfg Config) (*Store, error) {
	s := &Store{db: db, commit: bolt.NewCommitter(db, bolt.Config{Refusals: []error{ErrQuota, ErrInvalid, ErrNotFound}}), ids: cfg.Pseudonyms, lim: cfg.Limits, log: cfg.Logger}
	if s.lim.KeyBytes <= 0 {
		s.lim.KeyBytes = MaxKeyBytes
	}
	if s.lim.ValueBytes <= 0 {
		s.lim.ValueBytes = MaxValueBytes
	}
	if s.lim.AppBytes <= 0 {
		s.lim.AppBytes = MaxAppBytes
	}
	if s.lim.PersonBytes <= 0 {
		s.lim.PersonBytes = MaxPersonBytes
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketData, bucketUsage} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kv: open store: %w", err)
	}
	return s, nil
}

// Namespace names where keys live: an app (merchant + app id) and, for a
// person's private scope, the person's OpenID in that app.
type Namespace struct {
	Merchant string
	App      string
	Person   string // OpenID; "" for the app-wide scope
}

// AppNamespace returns the app-wide namespace of ref's app.
func AppNamespace(ref host.AppRef) Namespace { return Namespace{Merchant: ref.Merchant, App: ref.App} }

// PersonNamespace returns the namespace private to person (a platform id)
// in ref's app. It needs Config.Pseudonyms.
func (s *Store) PersonNamespace(ref host.AppRef, person string) (Namespace, error) {
	if s.ids == nil {
		return Namespace{}, host.Wrapf(ErrInvalid, "person scope is not available on this host")
	}
	if person == "" {
		return Namespace{}, host.Wrapf(ErrInvalid, "this event has no person; use the app scope")
	}
	return Namespace{Merchant: ref.Merchant, App: ref.App, Person: s.ids.OpenID(ref, person)}, nil
}

func (ns Namespace) appKey() []byte { return []byte(ns.Merchant + "\x00" + ns.App) }

func (ns Namespace) personKey() []byte {
	return []byte(ns.Merchant + "\x00" + ns.App + "\x00" + ns.Person)
}

// prefix is what every stored key of the namespace starts with inside the
// app's bucket.
func (ns Namespace) prefix() []byte {
	if ns.Person == "" {
		return []byte("a\x00")
	}
	return []byte("p\x00" + ns.Person + "\x00")
}

func (ns Namespace) check() error {
	if ns.Merchant == "" || ns.App == "" || strings.ContainsRune(ns.Merchant+ns.App+ns.Person, 0) {
		return host.Wrapf(ErrInvalid, "namespace %q/%q", ns.Merchant, ns.App)
	}
	return nil
}

// Value is a stored value and the form it was written in.
type Value struct {
	Data   []byte
	Binary bool // written as value_b64
}

func (s *Store) checkKey(key string) error {
	if key == "" || !utf8.ValidString(key) {
		return host.Wrapf(ErrInvalid, "key must be 1..%d bytes of UTF-8", s.lim.KeyBytes)
	}
	if len(key) > s.lim.KeyBytes {
		return host.Wrapf(ErrQuota, "key of %d bytes is above the limit of %d bytes", len(key), s.lim.KeyBytes)
	}
	return nil
}

func getUsage(b *bbolt.Bucket, k []byte) int64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func putUsage(b *bbolt.Bucket, k []byte, n int64) error {
	if n == 0 {
		return b.Delete(k)
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(n))
	return b.Put(k, v[:])
}

// checkSet checks a write's key and value size.
func (s *Store) checkSet(key string, v Value) error {
	if err := s.checkKey(key); err != nil {
		return err
	}
	if len(v.Data) > s.lim.ValueBytes {
		return host.Wrapf(ErrQuota, "value of %d bytes is above the limit of %d bytes per value", len(v.Data), s.lim.ValueBytes)
	}
	return nil
}

// checkList checks a listing's bounds and returns its limit, the default
// for 0.
func (s *Store) checkList(prefix, cursor string, limit int) (int, error) {
	if limit <= 0 {
		limit = DefaultList
	}
	if limit > MaxList {
		return 0, host.Wrapf(ErrInvalid, "limit %d is above %d", limit, MaxList)
	}
	if len(prefix) > s.lim.KeyBytes || len(cursor) > s.lim.KeyBytes {
		return 0, host.Wrapf(ErrInvalid, "prefix and cursor are at most %d bytes", s.lim.KeyBytes)
	}
	return limit, nil
}

// Get returns the value of key in ns.
func (s *Store) Get(ctx context.Context, ns Namespace, key string) (Value, error) {
	if err := ns.check(); err != nil {
		return Value{}, err
	}
	if err := s.checkKey(key); err != nil {
		return Value{}, err
	}
	var v Value
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketData).Bucket(ns.appKey())
		var raw []byte
		if b != nil {
			raw = b.Get(append(ns.prefix(), key...))
		}
		if raw == nil {
			return host.Wrapf(ErrNotFound, "%q", key)
		}
		v = Value{Data: bytes.Clone(raw[1:]), Binary: raw[0] == 1}
		return nil
	})
	return v, err
}

// Set stores value under key in ns. If the write would take the app or the
// person over a limit it returns ErrQuota and writes nothing.
func (s *Store) Set(ctx context.Context, ns Namespace, key string, v Value) error {
	if err := ns.check(); err != nil {
		return err
	}
	if err := s.checkSet(key, v); err != nil {
		return err
	}
	return s.commit.Do(func(tx *bbolt.Tx) error {
		// Every check comes before the first write: a refused write leaves
		// the shared transaction untouched.
		k := append(ns.prefix(), key...)
		var old int64
		if b := tx.Bucket(bucketData).Bucket(ns.appKey()); b != nil {
			if raw := b.Get(k); raw != nil {
				old = int64(len(key) + len(raw) - 1)
			}
		}
		delta := int64(len(key)+len(v.Data)) - old
		usage := tx.Bucket(bucketUsage)
		app := getUsage(usage, ns.appKey()) + delta
		if delta > 0 && app > s.lim.AppBytes {
			return host.Wrapf(ErrQuota, "the app would store %d bytes, above its limit of %d; delete keys first", app, s.lim.AppBytes)
		}
		person := getUsage(usage, ns.personKey()) + delta
		if ns.Person != "" && delta > 0 && person > s.lim.PersonBytes {
			return host.Wrapf(ErrQuota, "this person's scope would hold %d bytes, above its limit of %d; delete keys first", person, s.lim.PersonBytes)
		}
		b, err := tx.Bucket(bucketData).CreateBucketIfNotExists(ns.appKey())
		if err != nil {
			return err
		}
		if ns.Person != "" {
			if err := putUsage(usage, ns.personKey(), person); err != nil {
				return err
			}
		}
		if err := putUsage(usage, ns.appKey(), app); err != nil {
			return err
		}
		flag := byte(0)
		if v.Binary {
			flag = 1
		}
		return b.Put(k, append([]byte{flag}, v.Data...))
	})
}

// Delete removes key from ns and reports whether it existed.
func (s *Store) Delete(ctx context.Context, ns Namespace, key string) (bool, error) {
	if err := ns.check(); err != nil {
		return false, err
	}
	if err := s.checkKey(key); err != nil {
		return false, err
	}
	var found bool
	err := s.commit.Do(func(tx *bbolt.Tx) error {
		found = false
		b := tx.Bucket(bucketData).Bucket(ns.appKey())
		if b == nil {
			return nil
		}
		k := append(ns.prefix(), key...)
		raw := b.Get(k)
		if raw == nil {
			return nil
		}
		found = true
		size := int64(len(key) + len(raw) - 1)
		usage := tx.Bucket(bucketUsage)
		if ns.Person != "" {
			if err := putUsage(usage, ns.personKey(), getUsage(usage, ns.personKey())-size); err != nil {
				return err
			}
		}
		if err := putUsage(usage, ns.appKey(), getUsage(usage, ns.appKey())-size); err != nil {
			return err
		}
		return b.Delete(k)
	})
	return found, err
}

// List returns up to limit keys of ns that start with prefix, in byte
// order, after cursor (the last key of the previous page; "" to start).
// next is the cursor of the following page, "" when there is none.
func (s *Store) List(ctx context.Context, ns Namespace, prefix, cursor string, limit int) (keys []string, next string, err error) {
	if err := ns.check(); err != nil {
		return nil, "", err
	}
	if limit, err = s.checkList(prefix, cursor, limit); err != nil {
		return nil, "", err
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketData).Bucket(ns.appKey())
		if b == nil {
			return nil
		}
		scope := ns.prefix()
		full := append(bytes.Clone(scope), prefix...)
		c := b.Cursor()
		var k []byte
		if cursor != "" && cursor >= prefix {
			after := append(bytes.Clone(scope), cursor...)
			k, _ = c.Seek(after)
			if bytes.Equal(k, after) {
				k, _ = c.Next()
			}
		} else {
			k, _ = c.Seek(full)
		}
		for ; k != nil && bytes.HasPrefix(k, full); k, _ = c.Next() {
			if len(keys) == limit {
				next = keys[len(keys)-1]
				return nil
			}
			keys = append(keys, string(k[len(scope):]))
		}
		return nil
	})
	return keys, next, err
}

// Usage returns the key + value bytes stored in ns: the whole app for the
// app namespace, the person's scope for a person namespace.
func (s *Store) Usage(ctx context.Context, ns Namespace) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		k := ns.appKey()
		if ns.Person != "" {
			k = ns.personKey()
		}
		n = getUsage(tx.Bucket(bucketUsage), k)
		return nil
	})
	return n, err
}

// Request is the request of every kv operation; each uses the fields it needs.
type Request struct {
	Scope    string  `json:"scope,omitempty"` // "app" (default) or "person"
	Key      string  `json:"key,omitempty"`
	Value    *string `json:"value,omitempty"`     // kv.set: text value
	ValueB64 *string `json:"value_b64,omitempty"` // kv.set: binary value, standard base64
	Prefix   string  `json:"prefix,omitempty"`    // kv.list
	Cursor   string  `json:"cursor,omitempty"`    // kv.list
	Limit    int     `json:"limit,omitempty"`     // kv.list
}

// GetResponse is the response of kv.get: one of Value or ValueB64.
type GetResponse struct {
	Value    *string `json:"value,omitempty"`
	ValueB64 *string `json:"value_b64,omitempty"`
}

// DeleteResponse is the response of kv.delete.
type DeleteResponse struct {
	Deleted bool `json:"deleted"`
}

// ListResponse is the response of kv.list.
type ListResponse struct {
	Keys   []string `json:"keys"`
	Cursor string   `json:"cursor,omitempty"` // pass it back for the next page; absent on the last page
}

// Funcs returns the host operations kv.get, kv.set, kv.delete and kv.list,
// all needing the "storage" permission.
func (s *Store) Funcs() []host.Func {
	return []host.Func{
		{Op: "kv.get", Permission: host.PermStorage, Handle: s.opGet},
		{Op: "kv.set", Permission: host.PermStorage, Handle: s.opSet},
		{Op: "kv.delete", Permission: host.PermStorage, Handle: s.opDelete},
		{Op: "kv.list", Permission: host.PermStorage, Handle: s.opList},
	}
}

func (s *Store) request(op string, c *host.Call, req []byte) (Request, Namespace, error) {
	var r Request
	if err := json.Unmarshal(req, &r); err != nil {
		return r, Namespace{}, host.Errorf(host.StatusBadRequest, "%s: request must be a JSON object such as {\"key\":\"cart\"}: %v", op, err)
	}
	switch r.Scope {
	case "", "app":
		return r, AppNamespace(c.Caller.App), nil
	case "person":
		ns, err := s.PersonNamespace(c.Caller.App, c.Caller.Person)
		if err != nil {
			return r, ns, err
		}
		return r, ns, nil
	default:
		return r, Namespace{}, host.Errorf(host.StatusBadRequest, "%s: scope %q; use \"app\" or \"person\"", op, r.Scope)
	}
}

func (s *Store) opGet(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	r, ns, err := s.request("kv.get", c, req)
	if err != nil {
		return nil, err
	}
	var v Value
	if c.Tx != nil {
		if err = s.checkKey(r.Key); err == nil {
			v, err = s.overlay(c.Tx).get(ns, r.Key)
		}
	} else {
		v, err = s.Get(ctx, ns, r.Key)
	}
	if err != nil {
		return nil, err
	}
	var resp GetResponse
	if v.Binary {
		enc := base64.StdEncoding.EncodeToString(v.Data)
		resp.ValueB64 = &enc
	} else {
		str := string(v.Data)
		resp.Value = &str
	}
	return json.Marshal(resp)
}

func (s *Store) opSet(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	r, ns, err := s.request("kv.set", c, req)
	if err != nil {
		return nil, err
	}
	var v Value
	switch {
	case r.Value != nil && r.ValueB64 == nil:
		v.Data = []byte(*r.Value)
	case r.ValueB64 != nil && r.Value == nil:
		v.Data, err = base64.StdEncoding.DecodeString(*r.ValueB64)
		if err != nil {
			return nil, host.Errorf(host.StatusBadRequest, "kv.set: value_b64 is not standard base64: %v", err)
		}
		v.Binary = true
	default:
		return nil, host.Errorf(host.StatusBadRequest, "kv.set: give exactly one of \"value\" (text) or \"value_b64\" (base64 bytes)")
	}
	if c.Tx != nil {
		err = s.checkSet(r.Key, v)
		if err == nil {
			err = s.overlay(c.Tx).set(ctx, ns, r.Key, v)
		}
	} else {
		err = s.Set(ctx, ns, r.Key, v)
	}
	if err != nil {
		return nil, err
	}
	return []byte("{}"), nil
}

func (s *Store) opDelete(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	r, ns, err := s.request("kv.delete", c, req)
	if err != nil {
		return nil, err
	}
	var found bool
	if c.Tx != nil {
		if err = s.checkKey(r.Key); err == nil {
			found, err = s.overlay(c.Tx).del(ns, r.Key)
		}
	} else {
		found, err = s.Delete(ctx, ns, r.Key)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(DeleteResponse{Deleted: found})
}

func (s *Store) opList(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	r, ns, err := s.request("kv.list", c, req)
	if err != nil {
		return nil, err
	}
	var keys []string
	var next string
	if c.Tx != nil {
		limit := r.Limit
		if limit, err = s.checkList(r.Prefix, r.Cursor, limit); err == nil {
			keys, next, err = s.overlay(c.Tx).list(ns, r.Prefix, r.Cursor, limit)
		}
	} else {
		keys, next, err = s.List(ctx, ns, r.Prefix, r.Cursor, r.Limit)
	}
	if err != nil {
		return nil, err
	}
	if keys == nil {
		keys = []string{}
	}
	return json.Marshal(ListResponse{Keys: keys, Cursor: next})
}
