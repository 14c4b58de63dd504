package sdktest

import (
	"encoding/base64"
	"encoding/json"
	"sort"
	"strings"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// The built-in storage: kv.get, kv.set, kv.delete and kv.list over an
// in-memory map, with the request and response shapes and the key and value
// limits of the platform (sdk/ABI_OPS.md). The "person" scope belongs to
// Host.User.

const (
	maxKeyBytes   = 256
	maxValueBytes = 64 << 10
)

type kvEntry struct {
	value  string
	binary bool // written as value_b64
}

type kvRequest struct {
	Scope    string  `json:"scope"`
	Key      string  `json:"key"`
	Value    *string `json:"value"`
	ValueB64 *string `json:"value_b64"`
	Prefix   string  `json:"prefix"`
	Cursor   string  `json:"cursor"`
	Limit    int     `json:"limit"`
}

func badRequest(msg string) error {
	return &passerelle.Error{Status: passerelle.StatusBadRequest, Message: msg}
}

// kvKey returns the map key of (scope, key) or an error for a bad request.
func (h *Host) kvKey(req []byte, needKey bool) (kvRequest, string, error) {
	var r kvRequest
	if err := json.Unmarshal(req, &r); err != nil {
		return r, "", badRequest("the request is not a storage request: " + err.Error())
	}
	var space string
	switch r.Scope {
	case "", "app":
		space = "app\x00"
	case "person":
		space = "person\x00" + h.User + "\x00"
	default:
		return r, "", badRequest(`scope must be "app" or "person"`)
	}
	if needKey && r.Key == "" {
		return r, "", badRequest("key is empty")
	}
	if len(r.Key) > maxKeyBytes {
		return r, "", &passerelle.Error{Status: passerelle.StatusQuota, Message: "the key is longer than 256 bytes"}
	}
	return r, space, nil
}

func (h *Host) kvGet(req []byte) (any, error) {
	r, space, err := h.kvKey(req, true)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	e, ok := h.kv[space+r.Key]
	h.mu.Unlock()
	if !ok {
		return nil, &passerelle.Error{Status: passerelle.StatusNotFound, Message: "no key " + r.Key}
	}
	if e.binary {
		return map[string]string{"value_b64": base64.StdEncoding.EncodeToString([]byte(e.value))}, nil
	}
	return map[string]string{"value": e.value}, nil
}

func (h *Host) kvSet(req []byte) (any, error) {
	r, space, err := h.kvKey(req, true)
	if err != nil {
		return nil, err
	}
	var e kvEntry
	switch {
	case (r.Value == nil) == (r.ValueB64 == nil):
		return nil, badRequest("give exactly one of value and value_b64")
	case r.Value != nil:
		e.value = *r.Value
	default:
		b, err := base64.StdEncoding.DecodeString(*r.ValueB64)
		if err != nil {
			return nil, badRequest("value_b64 is not standard base64")
		}
		e.value, e.binary = string(b), true
	}
	if len(e.value) > maxValueBytes {
		return nil, &passerelle.Error{Status: passerelle.StatusQuota, Message: "the value is larger than 64 KiB"}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.kv == nil {
		h.kv = map[string]kvEntry{}
	}
	h.kv[space+r.Key] = e
	return struct{}{}, nil
}

func (h *Host) kvDelete(req []byte) (any, error) {
	r, space, err := h.kvKey(req, true)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.kv[space+r.Key]
	delete(h.kv, space+r.Key)
	return map[string]bool{"deleted": ok}, nil
}

func (h *Host) kvList(req []byte) (any, error) {
	r, space, err := h.kvKey(req, false)
	if err != nil {
		return nil, err
	}
	limit := r.Limit
	switch {
	case limit > 1000:
		return nil, badRequest("limit may not exceed 1000")
	case limit <= 0:
		limit = 100
	}
	h.mu.Lock()
	var keys []string
	for k := range h.kv {
		if key, ok := strings.CutPrefix(k, space); ok && strings.HasPrefix(key, r.Prefix) && key > r.Cursor {
			keys = append(keys, key)
		}
	}
	h.mu.Unlock()
	sort.Strings(keys)
	resp := struct {
		Keys   []string `json:"keys"`
		Cursor string   `json:"cursor,omitempty"`
	}{Keys: keys}
	if len(keys) > limit {
		resp.Keys = keys[:limit]
		resp.Cursor = keys[limit-1]
	}
	if resp.Keys == nil {
		resp.Keys = []string{}
	}
	return resp, nil
}
