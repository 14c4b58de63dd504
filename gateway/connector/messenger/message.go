package messenger

import (
	"fmt"
	"unicode/utf8"
)

// MessagingType is the messaging_type of a send.
type MessagingType string

// Messaging types the Send API documents.
const (
	Response   MessagingType = "RESPONSE"    // an answer within 24 hours of the person's last message
	Update     MessagingType = "UPDATE"      // a message the business starts, within the 24 hours
	MessageTag MessagingType = "MESSAGE_TAG" // outside the 24 hours, under a Tag
)

// Tag is the tag of a MESSAGE_TAG send.
type Tag string

// Tags the Send API documents. HumanAgent is the one Instagram accepts:
// a person may answer up to 7 days after the person's last message.
const (
	HumanAgent           Tag = "HUMAN_AGENT"
	ConfirmedEventUpdate Tag = "CONFIRMED_EVENT_UPDATE"
	PostPurchaseUpdate   Tag = "POST_PURCHASE_UPDATE"
	AccountUpdate        Tag = "ACCOUNT_UPDATE"
)

// Limits of the Send API (characters unless said otherwise).
const (
	MaxText            = 2000 // a text message on Messenger
	MaxInstagramText   = 1000 // a text message on Instagram, in bytes of UTF-8
	MaxQuickReplies    = 13
	MaxQuickReplyTitle = 20
	MaxPayload         = 1000 // a quick reply's or postback button's payload
	MaxElements        = 10   // generic template elements (a carousel)
	MaxElementTitle    = 80
	MaxElementSubtitle = 80
	MaxButtons         = 3
	MaxButtonTitle     = 20
	MaxOptinTitle      = 65 // an opt-in request's title
)

// Message is what a send carries: text (with optional quick replies), a
// generic template (cards, with optional quick replies) or the opt-in
// request of notification messages.
type Message struct {
	Type MessagingType // Response if empty
	Tag  Tag           // required with MessageTag, refused otherwise
	// Token, when set, addresses the message by the person's
	// notification messages token (recipient.notification_messages_token)
	// instead of their PSID: a message of the topic they opted in to,
	// outside the 24-hour window. It goes without a messaging_type.
	Token string

	Text         string
	Cards        []Card // a generic template instead of text
	QuickReplies []QuickReply
	// OptinRequest, instead of text or cards, is the opt-in request
	// (template_type notification_messages).
	OptinRequest *OptinRequest
}

// OptinRequest is Messenger's opt-in request for notification messages
// (the marketing messages opt-in): a card naming the topic with a button;
// a tap sends a messaging_optins webhook with the person's token, Payload
// and Title (Event.Optin).
type OptinRequest struct {
	Title     string // the topic, at most MaxOptinTitle characters
	Payload   string // comes back in the opt-in webhook, at most MaxPayload
	ImageURL  string // optional
	Frequency string // optional: DAILY, WEEKLY or MONTHLY
	Timezone  string // optional: the person's timezone id
	CTAText   string // optional: ALLOW, FREQUENCY, GET, OPT_IN or SIGN_UP (the button's words)
}

// QuickReply is a text quick reply: Title is posted back as the person's
// message, Payload comes with it in the webhook.
type QuickReply struct {
	Title   string
	Payload string
}

// Card is an element of a generic template.
type Card struct {
	Title    string
	Subtitle string
	ImageURL string
	Buttons  []Button
}

// Button is a postback button (Payload) or a URL button (URL).
type Button struct {
	Title   string
	Payload string
	URL     string
}

// LimitError is a message that breaks a documented limit; it is not sent.
type LimitError struct {
	Field string // e.g. "quick_replies[2].title"
	Limit string // e.g. "at most 20 characters"
	Got   string // e.g. "23 characters"
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("messenger: %s must have %s, has %s; shorten it or send a numbered menu instead", e.Field, e.Limit, e.Got)
}

