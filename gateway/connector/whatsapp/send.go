package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/passerelle/passerelle/gateway/connector"
)

// Defaults of ClientConfig.
const (
	DefaultBaseURL     = "https://graph.facebook.com"
	DefaultVersion     = "v23.0"
	DefaultTimeout     = 15 * time.Second
	DefaultMaxAttempts = 4
	DefaultBackoff     = time.Second
	maxResponse        = 1 << 20
)

// ClientConfig is what the Send API client of one business number needs.
type ClientConfig struct {
	BaseURL       string        // DefaultBaseURL if empty; the simulator's URL in tests and demos
	Version       string        // Graph API version, DefaultVersion if empty
	PhoneNumberID string        // the business phone number id
	Token         string        // the access token (sent as a bearer token; never logged)
	Timeout       time.Duration // per request, DefaultTimeout if 0
	// MaxAttempts bounds the requests of one Send when Meta refuses it
	// with a throttling or transient code (DefaultMaxAttempts if 0; 1: no
	// retry). Only refusals are retried: Meta did not take the message, so
	// a retry cannot send it twice. A timeout or a lost connection is not
	// retried (the message may have gone); it is an *Error of class
	// Unknown for the caller's outbox to resolve.
	MaxAttempts int
	Backoff     time.Duration // first wait between attempts, doubled each time (DefaultBackoff if 0)
	HTTP        *http.Client  // http.DefaultClient's transport if nil
}

// Client sends messages through the Cloud API's messages endpoint. It is
// safe for concurrent use.
type Client struct {
	url   string
	token string
	cfg   ClientConfig
	http  *http.Client
}

// NewClient returns a client for cfg.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.PhoneNumberID == "" || strings.ContainsAny(cfg.PhoneNumberID, "/?#") {
		return nil, fmt.Errorf("whatsapp: phone number id %q: give the business number's id from WhatsApp Manager (digits, not the phone number)", cfg.PhoneNumberID)
	}
	if cfg.Token == "" {
		return nil, errors.New("whatsapp: the access token is empty; create a system user token with whatsapp_business_messaging")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if _, err := url.Parse(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("whatsapp: base URL: %w", err)
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	hc := cfg.HTTP
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{
		url:   strings.TrimRight(cfg.BaseURL, "/") + "/" + cfg.Version + "/" + cfg.PhoneNumberID + "/messages",
		token: cfg.Token,
		cfg:   cfg,
		http:  hc,
	}, nil
}

// Send validates m against the documented limits and sends it to the
// person with wa_id (or phone number) to; it returns the message's wamid.
// A message that breaks a limit is a *LimitError and is not sent; a
// refusal from Meta or a failed request is an *Error.
func (c *Client) Send(ctx context.Context, to string, m Message) (string, error) {
	if to == "" {
		return "", &LimitError{Field: "to", Limit: "the person's wa_id or phone number", Got: "none"}
	}
	if err := m.validate(); err != nil {
		return "", err
	}
	body := m.payload()
	body["messaging_product"] = "whatsapp"
	body["recipient_type"] = "individual"
	body["to"] = to
	raw, err := json.Marshal(body)
	if err != nil {
		return "", err
	}
	wait := c.cfg.Backoff
	for attempt := 1; ; attempt++ {
		id, err := c.post(ctx, raw)
		var e *Error
		if err == nil || !errors.As(err, &e) || !e.Retry() || attempt >= c.cfg.MaxAttempts {
			return id, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", err
		case <-t.C:
		}
		wait *= 2
	}
}

func (c *Client) post(ctx context.Context, raw []byte) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", &Error{Class: ClassUnknown, Message: "the request failed and the message may or may not have been sent: " + err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return "", &Error{Class: ClassUnknown, HTTPStatus: resp.StatusCode, Message: "reading the answer failed; the message may have been sent: " + err.Error()}
	}
	if resp.StatusCode == http.StatusOK {
		var ok struct {
			Messages []struct {
				ID string `json:"id"`
			} `json:"messages"`
		}
		if json.Unmarshal(b, &ok) != nil || len(ok.Messages) == 0 || ok.Messages[0].ID == "" {
			return "", &Error{Class: ClassUnknown, HTTPStatus: 200, Message: "Meta answered 200 without a message id; the message may have been sent"}
		}
		return ok.Messages[0].ID, nil
	}
	return "", decodeError(resp.StatusCode, b)
}

