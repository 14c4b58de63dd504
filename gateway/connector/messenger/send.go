package messenger

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

// ClientConfig is what the Send API client of one Page or Instagram
// account needs.
type ClientConfig struct {
	Network Network // Messenger or Instagram: the limits differ a little
	BaseURL string  // DefaultBaseURL if empty; the simulator's URL in tests and demos
	Version string  // Graph API version, DefaultVersion if empty
	Token   string  // the Page access token (sent as a bearer token; never logged)
	Timeout time.Duration
	// MaxAttempts bounds the requests of one Send when Meta refuses it
	// for throughput (613, 4, 32) or a passing failure (1, 2, 1200)
	// (DefaultMaxAttempts if 0; 1: no retry). Only refusals are retried:
	// a timeout or a lost connection is ClassUnknown (the message may
	// have gone) for the caller's outbox to resolve.
	MaxAttempts int
	Backoff     time.Duration // first wait between attempts, doubled each time (DefaultBackoff if 0)
	HTTP        *http.Client  // a fresh http.Client if nil
}

// Client sends messages through the Send API, POST /{version}/me/messages
// with the Page token. It is safe for concurrent use.
type Client struct {
	url  string
	cfg  ClientConfig
	http *http.Client
}

// NewClient returns a client for cfg.
func NewClient(cfg ClientConfig) (*Client, error) {
	if !cfg.Network.valid() {
		return nil, fmt.Errorf("messenger: network %q: give messenger.Messenger (a Page) or messenger.Instagram", cfg.Network)
	}
	if cfg.Token == "" {
		return nil, errors.New("messenger: the Page access token is empty; generate one with pages_messaging (and instagram_manage_messages for Instagram)")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if _, err := url.Parse(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("messenger: base URL: %w", err)
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
	return &Client{url: strings.TrimRight(cfg.BaseURL, "/") + "/" + cfg.Version + "/me/messages", cfg: cfg, http: hc}, nil
}

// Send validates m against the documented limits and sends it to the
// person with PSID or IGSID to; it returns the message's mid. A message
// that breaks a limit is a *LimitError and is not sent; a refusal from
// Meta or a failed request is an *Error.
func (c *Client) Send(ctx context.Context, to string, m Message) (string, error) {
	if to == "" {
		return "", &LimitError{Field: "recipient.id", Limit: "the person's PSID or IGSID", Got: "none"}
	}
	if err := m.validate(c.cfg.Network); err != nil {
		return "", err
	}
	raw, err := json.Marshal(m.payload(to))
	if err != nil {
		return "", err
	}
	wait := c.cfg.Backoff
	for attempt := 1; ; attempt++ {
		id, err := c.post(ctx, raw)
		e, ok := errors.AsType[*Error](err)
		if err == nil || !ok || !e.Class.Retry() || attempt >= c.cfg.MaxAttempts {
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
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
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
			RecipientID string `json:"recipient_id"`
			MessageID   string `json:"message_id"`
		}
		if json.Unmarshal(b, &ok) != nil || ok.MessageID == "" {
			return "", &Error{Class: ClassUnknown, HTTPStatus: 200, Message: "Meta answered 200 without a message_id; the message may have been sent"}
		}
		return ok.MessageID, nil
	}
	return "", decodeError(resp.StatusCode, b)
}

// decodeError reads Meta's error shape: {"error": {"message", "type",
// "code", "error_subcode", "fbtrace_id"}}.
func decodeError(status int, b []byte) *Error {
	var w struct {
		Error struct {
			Message   string `json:"message"`
			Code      int    `json:"code"`
			Subcode   int    `json:"error_subcode"`
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
		Class:      Classify(w.Error.Code, w.Error.Subcode),
		Code:       w.Error.Code,
		Subcode:    w.Error.Subcode,
		HTTPStatus: status,
		Message:    w.Error.Message,
		Trace:      w.Error.FBTraceID,
	}
}

// Class is what a Send API error means for the sender.
type Class = connector.Class

// Classes of errors, with the Messenger Platform codes they stand for.
const (
	ClassThrottled     = connector.ClassThrottled     // 613, 4, 32, 80006: retry after a backoff
	ClassTransient     = connector.ClassTransient     // 1, 2, 1200: retry after a backoff
	ClassWindowClosed  = connector.ClassWindowClosed  // 10 (2018278, 2018065), 2018278: outside the 24-hour window; a tag or an opt-in token only
	ClassUndeliverable = connector.ClassUndeliverable // 551 (1545041), 100 (2018001), 200 (1545041): the person is not available
	ClassAuth          = connector.ClassAuth          // 190, 102, 200-299 otherwise: the token or its permissions
	ClassPolicy        = connector.ClassPolicy        // 368: Meta limits this Page
	ClassInvalid       = connector.ClassInvalid       // 100 and the rest of the request's faults
	ClassUnknown       = connector.ClassUnknown       // no answer, or a code this package does not know
)

// subcodes are classified before codes: Meta reuses a code (10, 100, 200)
// for faults that mean different things.
var subcodes = map[int]Class{
	2018278: ClassWindowClosed, 2018065: ClassWindowClosed,
	1545041: ClassUndeliverable, 2018001: ClassUndeliverable,
	2018344: ClassPolicy,
}

// codes maps the Messenger Platform's documented codes to classes.
var codes = map[int]Class{
	613: ClassThrottled, 4: ClassThrottled, 32: ClassThrottled, 80006: ClassThrottled,
	1: ClassTransient, 2: ClassTransient, 1200: ClassTransient,
	10:  ClassWindowClosed,
	551: ClassUndeliverable,
	190: ClassAuth, 102: ClassAuth,
	368: ClassPolicy,
	100: ClassInvalid,
}

// Classify returns the class of one of Meta's error codes and subcodes
// (0 when there is none).
func Classify(code, subcode int) Class {
	if c, ok := subcodes[subcode]; ok {
		return c
	}
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
	Subcode    int    // Meta's error_subcode
	HTTPStatus int    // 0 when no answer came
	Message    string // Meta's message, or what went wrong
	Trace      string // fbtrace_id, for Meta's support
}

func (e *Error) Error() string {
	s := fmt.Sprintf("messenger send: %s", e.Class)
	if e.Code != 0 {
		s += fmt.Sprintf(" (code %d", e.Code)
		if e.Subcode != 0 {
			s += fmt.Sprintf(", subcode %d", e.Subcode)
		}
		s += ")"
	}
	return s + ": " + e.Message
}

// Retry reports whether the same request may be sent again after a
// backoff.
func (e *Error) Retry() bool { return e.Class.Retry() }