func runes(field string, s string, min, max int) error {
	n := utf8.RuneCountInString(s)
	if n < min || n > max {
		lim := fmt.Sprintf("%d to %d characters", min, max)
		if min == 0 {
			lim = fmt.Sprintf("at most %d characters", max)
		}
		return &LimitError{Field: field, Limit: lim, Got: fmt.Sprintf("%d characters", n)}
	}
	return nil
}

func count(field string, n, min, max int) error {
	if n < min || n > max {
		return &LimitError{Field: field, Limit: fmt.Sprintf("%d to %d items", min, max), Got: fmt.Sprintf("%d", n)}
	}
	return nil
}

// validate checks m for the network against the documented limits.
func (m Message) validate(net Network) error {
	switch m.Type {
	case "", Response, Update:
		if m.Tag != "" {
			return &LimitError{Field: "tag", Limit: "no tag unless messaging_type is MESSAGE_TAG", Got: string(m.Tag)}
		}
	case MessageTag:
		switch m.Tag {
		case HumanAgent:
		case ConfirmedEventUpdate, PostPurchaseUpdate, AccountUpdate:
			if net == Instagram {
				return &LimitError{Field: "tag", Limit: "HUMAN_AGENT on Instagram", Got: string(m.Tag)}
			}
		default:
			return &LimitError{Field: "tag", Limit: "one of HUMAN_AGENT, CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE, ACCOUNT_UPDATE", Got: fmt.Sprintf("%q", m.Tag)}
		}
	default:
		return &LimitError{Field: "messaging_type", Limit: "RESPONSE, UPDATE or MESSAGE_TAG", Got: string(m.Type)}
	}
	if m.Token != "" && (m.Type != "" || m.Tag != "") {
		return &LimitError{Field: "messaging_type", Limit: "none with a notification messages token", Got: string(m.Type) + string(m.Tag)}
	}
	if r := m.OptinRequest; r != nil {
		switch {
		case m.Text != "" || len(m.Cards) > 0 || len(m.QuickReplies) > 0:
			return &LimitError{Field: "message", Limit: "an opt-in request alone", Got: "text, cards or quick replies beside it"}
		case m.Token != "":
			return &LimitError{Field: "recipient", Limit: "the person's PSID for an opt-in request", Got: "a notification messages token"}
		}
		if err := runes("attachment.payload.title", r.Title, 1, MaxOptinTitle); err != nil {
			return err
		}
		if err := runes("attachment.payload.payload", r.Payload, 0, MaxPayload); err != nil {
			return err
		}
		switch r.Frequency {
		case "", "DAILY", "WEEKLY", "MONTHLY":
		default:
			return &LimitError{Field: "notification_messages_frequency", Limit: "DAILY, WEEKLY or MONTHLY", Got: r.Frequency}
		}
		switch r.CTAText {
		case "", "ALLOW", "FREQUENCY", "GET", "OPT_IN", "SIGN_UP":
		default:
			return &LimitError{Field: "notification_messages_cta_text", Limit: "ALLOW, FREQUENCY, GET, OPT_IN or SIGN_UP", Got: r.CTAText}
		}
		return nil
	}
	switch {
	case m.Text != "" && len(m.Cards) > 0:
		return &LimitError{Field: "message", Limit: "either text or cards", Got: "both"}
	case m.Text == "" && len(m.Cards) == 0:
		return &LimitError{Field: "message.text", Limit: "1 or more characters (or cards)", Got: "none"}
	case m.Text != "":
		if net == Instagram {
			if len(m.Text) > MaxInstagramText {
				return &LimitError{Field: "message.text", Limit: fmt.Sprintf("at most %d bytes on Instagram", MaxInstagramText), Got: fmt.Sprintf("%d bytes", len(m.Text))}
			}
		} else if err := runes("message.text", m.Text, 1, MaxText); err != nil {
			return err
		}
	default:
		if err := count("elements", len(m.Cards), 1, MaxElements); err != nil {
			return err
		}
		for i, c := range m.Cards {
			if err := runes(fmt.Sprintf("elements[%d].title", i), c.Title, 1, MaxElementTitle); err != nil {
				return err
			}
			if err := runes(fmt.Sprintf("elements[%d].subtitle", i), c.Subtitle, 0, MaxElementSubtitle); err != nil {
				return err
			}
			if err := count(fmt.Sprintf("elements[%d].buttons", i), len(c.Buttons), 0, MaxButtons); err != nil {
				return err
			}
			for j, b := range c.Buttons {
				f := fmt.Sprintf("elements[%d].buttons[%d]", i, j)
				if err := runes(f+".title", b.Title, 1, MaxButtonTitle); err != nil {
					return err
				}
				if (b.URL == "") == (b.Payload == "") {
					return &LimitError{Field: f, Limit: "either a payload (postback) or a url", Got: "neither or both"}
				}
				if err := runes(f+".payload", b.Payload, 0, MaxPayload); err != nil {
					return err
				}
			}
		}
	}
	if len(m.QuickReplies) > 0 {
		if err := count("quick_replies", len(m.QuickReplies), 1, MaxQuickReplies); err != nil {
			return err
		}
		for i, q := range m.QuickReplies {
			if err := runes(fmt.Sprintf("quick_replies[%d].title", i), q.Title, 1, MaxQuickReplyTitle); err != nil {
				return err
			}
			if err := runes(fmt.Sprintf("quick_replies[%d].payload", i), q.Payload, 1, MaxPayload); err != nil {
				return err
			}
		}
	}
	return nil
}

