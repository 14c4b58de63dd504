package messenger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/passerelle/passerelle/gateway/connector"
)

// Defaults of ClientConfig (connector's).
const (
	DefaultBaseURL     = connector.DefaultBaseURL
	DefaultVersion     = connector.DefaultVersion
	DefaultTimeout     = connector.DefaultTimeout
	DefaultMaxAttempts = connector.DefaultMaxAttempts
	DefaultBackoff     = connector.DefaultBackoff
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
	net Network
	s   *connector.Sender
}

// NewClient returns a client for cfg.
func NewClient(cfg ClientConfig) (*Client, error) {
	if !cfg.Network.valid() {
		return nil, fmt.Errorf("messenger: network %q: give messenger.Messenger (a Page) or messenger.Instagram", cfg.Network)
	}
	if cfg.Token == "" {
		return nil, errors.New("messenger: the Page access token is empty; generate one with pages_messaging (and instagram_manage_messages for Instagram)")
	}
	s, err := connector.NewSender(connector.SenderConfig{
		Network:     "messenger",
		BaseURL:     cfg.BaseURL,
		Version:     cfg.Version,
		Path:        "me/messages",
		Token:       cfg.Token,
		Timeout:     cfg.Timeout,
		MaxAttempts: cfg.MaxAttempts,
		Backoff:     cfg.Backoff,
		HTTP:        cfg.HTTP,
		Classify:    Classify,
		ID:          messageID,
	})
	if err != nil {
		return nil, err
	}
	return &Client{net: cfg.Network, s: s}, nil
}

// messageID reads the mid of a 200 answer: {"recipient_id", "message_id"}.
func messageID(b []byte) (string, bool) {
	var ok struct {
		MessageID string `json:"message_id"`
	}
	if json.Unmarshal(b, &ok) != nil {
		return "", false
	}
	return ok.MessageID, ok.MessageID != ""
}

// Send validates m against the documented limits and sends it to the
// person with PSID or IGSID to; it returns the message's mid. A message
// that breaks a limit is a *LimitError and is not sent; a refusal from
// Meta or a failed request is an *Error.
func (c *Client) Send(ctx context.Context, to string, m Message) (string, error) {
	if to == "" {
		return "", &LimitError{Field: "recipient.id", Limit: "the person's PSID or IGSID", Got: "none"}
	}
	if err := m.validate(c.net); err != nil {
		return "", err
	}
	raw, err := json.Marshal(m.payload(to))
	if err != nil {
		return "", err
	}
	return c.s.Send(ctx, raw)
}

// Class is what a Send API error means for the sender.
type Class = connector.Class

// Classes of errors, with the Messenger Platform codes they stand for.
const (
	ClassThrottled     = connector.ClassThrottled     // 613, 4, 32, 80006: retry after a backoff
	ClassTransient     = connector.ClassTransient     // 1, 2, 1200: retry after a backoff
	ClassWindowClosed  = connector.ClassWindowClosed  // 10 (2018278, 2018065), 2018278: outside the 24-hour window; a tag or an opt-in token only
	ClassUndeliverable = connector.ClassUndeliverable // 551 (with or without 1545041), 10 (2018108), 100 (2018001, 2534014), 200 (1545041): the person is not available or blocks the business
	ClassConsent       = connector.ClassConsent       // 10 (1893015): the person stopped the notification messages of this topic
	ClassAuth          = connector.ClassAuth          // 190, 102, 200-299 otherwise: the token or its permissions
	ClassPolicy        = connector.ClassPolicy        // 368: Meta limits this Page
	ClassInvalid       = connector.ClassInvalid       // 100 and the rest of the request's faults
	ClassUnknown       = connector.ClassUnknown       // no answer, or a code this package does not know
)

// subcodes are classified before codes: Meta reuses a code (10, 100, 200)
// for faults that mean different things.
var subcodes = map[int]Class{
	2018278: ClassWindowClosed, 2018065: ClassWindowClosed,
	1545041: ClassUndeliverable, 2018001: ClassUndeliverable, 2018108: ClassUndeliverable, 2534014: ClassUndeliverable,
	1893015: ClassConsent,
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

// Error is a Send API failure (connector.Error: Class, Code, Subcode,
// HTTPStatus, Message, Details, Trace; Retry).
type Error = connector.Error
