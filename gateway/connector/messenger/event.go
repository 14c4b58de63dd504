package messenger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/passerelle/passerelle/gateway/connector"
)

// Network is which of Meta's networks a connection serves. Both speak the
// Messenger Platform: the same webhook and Send API shapes, with the
// differences this package notes where they matter.
type Network string

// The networks, named by the object their webhooks carry.
const (
	Messenger Network = "page"      // a Facebook Page; people are PSIDs
	Instagram Network = "instagram" // an Instagram professional account; people are IGSIDs
)

func (n Network) valid() bool { return n == Messenger || n == Instagram }

// Kind is what an Event is.
type Kind string

// Kinds of events. Everything else Meta sends is KindUnsupported with its
// own name in Event.Raw, so nothing is dropped without a trace.
const (
	KindText        Kind = "text"        // a person wrote text (Event.Text)
	KindQuickReply  Kind = "quick_reply" // a person tapped a quick reply (Event.Payload, Text is its title)
	KindPostback    Kind = "postback"    // a person tapped a postback button (Event.Payload, Title)
	KindOptin       Kind = "optin"       // a person answered a notification opt-in (Event.Optin)
	KindRead        Kind = "read"        // the person read our messages up to Event.Watermark (or MessageID on Instagram)
	KindDelivery    Kind = "delivery"    // our messages were delivered (Event.MessageIDs, Watermark)
	KindReaction    Kind = "reaction"    // a person reacted to a message (Event.Reaction)
	KindEcho        Kind = "echo"        // a copy of a message the business sent (from any app or the Page inbox)
	KindUnsupported Kind = "unsupported" // anything else (Event.Raw names it)
)

// Event is one thing a webhook reported, in the terms the gateway needs.
type Event struct {
	// Key identifies the event across redeliveries: "mid:" and the
	// message id for a person's message, "echo:" the mid for an echo,
	// "postback:" the mid for a postback that has one, "read:" or
	// "delivery:" the sender and the watermark, "reaction:" the mid, the
	// person, the action and the reaction; "body:" a hash of the delivery
	// and the event's place in it for what carries no id of its own.
	Key     string  `json:"key"`
	Network Network `json:"network"`
	Kind    Kind    `json:"kind"`
	Raw     string  `json:"raw,omitempty"` // KindUnsupported: e.g. "attachment:image", "standby", "field:comments", "entry_empty"

	AccountID string `json:"account_id,omitempty"` // the Page or Instagram account (entry.id)
	Sender    string `json:"sender,omitempty"`     // sender.id: the person's PSID or IGSID (the business's for an echo)
	Recipient string `json:"recipient,omitempty"`  // recipient.id
	Time      int64  `json:"time,omitempty"`       // unix milliseconds, as Meta stamped it

	MessageID  string   `json:"message_id,omitempty"`  // mid of the message (the person's, ours for an echo, the one reacted to)
	MessageIDs []string `json:"message_ids,omitempty"` // a delivery: the mids delivered (Meta may omit them)
	Watermark  int64    `json:"watermark,omitempty"`   // read and delivery: every message before this time (ms)
	Text       string   `json:"text,omitempty"`
	Payload    string   `json:"payload,omitempty"` // a quick reply's or postback's payload, or an opt-in's
	Title      string   `json:"title,omitempty"`   // a postback's button title, an opt-in's title
	ReplyTo    string   `json:"reply_to,omitempty"`
	AppID      string   `json:"app_id,omitempty"` // an echo: the app that sent it (empty from the Page inbox)

	Reaction *Reaction `json:"reaction,omitempty"`
	Optin    *Optin    `json:"optin,omitempty"`
}

// Reaction is a messaging_reactions event.
type Reaction struct {
	Action   string `json:"action"`             // "react" or "unreact"
	Reaction string `json:"reaction,omitempty"` // e.g. "love", "smile"
	Emoji    string `json:"emoji,omitempty"`
}

// Optin is a messaging_optins event: a person accepted (or stopped, or
// resumed) notification messages, or tapped a plugin.
type Optin struct {
	Type        string `json:"type,omitempty"`         // "notification_messages", "one_time_notif_req"; empty for a plugin
	Ref         string `json:"ref,omitempty"`          // a plugin's data-ref
	Token       string `json:"token,omitempty"`        // notification_messages_token or one_time_notif_token: what a send outside the window needs
	Frequency   string `json:"frequency,omitempty"`    // DAILY, WEEKLY, MONTHLY
	Timezone    string `json:"timezone,omitempty"`     // the person's timezone id
	TokenExpiry int64  `json:"token_expiry,omitempty"` // ms
	Status      string `json:"status,omitempty"`       // "STOP NOTIFICATIONS" or "RESUME NOTIFICATIONS" when the person changed it
	TokenStatus string `json:"token_status,omitempty"` // REFRESHED, NOT_REFRESHED
}

