package host

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// ABIVersion is the only guest ABI this host speaks.
const ABIVersion = "passerelle_v1"

// MaxMemoryPages is the largest linear memory a 32-bit wasm module can have:
// 65536 pages of 64 KiB (4 GiB).
const MaxMemoryPages = 65536

// ErrInvalidManifest is wrapped by every error of ParseManifest and Validate.
var ErrInvalidManifest = &Error{Status: StatusBadRequest, Code: "manifest_invalid", Message: "invalid manifest"}

// ParseManifest decodes a manifest from JSON and validates it. Unknown
// fields are rejected so that a misspelt field is reported rather than
// silently ignored.
func ParseManifest(data []byte) (*Manifest, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not UTF-8 text; save manifest.json as UTF-8", ErrInvalidManifest)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v; fix the JSON of manifest.json", ErrInvalidManifest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: text after the JSON object; a manifest is one JSON object", ErrInvalidManifest)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate reports every problem of m, joined into one error that wraps
// ErrInvalidManifest. Each problem says which field is wrong and how to fix it.
func (m *Manifest) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidManifest}, args...)...))
	}
	if m.ABI != ABIVersion {
		bad("abi is %q; set \"abi\": %q", m.ABI, ABIVersion)
	}
	if !validAppID(m.ID) {
		bad("id %q is not an app id; use 2 to 40 lowercase letters, digits and '-', not starting or ending with '-'", m.ID)
	}
	if m.Name == "" || len(m.Name) > 80 || !utf8.ValidString(m.Name) {
		bad("name must be 1 to 80 bytes of text; set \"name\" to the display name")
	}
	if !validVersion(m.Version) {
		bad("version %q is not valid; use 1 to 64 characters from letters, digits, '.', '-', '+', '_' (e.g. \"1.0.0\")", m.Version)
	}
	if len(m.Description) > 1000 {
		bad("description is %d bytes; keep it under 1000", len(m.Description))
	}
	seen := make(map[Permission]bool, len(m.Permissions))
	for _, p := range m.Permissions {
		if !knownPermission(p) {
			bad("unknown permission %q; use one of %v", p, knownPermissions)
			continue
		}
		if seen[p] {
			bad("permission %q is listed twice; list it once", p)
		}
		seen[p] = true
	}
	asked := make(map[string]bool, len(m.Events))
	for _, e := range m.Events {
		if !IsOptIn(e) {
			bad("unknown event %q in events; list only events an app must ask for: %v (the others reach every app)", e, OptInEvents())
			continue
		}
		if asked[e] {
			bad("event %q is listed twice in events; list it once", e)
		}
		asked[e] = true
	}
	l := m.Limits
	if l.MemoryPages > MaxMemoryPages {
		bad("limits.memory_pages is %d; at most %d pages (4 GiB) exist", l.MemoryPages, MaxMemoryPages)
	}
	if l.CallBytes != 0 && l.EventBytes != 0 && l.CallBytes > l.EventBytes {
		bad("limits.call_bytes (%d) is larger than limits.event_bytes (%d); one call cannot exceed the whole event", l.CallBytes, l.EventBytes)
	}
	return errors.Join(errs...)
}

func knownPermission(p Permission) bool {
	for _, k := range knownPermissions {
		if p == k {
			return true
		}
	}
	return false
}

func validAppID(id string) bool {
	if len(id) < 2 || len(id) > 40 || id[0] == '-' || id[len(id)-1] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validVersion(v string) bool {
	if len(v) < 1 || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == '_') {
			return false
		}
	}
	return true
}
