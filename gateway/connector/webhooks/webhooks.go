// Package webhooks serves the webhook URL of every connection,
// /webhooks/{network}/{id}: it looks the connection up for each request
// (so a rotated secret counts at once), answers Meta's GET verification
// with the connection's verify token, checks a POST's X-Hub-Signature-256
// with its app secret through the network's webhook handler, and records
// the events in the network's durable store before answering 200.
//
// # Where the events go
//
// WhatsApp events go to the whatsapp store (whatsapp.Store), Messenger
// and Instagram events to the messenger store (messenger.Store), whose
// inboxes the gateway consumes. Each event names the account it belongs
// to (whatsapp.Event.PhoneNumberID, messenger.Event.AccountID) and the
// consumer finds the connection with connector.Connections.ByAccount: an
// event that arrives without one (an empty entry) is given the account of
// the connection it arrived on. An event that names an account other than
// its connection's is recorded only if that account is connected by the
// same merchant with the same app secret (one Meta app serving several of
// the merchant's accounts calls one URL); otherwise it is dropped with a
// warning and counted, so a merchant cannot post events into another's
// account by signing them with its own app secret.
//
// # Metrics
//
// passerelle_connector_webhook_requests_total{network,connection,outcome}
// counts requests by outcome: verified, verify_refused, accepted,
// duplicate (every event was recorded before), bad_signature, too_large,
// bad_payload, failed (not recorded; Meta delivers again).
// passerelle_connector_events_total{network,connection,result} counts
// events: recorded, duplicate, foreign_account.
// passerelle_connector_webhook_unknown_total{network} counts requests for
// ids that are no connection. No secret is ever a label or logged.
package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
)

// Prefix is the path under which the handler serves.
const Prefix = "/webhooks/"

// Config wires a Handler. Connections, WhatsApp and Messenger are
// required.
type Config struct {
	Connections connector.Connections
	WhatsApp    whatsapp.Recorder  // the whatsapp store
	Messenger   messenger.Recorder // the messenger store, for Messenger and Instagram
	MaxBody     int64              // largest body accepted (connector.DefaultMaxBody if 0)
	Log         *slog.Logger       // refusals and failures; nil logs nothing
	// Metrics, if set, registers the handler's counters.
	Metrics prometheus.Registerer
}

// Handler serves /webhooks/{network}/{id}.
type Handler struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	requests *prometheus.CounterVec
	events   *prometheus.CounterVec
	unknown  *prometheus.CounterVec
	// noToken stands in for a connection's missing verify token in the
	// POST handler, which never reads it: GET is answered before.
	noToken string
}

// Outcomes of a request, the outcome label.
const (
	OutcomeVerified      = "verified"
	OutcomeVerifyRefused = "verify_refused"
	OutcomeAccepted      = "accepted"
	OutcomeDuplicate     = "duplicate"
	OutcomeBadSignature  = "bad_signature"
	OutcomeTooLarge      = "too_large"
	OutcomeBadPayload    = "bad_payload"
	OutcomeFailed        = "failed"
)

// Results of an event, the result label.
const (
	ResultRecorded       = "recorded"
	ResultDuplicate      = "duplicate"
	ResultForeignAccount = "foreign_account"
)

// New returns the handler. Mount it at Prefix.
func New(cfg Config) (*Handler, error) {
	if cfg.Connections == nil || cfg.WhatsApp == nil || cfg.Messenger == nil {
		return nil, errors.New("webhooks: Config needs Connections and the WhatsApp and Messenger recorders (the network stores)")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tok := make([]byte, 32)
	rand.Read(tok)
	h := &Handler{cfg: cfg, log: log, mux: http.NewServeMux(), noToken: hex.EncodeToString(tok),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "passerelle", Subsystem: "connector", Name: "webhook_requests_total",
			Help: "Webhook requests per connection, by outcome: verified, verify_refused, accepted, duplicate, bad_signature, too_large, bad_payload, failed.",
		}, []string{"network", "connection", "outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "passerelle", Subsystem: "connector", Name: "events_total",
			Help: "Webhook events per connection, by result: recorded, duplicate (recorded before), foreign_account (dropped: another merchant's account).",
		}, []string{"network", "connection", "result"}),
		unknown: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "passerelle", Subsystem: "connector", Name: "webhook_unknown_total",
			Help: "Webhook requests for an id that is no connection of the network.",
		}, []string{"network"}),
	}
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{h.requests, h.events, h.unknown} {
			if err := cfg.Metrics.Register(c); err != nil {
				return nil, err
			}
		}
	}
	h.mux.HandleFunc("GET "+Prefix+"{network}/{id}", h.serve)
	h.mux.HandleFunc("POST "+Prefix+"{network}/{id}", h.serve)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	network, id := r.PathValue("network"), r.PathValue("id")
	switch network {
	case connector.NetworkWhatsApp, connector.NetworkMessenger, connector.NetworkInstagram:
	default:
		notFound(w)
		return
	}
	conn, err := h.cfg.Connections.Get(r.Context(), id)
	if errors.Is(err, connector.ErrNoConnection) || err == nil && conn.Network != network {
		h.unknown.WithLabelValues(network).Inc()
		notFound(w)
		return
	}
	log := h.log.With("network", network, "connection", id)
	if err != nil {
		// The store could not open the secrets (a missing key, a broken
		// row): the operator must act; Meta delivers again meanwhile.
		log.Error("webhook: the connection cannot be read", "err", err)
		h.requests.WithLabelValues(network, id, OutcomeFailed).Inc()
		text(w, http.StatusServiceUnavailable, "the connection cannot be read now; deliver again later")
		return
	}
	if r.Method == http.MethodGet && conn.Secrets.VerifyToken == "" {
		h.requests.WithLabelValues(network, id, OutcomeVerifyRefused).Inc()
		text(w, http.StatusForbidden, "this connection has no verify token yet: set one with 'passerelle connections rotate "+id+" --verify-token-file FILE', type the same in the Meta app dashboard, and verify again")
		return
	}
	rec := &recorder{h: h, ctx: r.Context(), conn: conn, log: log}
	sw := &statusWriter{ResponseWriter: w}
	var handler http.Handler
	var hErr error
	verify := conn.Secrets.VerifyToken
	if verify == "" {
		verify = h.noToken
	}
	if network == connector.NetworkWhatsApp {
		handler, hErr = whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: conn.Secrets.AppSecret, VerifyToken: verify,
			Recorder: recorderFunc[whatsapp.Event](rec.whatsapp), MaxBody: h.cfg.MaxBody, Log: log})
	} else {
		handler, hErr = messenger.NewWebhook(messenger.WebhookConfig{AppSecret: conn.Secrets.AppSecret, VerifyToken: verify,
			Recorder: recorderFunc[messenger.Event](rec.messenger), MaxBody: h.cfg.MaxBody, Log: log})
	}
	if hErr != nil {
		log.Error("webhook: the connection lacks a secret", "err", hErr)
		h.requests.WithLabelValues(network, id, OutcomeFailed).Inc()
		text(w, http.StatusServiceUnavailable, "the connection is not complete; deliver again later")
		return
	}
	handler.ServeHTTP(sw, r)
	h.requests.WithLabelValues(network, id, outcome(r.Method, sw.status, rec)).Inc()
}

