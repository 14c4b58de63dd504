package passerelle

import "encoding/base64"

// KV is the app's key-value storage in one scope (operations kv.*,
// permission "storage"). Get one from Context.Store (shared by everyone
// using the app) or Context.PersonStore (private to the person of the
// event). Like the Context, it is valid only while the handler runs.
type KV struct {
	c     *Context
	scope string
}

// Store returns the app-wide storage.
func (c *Context) Store() KV { return KV{c: c, scope: "app"} }

// PersonStore returns the storage private to the person of the event, kept
// under their per-app id. It fails with ErrBadRequest on events without a
// person.
func (c *Context) PersonStore() KV { return KV{c: c, scope: "person"} }

type kvRequest struct {
	Scope    string  `json:"scope"`
	Key      string  `json:"key,omitempty"`
	Value    *string `json:"value,omitempty"`
	ValueB64 *string `json:"value_b64,omitempty"`
	Prefix   string  `json:"prefix,omitempty"`
	Cursor   string  `json:"cursor,omitempty"`
	Limit    int     `json:"limit,omitempty"`
}

type kvValue struct {
	Value    *string `json:"value"`
	ValueB64 *string `json:"value_b64"`
}

func (s KV) get(key string) ([]byte, string, bool, error) {
	var r kvValue
	if err := s.c.call("kv.get", importKVGet, &kvRequest{Scope: s.scope, Key: key}, &r); err != nil {
		return nil, "", false, err
	}
	if r.ValueB64 != nil {
		b, err := base64.StdEncoding.DecodeString(*r.ValueB64)
		return b, "", true, err
	}
	if r.Value != nil {
		return nil, *r.Value, false, nil
	}
	return nil, "", false, nil
}

// Get returns the value of key. A missing key returns an error matching
// ErrNotFound.
func (s KV) Get(key string) (string, error) {
	b, str, bin, err := s.get(key)
	if bin {
		str = string(b)
	}
	return str, err
}

// GetBytes returns the value of key as bytes. A missing key returns an
// error matching ErrNotFound.
func (s KV) GetBytes(key string) ([]byte, error) {
	b, str, bin, err := s.get(key)
	if err != nil || bin {
		return b, err
	}
	return []byte(str), nil
}

// Set stores a text value under key. Above a size limit or the app's or
// person's storage quota it fails with ErrQuota and stores nothing.
func (s KV) Set(key, value string) error {
	return s.c.call("kv.set", importKVSet, &kvRequest{Scope: s.scope, Key: key, Value: &value}, nil)
}

// SetBytes stores a binary value under key (sent as base64).
func (s KV) SetBytes(key string, value []byte) error {
	enc := base64.StdEncoding.EncodeToString(value)
	return s.c.call("kv.set", importKVSet, &kvRequest{Scope: s.scope, Key: key, ValueB64: &enc}, nil)
}

// Delete removes key and reports whether it existed.
func (s KV) Delete(key string) (bool, error) {
	var r struct {
		Deleted bool `json:"deleted"`
	}
	err := s.c.call("kv.delete", importKVDelete, &kvRequest{Scope: s.scope, Key: key}, &r)
	return r.Deleted, err
}

// List returns up to limit keys starting with prefix, in byte order, after
// cursor ("" for the first page; 0 limit means the host's default of 100).
// next is the cursor of the following page, "" after the last one.
func (s KV) List(prefix, cursor string, limit int) (keys []string, next string, err error) {
	var r struct {
		Keys   []string `json:"keys"`
		Cursor string   `json:"cursor"`
	}
	err = s.c.call("kv.list", importKVList, &kvRequest{Scope: s.scope, Prefix: prefix, Cursor: cursor, Limit: limit}, &r)
	return r.Keys, r.Cursor, err
}
