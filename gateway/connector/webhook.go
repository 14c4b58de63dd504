package connector

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

// DefaultMaxBody is the largest webhook body accepted when
// WebhookConfig.MaxBody is 0. Meta documents notification payloads of up
// to 3 MB; a little room is left above that.
const DefaultMaxBody = 4 << 20

// SignatureHeader is the header Meta signs a notification in.
const SignatureHeader = "X-Hub-Signature-256"

// Recorder keeps the events a webhook delivered. Record returns once the
// event is durably recorded; duplicate says that an event with its key was
// recorded before (and nothing was written). Store implements it.
type Recorder[E any] interface {
	Record(ctx context.Context, e E) (duplicate bool, err error)
}

// WebhookConfig is what the webhook of one connection needs; E is the
// network's event type. The network packages fill in Name, Parse and Key.
type WebhookConfig[E any] struct {
	AppSecret   string       // the Meta app's secret: the HMAC-SHA256 key of X-Hub-Signature-256
	VerifyToken string       // the token typed in the app dashboard, echoed in GET verification
	Recorder    Recorder[E]  // where the events go; a failure answers 503 and Meta delivers again
	MaxBody     int64        // largest body accepted, bytes (DefaultMaxBody if 0)
	Log         *slog.Logger // refusals and failures (nothing is logged if nil); secrets never are

	Name  string                         // the network, in logs and errors ("whatsapp", "messenger")
	Parse func(body []byte) ([]E, error) // a signed body into events; an error answers 400
	Key   func(e E) string               // an event's dedupe key, for logs
}

// Errors of NewWebhook.
var (
	ErrNoSecret   = errors.New("the app secret is empty; copy it from the Meta app dashboard (App settings, Basic)")
	ErrNoToken    = errors.New("the verify token is empty; choose one and type it in the webhook configuration of the Meta app dashboard")
	ErrNoRecorder = errors.New("no recorder: webhook events must be recorded before they are acknowledged")
)

// Webhook is the http.Handler Meta calls: GET to verify the callback URL,
// POST to deliver notifications.
type Webhook[E any] struct {
	cfg    WebhookConfig[E]
	secret []byte
	token  []byte
	log    *slog.Logger
}

// NewWebhook returns the webhook handler of one connection. The errors
// wrap ErrNoSecret, ErrNoToken and ErrNoRecorder.
func NewWebhook[E any](cfg WebhookConfig[E]) (*Webhook[E], error) {
	switch {
	case cfg.AppSecret == "":
		return nil, fmt.Errorf("%s: %w", cfg.Name, ErrNoSecret)
	case cfg.VerifyToken == "":
		return nil, fmt.Errorf("%s: %w", cfg.Name, ErrNoToken)
	case cfg.Recorder == nil:
		return nil, fmt.Errorf("%s: %w", cfg.Name, ErrNoRecorder)
	case cfg.Parse == nil:
		return nil, fmt.Errorf("%s: no parser for the webhook's payloads", cfg.Name)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Key == nil {
		cfg.Key = func(E) string { return "" }
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhook[E]{cfg: cfg, secret: []byte(cfg.AppSecret), token: []byte(cfg.VerifyToken), log: log}, nil
}

// ServeHTTP answers Meta.
func (h *Webhook[E]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
func (h *Webhook[E]) verify(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("hub.mode") != "subscribe" {
		refuse(w, http.StatusForbidden, "hub.mode must be subscribe")
		return
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("hub.verify_token")), h.token) != 1 {
		h.log.Warn(h.cfg.Name + " webhook: verification with a wrong verify token")
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
func (h *Webhook[E]) deliver(w http.ResponseWriter, r *http.Request) {
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		refuse(w, http.StatusUnauthorized, "missing "+SignatureHeader+": Meta signs every notification with the app secret")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			refuse(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", h.cfg.MaxBody))
			return
		}
		refuse(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if !ValidSignature(h.secret, body, sig) {
		h.log.Warn(h.cfg.Name+" webhook: a notification with a wrong signature", "bytes", len(body))
		refuse(w, http.StatusForbidden, SignatureHeader+" does not match the body: it must be sha256= and the hex HMAC-SHA256 of the raw body under this connection's app secret")
		return
	}
	events, err := h.cfg.Parse(body)
	if err != nil {
		h.log.Warn(h.cfg.Name+" webhook: a signed body that is not a notification", "err", err)
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	for _, e := range events {
		if _, err := h.cfg.Recorder.Record(r.Context(), e); err != nil {
			h.log.Error(h.cfg.Name+" webhook: recording an event failed; Meta will deliver again", "key", h.cfg.Key(e), "err", err)
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