// outcome names what became of a request from the status the network's
// handler answered.
func outcome(method string, status int, rec *recorder) string {
	if method == http.MethodGet {
		if status == http.StatusOK {
			return OutcomeVerified
		}
		return OutcomeVerifyRefused
	}
	switch status {
	case http.StatusOK:
		if rec.recorded == 0 && rec.duplicates > 0 {
			return OutcomeDuplicate
		}
		return OutcomeAccepted
	case http.StatusUnauthorized, http.StatusForbidden:
		return OutcomeBadSignature
	case http.StatusRequestEntityTooLarge:
		return OutcomeTooLarge
	case http.StatusBadRequest:
		return OutcomeBadPayload
	}
	return OutcomeFailed
}

// recorder records one request's events in the network's store, each
// under the account it belongs to, and counts them.
type recorder struct {
	h    *Handler
	ctx  context.Context
	conn connector.Connection
	log  *slog.Logger

	recorded, duplicates int
}

type recorderFunc[E any] func(ctx context.Context, e E) (bool, error)

func (f recorderFunc[E]) Record(ctx context.Context, e E) (bool, error) { return f(ctx, e) }

func (rec *recorder) whatsapp(ctx context.Context, e whatsapp.Event) (bool, error) {
	if e.PhoneNumberID == "" {
		e.PhoneNumberID = rec.conn.Account
	}
	if !rec.ours(connector.NetworkWhatsApp, e.PhoneNumberID, e.Key) {
		return false, nil
	}
	return rec.count(rec.h.cfg.WhatsApp.Record(ctx, e))
}

func (rec *recorder) messenger(ctx context.Context, e messenger.Event) (bool, error) {
	want := messenger.Messenger
	if rec.conn.Network == connector.NetworkInstagram {
		want = messenger.Instagram
	}
	if e.AccountID == "" {
		e.AccountID = rec.conn.Account
	}
	if e.Network != want {
		rec.foreign(string(e.Network), e.AccountID, e.Key)
		return false, nil
	}
	if !rec.ours(rec.conn.Network, e.AccountID, e.Key) {
		return false, nil
	}
	return rec.count(rec.h.cfg.Messenger.Record(ctx, e))
}

// ours reports whether an event for account may be recorded from this
// connection's webhook: its own account, or another the same merchant
// connected with the same app secret (the same Meta app).
func (rec *recorder) ours(network, account, key string) bool {
	if account == rec.conn.Account {
		return true
	}
	other, err := rec.h.cfg.Connections.ByAccount(rec.ctx, network, account)
	if err == nil && other.Merchant == rec.conn.Merchant && other.Secrets.AppSecret == rec.conn.Secrets.AppSecret {
		return true
	}
	rec.foreign(network, account, key)
	return false
}

func (rec *recorder) foreign(network, account, key string) {
	rec.log.Warn("webhook: an event for an account this connection does not serve was dropped", "event_network", network, "account", account, "key", key)
	rec.h.events.WithLabelValues(rec.conn.Network, rec.conn.ID, ResultForeignAccount).Inc()
}

func (rec *recorder) count(dup bool, err error) (bool, error) {
	switch {
	case err != nil:
		return false, err
	case dup:
		rec.duplicates++
		rec.h.events.WithLabelValues(rec.conn.Network, rec.conn.ID, ResultDuplicate).Inc()
	default:
		rec.recorded++
		rec.h.events.WithLabelValues(rec.conn.Network, rec.conn.ID, ResultRecorded).Inc()
	}
	return dup, nil
}

// statusWriter keeps the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// notFound answers an id that is no connection without saying more.
func notFound(w http.ResponseWriter) { text(w, http.StatusNotFound, "no such webhook") }

func text(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
}
