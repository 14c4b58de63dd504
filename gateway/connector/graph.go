package connector

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
)

// Defaults of a Graph API sender.
const (
	DefaultBaseURL     = "https://graph.facebook.com"
	DefaultVersion     = "v23.0"
	DefaultTimeout     = 15 * time.Second
	DefaultMaxAttempts = 4
	DefaultBackoff     = time.Second
	maxResponse        = 1 << 20
)

// SenderConfig is what posting messages to one Graph API endpoint needs.
type SenderConfig struct {
	Network string // "whatsapp", "messenger": in errors
	BaseURL string // DefaultBaseURL if empty
	Version string // DefaultVersion if empty
	Path    string // after the version, e.g. "me/messages"
	Token   string // sent as a bearer token; never logged
	Timeout time.Duration
	// MaxAttempts bounds the requests of one Send when Meta refuses it
	// with a class that Retry allows (DefaultMaxAttempts if 0; 1: no
	// retry). A timeout or a lost connection is not retried: the message
	// may have gone.
	MaxAttempts int
	Backoff     time.Duration // first wait between attempts, doubled each time (DefaultBackoff if 0)
	HTTP        *http.Client  // a fresh http.Client if nil
	// Classify maps Meta's code and subcode to a class.
	Classify func(code, subcode int) Class
	// ID reads the message id from the body of a 200 answer.
	ID func(body []byte) (string, bool)
}

// Sender posts JSON bodies to one Graph API endpoint, retrying Meta's
// throttling and passing refusals with a doubling backoff. It is safe for
// concurrent use.
type Sender struct {
	url string
	cfg SenderConfig
}

// NewSender returns a sender for cfg, filling in the defaults.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Token == "" {
		return nil, fmt.Errorf("%s: the access token is empty", cfg.Network)
	}
	if cfg.Classify == nil || cfg.ID == nil {
		return nil, fmt.Errorf("%s: a sender needs Classify and ID", cfg.Network)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if _, err := url.Parse(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("%s: base URL: %w", cfg.Network, err)
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
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{}
	}
	return &Sender{url: strings.TrimRight(cfg.BaseURL, "/") + "/" + cfg.Version + "/" + cfg.Path, cfg: cfg}, nil
}

// Send posts raw and returns the message id Meta answered; a refusal or a
// failed request is an *Error.
func (s *Sender) Send(ctx context.Context, raw []byte) (string, error) {
	wait := s.cfg.Backoff
	for attempt := 1; ; attempt++ {
		id, err := s.post(ctx, raw)
		e, ok := errors.AsType[*Error](err)
		if err == nil || !ok || !e.Retry() || attempt >= s.cfg.MaxAttempts {
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

func (s *Sender) post(ctx context.Context, raw []byte) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return "", s.err(ClassUnknown, 0, "the request failed and the message may or may not have been sent: "+err.Error())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return "", s.err(ClassUnknown, resp.StatusCode, "reading the answer failed; the message may have been sent: "+err.Error())
	}
	if resp.StatusCode == http.StatusOK {
		if id, ok := s.cfg.ID(b); ok && id != "" {
			return id, nil
		}
		return "", s.err(ClassUnknown, 200, "Meta answered 200 without a message id; the message may have been sent")
	}
	return "", s.decode(resp.StatusCode, b)
}

func (s *Sender) err(c Class, status int, msg string) *Error {
	return &Error{Network: s.cfg.Network, Class: c, HTTPStatus: status, Message: msg}
}

// decode reads Meta's error shape: {"error": {"message", "type", "code",
// "error_subcode", "error_data" (an object with "details", or a string),
// "fbtrace_id"}}.
func (s *Sender) decode(status int, b []byte) *Error {
	var w struct {
		Error struct {
			Message   string          `json:"message"`
			Code      int             `json:"code"`
			Subcode   int             `json:"error_subcode"`
			ErrorData json.RawMessage `json:"error_data"`
			FBTraceID string          `json:"fbtrace_id"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &w) != nil || w.Error.Code == 0 && w.Error.Message == "" {
		e := s.err(ClassInvalid, status, "Meta answered "+strconv.Itoa(status)+" without an error body")
		if status >= 500 || status == http.StatusTooManyRequests {
			e.Class = ClassTransient
		}
		return e
	}
	var details string
	var obj struct {
		Details string `json:"details"`
	}
	if json.Unmarshal(w.Error.ErrorData, &obj) == nil {
		details = obj.Details
	} else {
		json.Unmarshal(w.Error.ErrorData, &details)
	}
	return &Error{
		Network:    s.cfg.Network,
		Class:      s.cfg.Classify(w.Error.Code, w.Error.Subcode),
		Code:       w.Error.Code,
		Subcode:    w.Error.Subcode,
		HTTPStatus: status,
		Message:    w.Error.Message,
		Details:    details,
		Trace:      w.Error.FBTraceID,
	}
}

// Error is a Send API failure.
type Error struct {
	Network    string // "whatsapp", "messenger"
	Class      Class
	Code       int    // Meta's code (0 when Meta gave none)
	Subcode    int    // Meta's error_subcode (0 when none)
	HTTPStatus int    // 0 when no answer came
	Message    string // Meta's message, or what went wrong
	Details    string // Meta's error_data
	Trace      string // fbtrace_id, for Meta's support
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s send: %s", e.Network, e.Class)
	if e.Code != 0 {
		s += fmt.Sprintf(" (code %d", e.Code)
		if e.Subcode != 0 {
			s += fmt.Sprintf(", subcode %d", e.Subcode)
		}
		s += ")"
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