// payload is the request body of m to the person with id to.
func (m Message) payload(to string) map[string]any {
	typ := m.Type
	if typ == "" {
		typ = Response
	}
	msg := map[string]any{}
	if r := m.OptinRequest; r != nil {
		p := map[string]any{"template_type": "notification_messages", "title": r.Title}
		for k, v := range map[string]string{"payload": r.Payload, "image_url": r.ImageURL, "notification_messages_frequency": r.Frequency,
			"notification_messages_timezone": r.Timezone, "notification_messages_cta_text": r.CTAText} {
			if v != "" {
				p[k] = v
			}
		}
		msg["attachment"] = map[string]any{"type": "template", "payload": p}
	} else if m.Text != "" {
		msg["text"] = m.Text
	} else {
		els := make([]any, len(m.Cards))
		for i, c := range m.Cards {
			el := map[string]any{"title": c.Title}
			if c.Subtitle != "" {
				el["subtitle"] = c.Subtitle
			}
			if c.ImageURL != "" {
				el["image_url"] = c.ImageURL
			}
			if len(c.Buttons) > 0 {
				bs := make([]any, len(c.Buttons))
				for j, b := range c.Buttons {
					if b.URL != "" {
						bs[j] = map[string]any{"type": "web_url", "title": b.Title, "url": b.URL}
					} else {
						bs[j] = map[string]any{"type": "postback", "title": b.Title, "payload": b.Payload}
					}
				}
				el["buttons"] = bs
			}
			els[i] = el
		}
		msg["attachment"] = map[string]any{"type": "template", "payload": map[string]any{"template_type": "generic", "elements": els}}
	}
	if len(m.QuickReplies) > 0 {
		qs := make([]any, len(m.QuickReplies))
		for i, q := range m.QuickReplies {
			qs[i] = map[string]any{"content_type": "text", "title": q.Title, "payload": q.Payload}
		}
		msg["quick_replies"] = qs
	}
	body := map[string]any{
		"recipient":      map[string]any{"id": to},
		"messaging_type": string(typ),
		"message":        msg,
	}
	if m.Token != "" {
		body["recipient"] = map[string]any{"notification_messages_token": m.Token}
		delete(body, "messaging_type")
	}
	if m.Tag != "" {
		body["tag"] = string(m.Tag)
	}
	return body
}