// ErrBadPayload is returned by Parse for a body that is not a webhook
// notification of the Messenger Platform at all.
var ErrBadPayload = errors.New("messenger: not a Messenger Platform webhook notification")

// The documented notification shape (Messenger Platform webhook events;
// Instagram messaging webhooks). Only the fields used are decoded.
type notification struct {
	Object string  `json:"object"`
	Entry  []entry `json:"entry"`
}

type entry struct {
	ID        string      `json:"id"`
	Messaging []messaging `json:"messaging"`
	Standby   []messaging `json:"standby"`
	Changes   []struct {
		Field string `json:"field"`
	} `json:"changes"`
}

type idObj struct {
	ID string `json:"id"`
}

type messaging struct {
	Sender    idObj    `json:"sender"`
	Recipient idObj    `json:"recipient"`
	Timestamp flexTime `json:"timestamp"`
	Message   *struct {
		MID        string `json:"mid"`
		Text       string `json:"text"`
		IsEcho     bool   `json:"is_echo"`
		AppID      flexID `json:"app_id"`
		IsDeleted  bool   `json:"is_deleted"`
		QuickReply *struct {
			Payload string `json:"payload"`
		} `json:"quick_reply"`
		ReplyTo *struct {
			MID string `json:"mid"`
		} `json:"reply_to"`
		Attachments []struct {
			Type string `json:"type"`
		} `json:"attachments"`
	} `json:"message"`
	Postback *struct {
		MID     string `json:"mid"`
		Title   string `json:"title"`
		Payload string `json:"payload"`
	} `json:"postback"`
	Optin *struct {
		Type        string   `json:"type"`
		Ref         string   `json:"ref"`
		Payload     string   `json:"payload"`
		Title       string   `json:"title"`
		NMToken     string   `json:"notification_messages_token"`
		OTNToken    string   `json:"one_time_notif_token"`
		Frequency   string   `json:"notification_messages_frequency"`
		Timezone    string   `json:"notification_messages_timezone"`
		TokenExpiry flexTime `json:"token_expiry_timestamp"`
		TokenStatus string   `json:"user_token_status"`
		Status      string   `json:"notification_messages_status"`
	} `json:"optin"`
	Read *struct {
		Watermark flexTime `json:"watermark"`
		MID       string   `json:"mid"`
	} `json:"read"`
	Delivery *struct {
		MIDs      []string `json:"mids"`
		Watermark flexTime `json:"watermark"`
	} `json:"delivery"`
	Reaction *struct {
		MID      string `json:"mid"`
		Action   string `json:"action"`
		Reaction string `json:"reaction"`
		Emoji    string `json:"emoji"`
	} `json:"reaction"`
	// Other events Meta documents, recognised by name only.
	Referral       json.RawMessage `json:"referral"`
	AccountLinking json.RawMessage `json:"account_linking"`
	PassThread     json.RawMessage `json:"pass_thread_control"`
	TakeThread     json.RawMessage `json:"take_thread_control"`
	Policy         json.RawMessage `json:"policy_enforcement"`
	Edit           json.RawMessage `json:"message_edit"`
}

// flexTime is a unix time as Meta sends it.
type flexTime = connector.UnixTime

// flexID is an id Meta sends as a number or a string.
type flexID string

func (id *flexID) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) != nil {
		s = string(b)
	}
	*id = flexID(s)
	return nil
}

// Parse turns a webhook body into events, in the order the body lists
// them. A body that parses as a notification always yields at least one
// event: an empty entry list, an entry without messaging, standby events
// (the conversation belongs to another app), changes fields, attachments,
// deleted messages and event types this package does not type are all
// KindUnsupported. Parse returns ErrBadPayload only for a body that is not
// a JSON object of the documented shape with object "page" or "instagram".
func Parse(body []byte) ([]Event, error) {
	var n notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	net := Network(n.Object)
	if !net.valid() {
		return nil, fmt.Errorf("%w: object is %q, want \"page\" (Messenger) or \"instagram\"", ErrBadPayload, n.Object)
	}
	sum := sha256.Sum256(body)
	p := parser{net: net, hash: hex.EncodeToString(sum[:16])}
	if len(n.Entry) == 0 {
		p.other(Event{Raw: "entry_empty"})
	}
	for _, e := range n.Entry {
		if len(e.Messaging) == 0 && len(e.Standby) == 0 && len(e.Changes) == 0 {
			p.other(Event{Raw: "messaging_empty", AccountID: e.ID})
		}
		for _, m := range e.Messaging {
			p.messaging(e.ID, m)
		}
		for _, m := range e.Standby {
			p.other(Event{Raw: "standby", AccountID: e.ID, Sender: m.Sender.ID, Recipient: m.Recipient.ID, Time: int64(m.Timestamp)})
		}
		for _, c := range e.Changes {
			p.other(Event{Raw: "field:" + c.Field, AccountID: e.ID})
		}
	}
	return p.out, nil
}

