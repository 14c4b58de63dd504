package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"

	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/gateway/promptstore"
)

// Conversation kinds.
const (
	KindDirect = "direct" // 1:1 between two people
	KindGroup  = "group"  // people
	KindApp    = "app"    // one person and one mini-app
)

// The stores' types, under the names the gateway's code uses.
type (
	convRecord   = convlog.Conv
	convSummary  = convlog.Summary
	sender       = convlog.Sender
	msgRecord    = convlog.Message
	promptRecord = promptstore.Prompt
)

var idEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

func hashID(prefix string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return prefix + strings.ToLower(idEnc.EncodeToString(h[:15]))
}

func randomID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// directID is the id of the 1:1 conversation between a and b.
func directID(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return hashID("d_", a, b)
}

// appConvID is the id of the conversation between person and app.
func appConvID(app, person string) string { return hashID("a_", app, person) }
