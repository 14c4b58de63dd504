package connstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a secret key: AES-256.
const KeySize = 32

// Keyring holds the operator's secret keys: the current one seals, every
// one opens what it sealed. A key is known by its id (KeyID), which the
// store writes beside each sealed secret, so an older key can stay in the
// keyring until Rekey has re-sealed everything under the current one.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
	order   []string
}

// GenerateKey returns a new random key, base64-encoded as ParseKeyring
// and PASSERELLE_SECRET_KEY take it.
func GenerateKey() string {
	k := make([]byte, KeySize)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// KeyID names a key without revealing it: the first 12 hex digits of a
// SHA-256 of the key under a label of its own.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("passerelle secret key id\x00"), key...))
	return hex.EncodeToString(sum[:6])
}

// NewKeyring returns a keyring of keys (each KeySize bytes); the first
// is the current key. The same key twice is refused, as is none at all.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("a keyring needs at least one key; generate one with 'passerelle secret-key'")
	}
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, key := range keys {
		if len(key) != KeySize {
			return nil, fmt.Errorf("key %d is %d bytes; a secret key is %d random bytes, base64-encoded (generate one with 'passerelle secret-key')", i+1, len(key), KeySize)
		}
		id := KeyID(key)
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("key %d (id %s) is given twice; list each key once, the current one first", i+1, id)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.aeads[id] = aead
		k.order = append(k.order, id)
	}
	k.current = k.order[0]
	return k, nil
}

// ParseKeyring reads keys written in base64 (standard or URL alphabet,
// padded or not), separated by commas, spaces or new lines; a line
// starting with # is a comment. The first key is the current one. It is
// the format of PASSERELLE_SECRET_KEY and of the file secret_key_file
// names. Errors name the key by position, never its text.
func ParseKeyring(text string) (*Keyring, error) {
	var keys [][]byte
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' }) {
			key, err := decodeKey(f)
			if err != nil {
				return nil, fmt.Errorf("key %d is not base64 (%v); a secret key is %d random bytes, base64-encoded (generate one with 'passerelle secret-key')", len(keys)+1, errors.Unwrap(err), KeySize)
			}
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no key found; a secret key is 32 random bytes, base64-encoded (generate one with 'passerelle secret-key')")
	}
	return NewKeyring(keys...)
}

func decodeKey(s string) ([]byte, error) {
	var last error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		last = err
	}
	return nil, fmt.Errorf("decode: %w", last)
}

// Current is the id of the key that seals.
func (k *Keyring) Current() string { return k.current }

// IDs are the ids of the keys, the current one first.
func (k *Keyring) IDs() []string { return append([]string(nil), k.order...) }

// seal encrypts plain under the current key with ad bound to it; the box
// is the nonce followed by the ciphertext and tag.
func (k *Keyring) seal(plain, ad []byte) (keyID string, box []byte) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	rand.Read(nonce)
	return k.current, aead.Seal(nonce, nonce, plain, ad)
}

// open decrypts a box sealed under keyID with ad.
func (k *Keyring) open(keyID string, box, ad []byte) ([]byte, error) {
	aead, ok := k.aeads[keyID]
	if !ok {
		return nil, errUnknownKey
	}
	if len(box) < aead.NonceSize() {
		return nil, errBroken
	}
	plain, err := aead.Open(nil, box[:aead.NonceSize()], box[aead.NonceSize():], ad)
	if err != nil {
		return nil, errBroken
	}
	return plain, nil
}

var (
	errUnknownKey = errors.New("unknown key")
	errBroken     = errors.New("does not open")
)