type parser struct {
	net  Network
	hash string
	out  []Event
}

// other records an unsupported event that has no id of its own.
func (p *parser) other(e Event) {
	e.Kind = KindUnsupported
	p.add(e, "")
}

// add records e under key, or under the body's hash and e's place when
// key is empty.
func (p *parser) add(e Event, key string) {
	e.Network = p.net
	if key == "" {
		key = fmt.Sprintf("body:%s:%d", p.hash, len(p.out))
	}
	e.Key = key
	p.out = append(p.out, e)
}

func (p *parser) messaging(account string, m messaging) {
	e := Event{
		Kind:      KindUnsupported,
		AccountID: account,
		Sender:    m.Sender.ID,
		Recipient: m.Recipient.ID,
		Time:      int64(m.Timestamp),
	}
	switch {
	case m.Message != nil:
		msg := m.Message
		e.MessageID, e.Text = msg.MID, msg.Text
		if msg.ReplyTo != nil {
			e.ReplyTo = msg.ReplyTo.MID
		}
		key := ""
		if msg.MID != "" {
			key = "mid:" + msg.MID
		}
		switch {
		case msg.IsEcho:
			e.Kind, e.AppID = KindEcho, string(msg.AppID)
			if msg.MID != "" {
				key = "echo:" + msg.MID
			}
		case msg.IsDeleted:
			e.Raw = "message_deleted"
			if msg.MID != "" {
				key = "deleted:" + msg.MID
			}
		case msg.QuickReply != nil:
			e.Kind, e.Payload = KindQuickReply, msg.QuickReply.Payload
		case len(msg.Attachments) > 0:
			e.Raw = "attachment:" + msg.Attachments[0].Type
		case msg.Text != "":
			e.Kind = KindText
		default:
			e.Raw = "message_untyped"
		}
		p.add(e, key)
	case m.Postback != nil:
		e.Kind, e.MessageID, e.Title, e.Payload = KindPostback, m.Postback.MID, m.Postback.Title, m.Postback.Payload
		key := ""
		if m.Postback.MID != "" {
			key = "postback:" + m.Postback.MID
		}
		p.add(e, key)
	case m.Optin != nil:
		o := m.Optin
		e.Kind, e.Payload, e.Title = KindOptin, o.Payload, o.Title
		e.Optin = &Optin{
			Type: o.Type, Ref: o.Ref, Token: o.NMToken, Frequency: o.Frequency, Timezone: o.Timezone,
			TokenExpiry: int64(o.TokenExpiry), Status: o.Status, TokenStatus: o.TokenStatus,
		}
		if e.Optin.Token == "" {
			e.Optin.Token = o.OTNToken
		}
		key := ""
		if e.Sender != "" && e.Time != 0 {
			key = fmt.Sprintf("optin:%s:%d:%s:%s", e.Sender, e.Time, o.Type, o.Status)
		}
		p.add(e, key)
	case m.Read != nil:
		e.Kind, e.Watermark, e.MessageID = KindRead, int64(m.Read.Watermark), m.Read.MID
		key := ""
		switch {
		case e.Watermark != 0:
			key = fmt.Sprintf("read:%s:%d", e.Sender, e.Watermark)
		case e.MessageID != "":
			key = "read:" + e.Sender + ":" + e.MessageID
		}
		p.add(e, key)
	case m.Delivery != nil:
		e.Kind, e.Watermark, e.MessageIDs = KindDelivery, int64(m.Delivery.Watermark), m.Delivery.MIDs
		key := ""
		if e.Watermark != 0 {
			key = fmt.Sprintf("delivery:%s:%d", e.Sender, e.Watermark)
		}
		p.add(e, key)
	case m.Reaction != nil:
		r := m.Reaction
		e.Kind, e.MessageID = KindReaction, r.MID
		e.Reaction = &Reaction{Action: r.Action, Reaction: r.Reaction, Emoji: r.Emoji}
		key := ""
		if r.MID != "" {
			key = fmt.Sprintf("reaction:%s:%s:%s:%s:%d", r.MID, e.Sender, r.Action, r.Reaction, e.Time)
		}
		p.add(e, key)
	default:
		e.Raw = otherName(m)
		p.add(e, "")
	}
}

// otherName names a messaging event this package does not type.
func otherName(m messaging) string {
	switch {
	case m.Referral != nil:
		return "referral"
	case m.AccountLinking != nil:
		return "account_linking"
	case m.PassThread != nil:
		return "pass_thread_control"
	case m.TakeThread != nil:
		return "take_thread_control"
	case m.Policy != nil:
		return "policy_enforcement"
	case m.Edit != nil:
		return "message_edit"
	}
	return "messaging_unknown"
}
