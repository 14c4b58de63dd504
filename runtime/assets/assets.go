package assets

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // registers the JPEG decoder for image.DecodeConfig
	_ "image/png"  // registers the PNG decoder for image.DecodeConfig
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Limits on what an app may ship (documented in sdk/ABI.md "Assets").
const (
	MaxFileBytes  = 512 << 10 // one file
	MaxTotalBytes = 4 << 20   // all files of one version
	MaxFiles      = 64
	MaxNameLen    = 64
	// Scheme prefixes an asset name where an app gives an image URL
	// ("asset:shirt.png").
	Scheme = "asset:"
	// PathPrefix is the URL path under which the gateway serves assets.
	PathPrefix = "/assets/"
)

// ErrInvalid wraps every refusal of an asset or of the section.
var ErrInvalid = errors.New("invalid asset")

// Asset is one validated file.
type Asset struct {
	Name string `json:"name"`
	Data []byte `json:"data"` // base64 in the section's JSON
	// Type and SHA256 are computed by Validate, never read from the section.
	Type   string `json:"-"`
	SHA256 string `json:"-"` // lower-case hex of SHA-256(Data)
}

// Ext is the extension of the served URL, from the type.
func (a Asset) Ext() string {
	switch a.Type {
	case "image/png":
		return "png"
	case "image/jpeg":
		return "jpg"
	}
	return "webp"
}

// Path is the URL path the gateway serves the asset at:
// /assets/<sha256>.<ext>.
func (a Asset) Path() string { return PathPrefix + a.SHA256 + "." + a.Ext() }

func invalid(name, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalid, name, fmt.Sprintf(format, args...))
}

// ValidName reports why name is not a valid asset name, or nil.
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return invalid(name, "a name has 1 to %d characters", MaxNameLen)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return invalid(name, "the name may hold only a-z, 0-9, '.', '_' and '-'; rename the file")
		}
	}
	if name[0] == '.' {
		return invalid(name, "the name may not start with '.'")
	}
	return nil
}

// Sniff returns the content type of an image by its bytes: image/png,
// image/jpeg or image/webp, checking that PNG and JPEG headers decode.
func Sniff(name string, data []byte) (string, error) {
	var typ string
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		typ = "image/png"
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		typ = "image/jpeg"
	case len(data) >= 16 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP" && strings.HasPrefix(string(data[12:16]), "VP8"):
		return "image/webp", nil
	default:
		return "", invalid(name, "not a PNG, JPEG or WebP image (checked by content, not by extension)")
	}
	if _, _, err := image.DecodeConfig(bytes.NewReader(data)); err != nil {
		return "", invalid(name, "%s header does not decode: %v", typ, err)
	}
	return typ, nil
}

// Validate checks every file (name, size, type) and the set (count, total
// size, unique names), fills Type and SHA256 and sorts by name.
func Validate(files []Asset) ([]Asset, error) {
	if len(files) > MaxFiles {
		return nil, fmt.Errorf("%w: %d files, at most %d per app version", ErrInvalid, len(files), MaxFiles)
	}
	out := make([]Asset, 0, len(files))
	seen := map[string]bool{}
	total := 0
	for _, f := range files {
		if err := ValidName(f.Name); err != nil {
			return nil, err
		}
		if seen[f.Name] {
			return nil, invalid(f.Name, "appears twice")
		}
		seen[f.Name] = true
		if len(f.Data) > MaxFileBytes {
			return nil, invalid(f.Name, "%d bytes, at most %d (%d KiB) per file; shrink the image", len(f.Data), MaxFileBytes, MaxFileBytes>>10)
		}
		total += len(f.Data)
		if total > MaxTotalBytes {
			return nil, fmt.Errorf("%w: the assets hold more than %d bytes (%d MiB) in all; ship fewer or smaller images", ErrInvalid, MaxTotalBytes, MaxTotalBytes>>20)
		}
		typ, err := Sniff(f.Name, f.Data)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(f.Data)
		out = append(out, Asset{Name: f.Name, Data: f.Data, Type: typ, SHA256: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Pack validates files and encodes them as the section's content: a JSON
// array of {"name","data"} objects, data in standard base64.
func Pack(files []Asset) ([]byte, error) {
	v, err := Validate(files)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// Unpack decodes and validates a section's content.
func Unpack(raw []byte) ([]Asset, error) {
	if len(raw) > MaxTotalBytes*2 {
		return nil, fmt.Errorf("%w: the passerelle.assets section holds %d bytes, more than %d files in all can take", ErrInvalid, len(raw), MaxTotalBytes)
	}
	var files []Asset
	if err := json.Unmarshal(raw, &files); err != nil {
		return nil, fmt.Errorf("%w: the passerelle.assets section is not a JSON array of {\"name\",\"data\"}: %v; rebuild with `passerelle app build`", ErrInvalid, err)
	}
	return Validate(files)
}

// ReadDir reads the files of dir (an app's assets/ folder; no
// subdirectories) and validates them. A missing dir is no assets.
func ReadDir(dir string) ([]Asset, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var files []Asset
	for _, e := range ents {
		if e.IsDir() {
			return nil, invalid(e.Name(), "is a folder; assets/ holds only image files")
		}
		if len(files) == MaxFiles {
			return nil, fmt.Errorf("%w: %s holds more than %d files", ErrInvalid, dir, MaxFiles)
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		if info.Size() > MaxFileBytes {
			return nil, invalid(e.Name(), "%d bytes, at most %d (%d KiB) per file; shrink the image", info.Size(), MaxFileBytes, MaxFileBytes>>10)
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files = append(files, Asset{Name: e.Name(), Data: data})
	}
	return Validate(files)
}

// Resolve turns "asset:<name>" into the asset's URL path; any other
// string is returned unchanged with ok false. An unknown name is an error.
func Resolve(files []Asset, ref string) (path string, ok bool, err error) {
	name, found := strings.CutPrefix(ref, Scheme)
	if !found {
		return ref, false, nil
	}
	for _, f := range files {
		if f.Name == name {
			return f.Path(), true, nil
		}
	}
	return "", true, fmt.Errorf("%w %q: this app version ships no such asset; put the file in the app's assets/ folder and rebuild", ErrInvalid, name)
}