// decodeError reads Meta's error shape: {"error": {"message", "type",
// "code", "error_data": {"details"}, "fbtrace_id"}}.
func decodeError(status int, b []byte) *Error {
	var w struct {
		Error struct {
			Message   string `json:"message"`
			Type      string `json:"type"`
			Code      int    `json:"code"`
			ErrorData struct {
				Details string `json:"details"`
			} `json:"error_data"`
			FBTraceID string `json:"fbtrace_id"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &w) != nil || w.Error.Code == 0 && w.Error.Message == "" {
		e := &Error{Class: ClassInvalid, HTTPStatus: status, Message: "Meta answered " + strconv.Itoa(status) + " without an error body"}
		if status >= 500 || status == http.StatusTooManyRequests {
			e.Class = ClassTransient
		}
		return e
	}
	return &Error{
		Class:      Classify(w.Error.Code),
		Code:       w.Error.Code,
		HTTPStatus: status,
		Message:    w.Error.Message,
		Details:    w.Error.ErrorData.Details,
		Trace:      w.Error.FBTraceID,
	}
}

// Class is what a Send API error means for the sender.
type Class = connector.Class

// Classes of errors, with the WhatsApp codes they stand for.
const (
	ClassThrottled     = connector.ClassThrottled     // 130429, 131056, 4, 80007: retry after a backoff
	ClassTransient     = connector.ClassTransient     // 1, 2, 131000, 131016, 133004: retry after a backoff
	ClassWindowClosed  = connector.ClassWindowClosed  // 131047: the 24-hour window is closed; only a template may go now
	ClassUndeliverable = connector.ClassUndeliverable // 131026 and kin: this person cannot receive it; do not retry
	ClassConsent       = connector.ClassConsent       // 131050: the person stopped marketing messages from this business
	ClassAuth          = connector.ClassAuth          // 190, 0, 10, 200-299: the token or its permissions; fix the connection
	ClassPolicy        = connector.ClassPolicy        // 131048, 131049, 368...: Meta limits this business; do not retry now
	ClassTemplate      = connector.ClassTemplate      // 132xxx: the template is missing, paused or does not fit its parameters
	ClassInvalid       = connector.ClassInvalid       // the request itself is wrong (100, 131008, 131009...)
	ClassUnknown       = connector.ClassUnknown       // no answer, or a code this package does not know
)

// codes maps Meta's documented codes to classes (WhatsApp Cloud API error
// codes; Graph API error handling for 0-299).
var codes = map[int]Class{
	0: ClassAuth, 3: ClassAuth, 10: ClassAuth, 190: ClassAuth,
	1: ClassTransient, 2: ClassTransient, 131000: ClassTransient, 131016: ClassTransient, 133004: ClassTransient,
	4: ClassThrottled, 80007: ClassThrottled, 130429: ClassThrottled, 131056: ClassThrottled,
	131047: ClassWindowClosed,
	131026: ClassUndeliverable, 131021: ClassUndeliverable, 131045: ClassUndeliverable, 130472: ClassUndeliverable,
	131050: ClassConsent,
	131048: ClassPolicy, 131049: ClassPolicy, 131031: ClassPolicy, 368: ClassPolicy, 130497: ClassPolicy, 131042: ClassPolicy,
	132000: ClassTemplate, 132001: ClassTemplate, 132005: ClassTemplate, 132007: ClassTemplate, 132012: ClassTemplate, 132015: ClassTemplate, 132016: ClassTemplate,
	100: ClassInvalid, 33: ClassInvalid, 131008: ClassInvalid, 131009: ClassInvalid, 131051: ClassInvalid, 131052: ClassInvalid, 131053: ClassInvalid,
}

// Classify returns the class of one of Meta's error codes.
func Classify(code int) Class {
	if c, ok := codes[code]; ok {
		return c
	}
	if code >= 200 && code <= 299 {
		return ClassAuth
	}
	return ClassUnknown
}

// Error is a Send API failure.
type Error struct {
	Class      Class
	Code       int    // Meta's code (0 when Meta gave none)
	HTTPStatus int    // 0 when no answer came
	Message    string // Meta's message, or what went wrong
	Details    string // Meta's error_data.details
	Trace      string // fbtrace_id, for Meta's support
}

func (e *Error) Error() string {
	s := fmt.Sprintf("whatsapp send: %s", e.Class)
	if e.Code != 0 {
		s += fmt.Sprintf(" (code %d)", e.Code)
	}
	s += ": " + e.Message
	if e.Details != "" {
		s += ": " + e.Details
	}
	return s
}

// Retry reports whether the same request may be sent again after a
// backoff: Meta refused it for throughput or a passing failure.
func (e *Error) Retry() bool { return e.Class.Retry() }
