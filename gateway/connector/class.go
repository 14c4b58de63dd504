package connector

// Class is what a Send API error means for the sender, whatever the
// network; each network package maps its documented codes to classes.
type Class string

// Classes of errors.
const (
	ClassThrottled     Class = "throttled"     // too many messages (per number or Page, per person, per app): retry after a backoff
	ClassTransient     Class = "transient"     // Meta's service failed: retry after a backoff
	ClassWindowClosed  Class = "window_closed" // the 24-hour window is closed: a template (WhatsApp) or a tag (Messenger) only
	ClassUndeliverable Class = "undeliverable" // this person cannot receive it now; do not retry
	ClassConsent       Class = "consent"       // the person stopped marketing messages from this business
	ClassAuth          Class = "auth"          // the token or its permissions; fix the connection
	ClassPolicy        Class = "policy"        // Meta limits this business; do not retry now
	ClassTemplate      Class = "template"      // the template is missing, paused or does not fit its parameters
	ClassInvalid       Class = "invalid"       // the request itself is wrong
	ClassOptInExpired  Class = "optin_expired" // the person's opt-in token (Messenger notification messages) ran out: ask them again
	ClassUnknown       Class = "unknown"       // no answer, or a code the network package does not know
)

// Retry reports whether a request refused with class c may be sent again
// after a backoff: Meta refused it for throughput or a passing failure,
// and took nothing.
func (c Class) Retry() bool { return c == ClassThrottled || c == ClassTransient }
