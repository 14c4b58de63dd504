package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
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
	s *connector.Sender
}

// NewClient returns a client for cfg.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.PhoneNumberID == "" || strings.ContainsAny(cfg.PhoneNumberID, "/?#") {
		return nil, fmt.Errorf("whatsapp: phone number id %q: give the business number's id from WhatsApp Manager (digits, not the phone number)", cfg.PhoneNumberID)
	}
	if cfg.Token == "" {
		return nil, errors.New("whatsapp: the access token is empty; create a system user token with whatsapp_business_messaging")
	}
	s, err := connector.NewSender(connector.SenderConfig{
		Network:     "whatsapp",
		BaseURL:     cfg.BaseURL,
		Version:     cfg.Version,
		Path:        cfg.PhoneNumberID + "/messages",
		Token:       cfg.Token,
		Timeout:     cfg.Timeout,
		MaxAttempts: cfg.MaxAttempts,
		Backoff:     cfg.Backoff,
		HTTP:        cfg.HTTP,
		Classify:    func(code, _ int) Class { return Classify(code) },
		ID:          messageID,
	})
	if err != nil {
		return nil, err
	}
	return &Client{s: s}, nil
}

// messageID reads the wamid of a 200 answer: {"messages": [{"id"}]}.
func messageID(b []byte) (string, bool) {
	var ok struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	if json.Unmarshal(b, &ok) != nil || len(ok.Messages) == 0 {
		return "", false
	}
	return ok.Messages[0].ID, true
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
	return c.s.Send(ctx, raw)
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

// Error is a Send API failure (connector.Error: Class, Code, HTTPStatus,
// Message, Details, Trace; Retry).
type Error = connector.Error
