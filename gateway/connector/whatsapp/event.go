package whatsapp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/passerelle/passerelle/gateway/connector"
)

// Kind is what an Event is.
type Kind string

// Kinds of events. Everything the parser does not turn into one of the
// first four is KindUnsupported, with the provider's own name for it in
// Event.Raw, so nothing Meta sends is dropped without a trace.
const (
	KindText        Kind = "text"         // a person wrote text (Event.Text)
	KindButtonReply Kind = "button_reply" // a person tapped a reply button (Event.ReplyID, ReplyTitle)
	KindListReply   Kind = "list_reply"   // a person picked a list row (Event.ReplyID, ReplyTitle, ReplyDescription)
	KindStatus      Kind = "status"       // a message we sent changed state (Event.Status, Errors)
	KindUnsupported Kind = "unsupported"  // anything else (Event.Raw names it)
)

// Status is the state of a message the business sent.
type Status string

// Statuses documented for the messages webhook. A read implies delivered:
// Meta does not always send "delivered" before "read".
const (
	StatusSent      Status = "sent"
	StatusDelivered Status = "delivered"
	StatusRead      Status = "read"
	StatusFailed    Status = "failed"
)

// Event is one thing a webhook reported, in the terms the gateway needs.
type Event struct {
	// Key identifies the event across redeliveries: "msg:" and the wamid
	// for a person's message, "status:" the wamid and the status for a
	// status, "body:" a hash of the delivery and the event's place in it
	// for what carries no id of its own.
	Key  string `json:"key"`
	Kind Kind   `json:"kind"`
	Raw  string `json:"raw,omitempty"` // KindUnsupported: the provider's type, e.g. "image", "reaction", "field:account_update", "entry_empty"

	PhoneNumberID string `json:"phone_number_id,omitempty"` // the business number that received it (metadata.phone_number_id)
	From          string `json:"from,omitempty"`            // the person's wa_id
	Name          string `json:"name,omitempty"`            // the person's profile name, when given
	MessageID     string `json:"message_id,omitempty"`      // the wamid of the message (the person's, or ours for a status)
	Time          int64  `json:"time,omitempty"`            // unix seconds, as the provider stamped it

	Text             string `json:"text,omitempty"`
	ReplyID          string `json:"reply_id,omitempty"`
	ReplyTitle       string `json:"reply_title,omitempty"`
	ReplyDescription string `json:"reply_description,omitempty"`
	Context          string `json:"context,omitempty"` // the wamid of the business message replied to, when given

	Status    Status          `json:"status,omitempty"`
	Recipient string          `json:"recipient,omitempty"` // a status: the person's wa_id
	Errors    []ProviderError `json:"errors,omitempty"`
}

// ProviderError is an error Meta reported in a webhook (a failed status,
// an unsupported message, or the change itself).
type ProviderError struct {
	Code    int    `json:"code"`
	Title   string `json:"title,omitempty"`
	Message string `json:"message,omitempty"`
	Details string `json:"details,omitempty"`
}

// ErrBadPayload is returned by Parse for a body that is not a webhook
// notification at all.
var ErrBadPayload = errors.New("whatsapp: not a webhook notification")

// The documented notification shape (messages webhook reference). Only
// the fields the gateway uses are decoded; the rest is ignored.
type notification struct {
	Object string  `json:"object"`
	Entry  []entry `json:"entry"`
}

type entry struct {
	ID      string   `json:"id"`
	Changes []change `json:"changes"`
}

type change struct {
	Field string `json:"field"`
	Value value  `json:"value"`
}

type value struct {
	Metadata struct {
		PhoneNumberID string `json:"phone_number_id"`
	} `json:"metadata"`
	Contacts []struct {
		WaID    string `json:"wa_id"`
		Profile struct {
			Name string `json:"name"`
		} `json:"profile"`
	} `json:"contacts"`
	Messages []message   `json:"messages"`
	Statuses []status    `json:"statuses"`
	Errors   []wireError `json:"errors"`
}

type message struct {
	From      string   `json:"from"`
	ID        string   `json:"id"`
	Timestamp flexTime `json:"timestamp"`
	Type      string   `json:"type"`
	Text      *struct {
		Body string `json:"body"`
	} `json:"text"`
	Interactive *struct {
		Type        string `json:"type"`
		ButtonReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply *struct {
			ID          string `json:"id"`
			Title       string `json:"title"`
			Description string `json:"description"`
		} `json:"list_reply"`
	} `json:"interactive"`
	Context *struct {
		ID string `json:"id"`
	} `json:"context"`
	Errors []wireError `json:"errors"`
}

type status struct {
	ID          string      `json:"id"`
	Status      string      `json:"status"`
	Timestamp   flexTime    `json:"timestamp"`
	RecipientID string      `json:"recipient_id"`
	Errors      []wireError `json:"errors"`
}

