package whatsapp

import (
	"context"
	"log/slog"

	"github.com/passerelle/passerelle/gateway/connector"
)

// Recorder keeps the events a webhook delivered. Record returns once the
// event is durably recorded; duplicate says that an event with its Key was
// recorded before (and nothing was written). Store implements it.
type Recorder interface {
	Record(ctx context.Context, e Event) (duplicate bool, err error)
}

// DefaultMaxBody is the largest webhook body accepted when
// WebhookConfig.MaxBody is 0 (connector.DefaultMaxBody).
const DefaultMaxBody = connector.DefaultMaxBody

// SignatureHeader is the header Meta signs a notification in.
const SignatureHeader = connector.SignatureHeader

// WebhookConfig is what the webhook of one connection needs.
type WebhookConfig struct {
	AppSecret   string       // the Meta app's secret: the HMAC-SHA256 key of X-Hub-Signature-256
	VerifyToken string       // the token typed in the app dashboard, echoed in GET verification
	Recorder    Recorder     // where the events go
	MaxBody     int64        // largest body accepted, bytes (DefaultMaxBody if 0)
	Log         *slog.Logger // refusals and failures (nothing is logged if nil); secrets never are
}

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
	c := connector.WebhookConfig[Event]{
		Name:        "whatsapp",
		AppSecret:   cfg.AppSecret,
		VerifyToken: cfg.VerifyToken,
		Parse:       Parse,
		Key:         func(e Event) string { return e.Key },
		MaxBody:     cfg.MaxBody,
		Log:         cfg.Log,
	}
	if cfg.Recorder != nil {
		c.Record = func(ctx context.Context, e Event) error { _, err := cfg.Recorder.Record(ctx, e); return err }
	}
	return connector.NewWebhook(c)
}

// ValidSignature reports whether header (the value of X-Hub-Signature-256)
// is the HMAC-SHA256 of body under secret (connector.ValidSignature).
func ValidSignature(secret, body []byte, header string) bool {
	return connector.ValidSignature(secret, body, header)
}
