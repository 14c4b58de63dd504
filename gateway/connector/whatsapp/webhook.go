package whatsapp

import (
	"github.com/passerelle/passerelle/gateway/connector"
)

// Recorder keeps the events a webhook delivered (connector.Recorder);
// Store implements it.
type Recorder = connector.Recorder[Event]

// DefaultMaxBody is the largest webhook body accepted when
// WebhookConfig.MaxBody is 0 (connector.DefaultMaxBody).
const DefaultMaxBody = connector.DefaultMaxBody

// SignatureHeader is the header Meta signs a notification in.
const SignatureHeader = connector.SignatureHeader

// WebhookConfig is what the webhook of one connection needs: AppSecret,
// VerifyToken, Recorder, and optionally MaxBody and Log (Name, Parse and
// Key are this package's).
type WebhookConfig = connector.WebhookConfig[Event]

// Errors of NewWebhook.
var (
	ErrNoSecret   = connector.ErrNoSecret
	ErrNoToken    = connector.ErrNoToken
	ErrNoRecorder = connector.ErrNoRecorder
)

// Webhook is the http.Handler Meta calls: GET to verify the callback URL,
// POST to deliver notifications (connector.Webhook with this package's
// parser).
type Webhook = connector.Webhook[Event]

// NewWebhook returns the webhook handler of one connection.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	cfg.Name, cfg.Parse, cfg.Key = "whatsapp", Parse, func(e Event) string { return e.Key }
	return connector.NewWebhook(cfg)
}

// ValidSignature reports whether header (the value of X-Hub-Signature-256)
// is the HMAC-SHA256 of body under secret (connector.ValidSignature).
func ValidSignature(secret, body []byte, header string) bool {
	return connector.ValidSignature(secret, body, header)
}