type wireError struct {
	Code      int    `json:"code"`
	Title     string `json:"title"`
	Message   string `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

// flexTime is a unix time as Meta sends it.
type flexTime = connector.UnixTime

func providerErrors(ws []wireError) []ProviderError {
	if len(ws) == 0 {
		return nil
	}
	out := make([]ProviderError, len(ws))
	for i, w := range ws {
		out[i] = ProviderError{Code: w.Code, Title: w.Title, Message: w.Message, Details: w.ErrorData.Details}
	}
	return out
}

// Parse turns a webhook body into events, in the order the body lists
// them. A body that parses as a notification always yields at least one
// event: an empty entry list, a change of another field, a message of a
// type the gateway does not handle and the errors Meta reports are all
// KindUnsupported events. Parse returns ErrBadPayload only for a body that
// is not a JSON object of the documented shape (the object must be
// "whatsapp_business_account").
func Parse(body []byte) ([]Event, error) {
	var n notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	if n.Object != "whatsapp_business_account" {
		return nil, fmt.Errorf("%w: object is %q, want \"whatsapp_business_account\"", ErrBadPayload, n.Object)
	}
	sum := sha256.Sum256(body)
	p := parser{hash: hex.EncodeToString(sum[:16])}
	if len(n.Entry) == 0 {
		p.other("entry_empty", "", nil)
	}
	for _, e := range n.Entry {
		if len(e.Changes) == 0 {
			p.other("changes_empty", "", nil)
		}
		for _, c := range e.Changes {
			p.change(c)
		}
	}
	return p.out, nil
}

type parser struct {
	hash string
	out  []Event
}

// other records an event without an id of its own.
func (p *parser) other(raw, phone string, errs []ProviderError) {
	p.out = append(p.out, Event{
		Key:           fmt.Sprintf("body:%s:%d", p.hash, len(p.out)),
		Kind:          KindUnsupported,
		Raw:           raw,
		PhoneNumberID: phone,
		Errors:        errs,
	})
}

func (p *parser) change(c change) {
	v := c.Value
	phone := v.Metadata.PhoneNumberID
	if c.Field != "messages" {
		p.other("field:"+c.Field, phone, nil)
		return
	}
	names := make(map[string]string, len(v.Contacts))
	for _, ct := range v.Contacts {
		names[ct.WaID] = ct.Profile.Name
	}
	for _, m := range v.Messages {
		p.message(m, phone, names[m.From])
	}
	for _, s := range v.Statuses {
		p.status(s, phone)
	}
	if len(v.Errors) > 0 {
		p.other("errors", phone, providerErrors(v.Errors))
	}
	if len(v.Messages) == 0 && len(v.Statuses) == 0 && len(v.Errors) == 0 {
		p.other("messages_empty", phone, nil)
	}
}

func (p *parser) message(m message, phone, name string) {
	e := Event{
		Kind:          KindUnsupported,
		Raw:           m.Type,
		PhoneNumberID: phone,
		From:          m.From,
		Name:          name,
		MessageID:     m.ID,
		Time:          int64(m.Timestamp),
		Errors:        providerErrors(m.Errors),
	}
	if m.Context != nil {
		e.Context = m.Context.ID
	}
	switch {
	case m.Type == "text" && m.Text != nil:
		e.Kind, e.Raw, e.Text = KindText, "", m.Text.Body
	case m.Type == "interactive" && m.Interactive != nil:
		in := m.Interactive
		switch {
		case in.Type == "button_reply" && in.ButtonReply != nil:
			e.Kind, e.Raw = KindButtonReply, ""
			e.ReplyID, e.ReplyTitle = in.ButtonReply.ID, in.ButtonReply.Title
		case in.Type == "list_reply" && in.ListReply != nil:
			e.Kind, e.Raw = KindListReply, ""
			e.ReplyID, e.ReplyTitle, e.ReplyDescription = in.ListReply.ID, in.ListReply.Title, in.ListReply.Description
		default:
			e.Raw = "interactive:" + in.Type
		}
	}
	if e.Kind == KindUnsupported && e.Raw == "" {
		e.Raw = "untyped"
	}
	if m.ID == "" {
		e.Key = fmt.Sprintf("body:%s:%d", p.hash, len(p.out))
	} else {
		e.Key = "msg:" + m.ID
	}
	p.out = append(p.out, e)
}

func (p *parser) status(s status, phone string) {
	e := Event{
		Kind:          KindStatus,
		PhoneNumberID: phone,
		MessageID:     s.ID,
		Time:          int64(s.Timestamp),
		Status:        Status(s.Status),
		Recipient:     s.RecipientID,
		Errors:        providerErrors(s.Errors),
	}
	switch e.Status {
	case StatusSent, StatusDelivered, StatusRead, StatusFailed:
	default:
		e.Kind, e.Raw = KindUnsupported, "status:"+s.Status
	}
	if s.ID == "" {
		e.Key = fmt.Sprintf("body:%s:%d", p.hash, len(p.out))
	} else {
		e.Key = "status:" + s.ID + ":" + s.Status
	}
	p.out = append(p.out, e)
}
