package whatsapp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// Recorder keeps the events a webhook delivered. Record returns once the
// event is durably recorded; duplicate says that an event with its Key was
// recorded before (and nothing was written). Store implements it.
type Recorder interface {
	Record(ctx context.Context, e Event) (duplicate bool, err error)
}

// DefaultMaxBody is the largest webhook body accepted when
// WebhookConfig.MaxBody is 0. Meta documents notification payloads of up
// to 3 MB; a little room is left above that.
const DefaultMaxBody = 4 << 20

// SignatureHeader is the header Meta signs a notification in.
const SignatureHeader = "X-Hub-Signature-256"

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
	ErrNoSecret   = errors.New("whatsapp: the app secret is empty; copy it from the Meta app dashboard (App settings, Basic)")
	ErrNoToken    = errors.New("whatsapp: the verify token is empty; choose one and type it in the webhook configuration of the Meta app dashboard")
	ErrNoRecorder = errors.New("whatsapp: no recorder: webhook events must be recorded before they are acknowledged")
)

// Webhook is the http.Handler Meta calls: GET to verify the callback URL,
// POST to deliver notifications.
type Webhook struct {
	secret  []byte
	token   []byte
	rec     Recorder
	maxBody int64
	log     *slog.Logger
}

// NewWebhook returns the webhook handler of one connection.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	switch {
	case cfg.AppSecret == "":
		return nil, ErrNoSecret
	case cfg.VerifyToken == "":
		return nil, ErrNoToken
	case cfg.Recorder == nil:
		return nil, ErrNoRecorder
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhook{
		secret:  []byte(cfg.AppSecret),
		token:   []byte(cfg.VerifyToken),
		rec:     cfg.Recorder,
		maxBody: cfg.MaxBody,
		log:     log,
	}, nil
}

// ServeHTTP answers Meta.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		h.verify(w, r)
	case http.MethodPost:
		h.deliver(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		refuse(w, http.StatusMethodNotAllowed, "use GET to verify the callback URL and POST to deliver notifications")
	}
}

// verify answers the verification request: hub.mode=subscribe and the
// verify token of this connection get hub.challenge back.
func (h *Webhook) verify(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("hub.mode") != "subscribe" {
		refuse(w, http.StatusForbidden, "hub.mode must be subscribe")
		return
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("hub.verify_token")), h.token) != 1 {
		h.log.Warn("whatsapp webhook: verification with a wrong verify token")
		refuse(w, http.StatusForbidden, "hub.verify_token does not match this connection's verify token")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	io.WriteString(w, q.Get("hub.challenge"))
}

// deliver checks the signature over the raw body, parses it and records
// every event; it answers 200 only once all are recorded, so a failure
// makes Meta deliver again, and a redelivery is recognised by the events'
// keys.
func (h *Webhook) deliver(w http.ResponseWriter, r *http.Request) {
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		refuse(w, http.StatusUnauthorized, "missing "+SignatureHeader+": Meta signs every notification with the app secret")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			refuse(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", h.maxBody))
			return
		}
		refuse(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if !ValidSignature(h.secret, body, sig) {
		h.log.Warn("whatsapp webhook: a notification with a wrong signature", "bytes", len(body))
		refuse(w, http.StatusForbidden, SignatureHeader+" does not match the body: it must be sha256= and the hex HMAC-SHA256 of the raw body under this connection's app secret")
		return
	}
	events, err := Parse(body)
	if err != nil {
		h.log.Warn("whatsapp webhook: a signed body that is not a notification", "err", err)
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	for _, e := range events {
		if _, err := h.rec.Record(r.Context(), e); err != nil {
			h.log.Error("whatsapp webhook: recording an event failed; Meta will deliver again", "key", e.Key, "err", err)
			refuse(w, http.StatusServiceUnavailable, "the event could not be recorded; deliver again later")
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// ValidSignature reports whether header (the value of X-Hub-Signature-256,
// "sha256=" and 64 hex digits) is the HMAC-SHA256 of body under secret. The
// comparison takes the same time wherever the digests differ.
func ValidSignature(secret, body []byte, header string) bool {
	hexSum, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

func refuse(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
}
