package metasim

import (
	"cmp"
	"encoding/json"
	"strconv"
	"time"
)

// Network is one of the networks the simulator plays.
type Network string

// The networks.
const (
	WhatsApp  Network = "whatsapp"
	Messenger Network = "messenger"
	Instagram Network = "instagram"
)

// object is the "object" of the network's webhook notifications.
func (n Network) object() string {
	switch n {
	case WhatsApp:
		return "whatsapp_business_account"
	case Instagram:
		return "instagram"
	}
	return "page"
}

func (n Network) valid() bool { return n == WhatsApp || n == Messenger || n == Instagram }

// Account is a business account the simulator plays: a WhatsApp business
// number, a Facebook Page or an Instagram professional account.
type Account struct {
	Network Network
	// ID is the phone number id (WhatsApp), the Page id (Messenger) or
	// the Instagram account id: the node of the Send API's path and the
	// id webhooks name the business by.
	ID string
	// BusinessID is the WhatsApp Business Account (WABA) id: the entry.id
	// of WhatsApp notifications and the node of message_templates. ID is
	// used when empty.
	BusinessID string
	// DisplayPhone is the business number as people see it (WhatsApp's
	// metadata.display_phone_number, digits only).
	DisplayPhone string
	Name         string // the business's name on the phone pages
	Token        string // the access token the Send API accepts
	AppSecret    string // the Meta app's secret that signs the webhooks
	WebhookURL   string // where the webhooks go; none are posted when empty
}

func (a Account) wabaID() string {
	if a.BusinessID != "" {
		return a.BusinessID
	}
	return a.ID
}

// Entry is one entry of a webhook notification, of one network; entries
// of one network are posted together when the simulator batches them.
type Entry struct {
	Network Network
	JSON    json.RawMessage
}

// Notification returns the body of a webhook notification carrying
// entries, which must all be of one network: {"object", "entry": [...]}.
func Notification(entries ...Entry) []byte {
	var n struct {
		Object string            `json:"object"`
		Entry  []json.RawMessage `json:"entry"`
	}
	n.Entry = []json.RawMessage{}
	for _, e := range entries {
		n.Object = e.Network.object()
		n.Entry = append(n.Entry, e.JSON)
	}
	b, _ := json.Marshal(n)
	return b
}

// Reply is an option a person picked: a reply button or a list row.
type Reply struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// WAMessage is a person's message to a WhatsApp business number, as the
// messages webhook reports it: text, or the reply button or list row the
// person tapped (with Context, the business message it belonged to).
type WAMessage struct {
	ID      string // the wamid
	From    string // the person's wa_id
	Name    string // the person's profile name
	Time    time.Time
	Text    string
	Button  *Reply // interactive button_reply
	List    *Reply // interactive list_reply
	Image   *Image // an image (the connectors do not handle media)
	Context string // the wamid of the business message the reply answers
}

// Image is a photo a person sent: WhatsApp's media id and SHA-256 (with
// Text as its caption), or Messenger's attachment URL.
type Image struct {
	ID       string `json:"-"`
	SHA256   string `json:"-"`
	MimeType string `json:"-"`
	URL      string `json:"-"`
}

type waMetadata struct {
	Display string `json:"display_phone_number"`
	PhoneID string `json:"phone_number_id"`
}

type waContact struct {
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
	WaID string `json:"wa_id"`
}

type waValue struct {
	Product  string      `json:"messaging_product"`
	Metadata waMetadata  `json:"metadata"`
	Contacts []waContact `json:"contacts,omitempty"`
	Messages []any       `json:"messages,omitempty"`
	Statuses []any       `json:"statuses,omitempty"`
}

func waEntry(a Account, v waValue) Entry {
	v.Product = "whatsapp"
	v.Metadata = waMetadata{Display: a.DisplayPhone, PhoneID: a.ID}
	type change struct {
		Field string  `json:"field"`
		Value waValue `json:"value"`
	}
	b, _ := json.Marshal(struct {
		ID      string   `json:"id"`
		Changes []change `json:"changes"`
	}{a.wabaID(), []change{{"messages", v}}})
	return Entry{Network: WhatsApp, JSON: b}
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// WhatsAppMessage returns the entry of a messages change reporting m to
// the business number a, with the person's contact (the shape of the
// messages webhook reference).
func WhatsAppMessage(a Account, m WAMessage) Entry {
	c := waContact{WaID: m.From}
	c.Profile.Name = m.Name
	type context struct {
		From string `json:"from"`
		ID   string `json:"id"`
	}
	type text struct {
		Body string `json:"body"`
	}
	type interactive struct {
		Type   string `json:"type"`
		Button *Reply `json:"button_reply,omitempty"`
		List   *Reply `json:"list_reply,omitempty"`
	}
	type image struct {
		Caption  string `json:"caption,omitempty"`
		MimeType string `json:"mime_type"`
		SHA256   string `json:"sha256"`
		ID       string `json:"id"`
	}
	msg := struct {
		Context     *context     `json:"context,omitempty"`
		From        string       `json:"from"`
		ID          string       `json:"id"`
		Timestamp   string       `json:"timestamp"`
		Type        string       `json:"type"`
		Text        *text        `json:"text,omitempty"`
		Interactive *interactive `json:"interactive,omitempty"`
		Image       *image       `json:"image,omitempty"`
	}{From: m.From, ID: m.ID, Timestamp: unix(m.Time)}
	switch {
	case m.Button != nil:
		msg.Type, msg.Interactive = "interactive", &interactive{Type: "button_reply", Button: m.Button}
	case m.List != nil:
		msg.Type, msg.Interactive = "interactive", &interactive{Type: "list_reply", List: m.List}
	case m.Image != nil:
		msg.Type, msg.Image = "image", &image{Caption: m.Text, MimeType: m.Image.MimeType, SHA256: m.Image.SHA256, ID: m.Image.ID}
	default:
		msg.Type, msg.Text = "text", &text{m.Text}
	}
	if m.Context != "" {
		msg.Context = &context{From: a.DisplayPhone, ID: m.Context}
	}
	return waEntry(a, waValue{Contacts: []waContact{c}, Messages: []any{msg}})
}

// WAStatus is a change of state of a message the business sent.
type WAStatus struct {
	ID        string // the wamid the send was answered with
	Status    string // sent, delivered, read, failed
	Recipient string // the person's wa_id
	Time      time.Time
	Category  string // the pricing category: service, utility, marketing, authentication
	Error     *StatusError
}

// StatusError is the error of a failed status.
type StatusError struct {
	Code    int    `json:"code"`
	Title   string `json:"title"`
	Message string `json:"message"`
	Details string `json:"-"`
}

// WhatsAppStatus returns the entry of a messages change reporting s (the
// shape of the status webhook reference: pricing with sent, delivered and
// read, errors with failed).
func WhatsAppStatus(a Account, s WAStatus) Entry {
	type pricing struct {
		Billable bool   `json:"billable"`
		Model    string `json:"pricing_model"`
		Type     string `json:"type"`
		Category string `json:"category"`
	}
	type errorData struct {
		Details string `json:"details"`
	}
	type wireError struct {
		StatusError
		ErrorData errorData `json:"error_data"`
		Href      string    `json:"href"`
	}
	st := struct {
		ID        string      `json:"id"`
		Status    string      `json:"status"`
		Timestamp string      `json:"timestamp"`
		Recipient string      `json:"recipient_id"`
		Pricing   *pricing    `json:"pricing,omitempty"`
		Errors    []wireError `json:"errors,omitempty"`
	}{ID: s.ID, Status: s.Status, Timestamp: unix(s.Time), Recipient: s.Recipient}
	if s.Error != nil {
		st.Errors = []wireError{{*s.Error, errorData{s.Error.Details}, "https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/"}}
	} else {
		cat := s.Category
		if cat == "" {
			cat = "service"
		}
		// Service conversations are free; the others are billed per message.
		st.Pricing = &pricing{Billable: cat != "service", Model: "PMP", Type: "regular", Category: cat}
		if cat == "service" {
			st.Pricing.Type = "free_customer_service"
		}
	}
	return waEntry(a, waValue{Statuses: []any{st}})
}

// MsgrEvent is one messaging event of a Messenger or Instagram webhook,
// from a person to the account: a message (Text, with QuickReply's
// payload when the person tapped one), a postback, a delivery of the
// business's messages or a read.
type MsgrEvent struct {
	From       string // the person's PSID or IGSID
	Time       time.Time
	MID        string // a message's or postback's id
	Text       string
	QuickReply string    // the payload of the quick reply tapped
	Image      *Image    // a photo (Image.URL) instead of text
	Postback   *Postback // a postback button tapped
	Delivered  []string  // a delivery: the mids delivered (Messenger only)
	Watermark  time.Time // delivery and Messenger's read: everything before it
	Read       bool      // a read: Watermark on Messenger; ReadMID on Instagram
	ReadMID    string
	EntryTime  time.Time // the entry's time (Meta's time of the update); Time if zero
	Optin      *Optin    // a messaging_optins event: the person opted in to, stopped or resumed notification messages
	// Echo makes the event a message echo: a copy of a message the
	// business sent to the person (From) with Text, from the app AppID
	// (message_echoes: the sender is the account, the recipient the
	// person, the message has is_echo and app_id).
	Echo  bool
	AppID string
}

// Optin is a person's notification messages opt-in as the
// messaging_optins webhook reports it: the token a send outside the
// window is addressed by, the topic (Title) and the Payload of the
// opt-in request, the token's expiry, and Status when the person stopped
// or resumed the notifications.
type Optin struct {
	Token       string
	Title       string
	Payload     string
	Frequency   string    // DAILY, WEEKLY, MONTHLY
	Timezone    string    // the person's timezone id
	Expiry      time.Time // token_expiry_timestamp
	Status      string    // "", "STOP NOTIFICATIONS" or "RESUME NOTIFICATIONS"
	TokenStatus string    // user_token_status: REFRESHED or NOT_REFRESHED
}

// PageInboxAppID is the app id the simulator's echoes carry for a message
// the business wrote in Meta's own inbox (Meta Business Suite, the Page
// inbox): any app id but the one of the app the webhooks are for.
const PageInboxAppID = "263902037430900"

// Postback is a postback button a person tapped.
type Postback struct {
	Title   string `json:"title"`
	Payload string `json:"payload"`
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// MessengerEntry returns the entry of the Messenger or Instagram account
// a reporting ev (the shapes of the Messenger Platform's webhook events
// and Instagram's messaging webhooks).
func MessengerEntry(a Account, ev MsgrEvent) Entry {
	type id struct {
		ID string `json:"id"`
	}
	type quick struct {
		Payload string `json:"payload"`
	}
	type payload struct {
		URL string `json:"url"`
	}
	type attachment struct {
		Type    string  `json:"type"`
		Payload payload `json:"payload"`
	}
	type message struct {
		IsEcho      bool         `json:"is_echo,omitempty"`
		AppID       json.Number  `json:"app_id,omitempty"`
		MID         string       `json:"mid"`
		Text        string       `json:"text,omitempty"`
		QuickReply  *quick       `json:"quick_reply,omitempty"`
		Attachments []attachment `json:"attachments,omitempty"`
	}
	type postback struct {
		MID string `json:"mid"`
		Postback
	}
	type delivery struct {
		MIDs      []string `json:"mids,omitempty"`
		Watermark int64    `json:"watermark"`
	}
	type read struct {
		Watermark int64  `json:"watermark,omitempty"`
		MID       string `json:"mid,omitempty"`
	}
	type optin struct {
		Type        string `json:"type"`
		Payload     string `json:"payload,omitempty"`
		Token       string `json:"notification_messages_token"`
		Frequency   string `json:"notification_messages_frequency,omitempty"`
		Timezone    string `json:"notification_messages_timezone,omitempty"`
		Expiry      int64  `json:"token_expiry_timestamp"`
		TokenStatus string `json:"user_token_status,omitempty"`
		Status      string `json:"notification_messages_status,omitempty"`
		Title       string `json:"title,omitempty"`
	}
	m := struct {
		Sender    id        `json:"sender"`
		Recipient id        `json:"recipient"`
		Timestamp int64     `json:"timestamp"`
		Message   *message  `json:"message,omitempty"`
		Postback  *postback `json:"postback,omitempty"`
		Delivery  *delivery `json:"delivery,omitempty"`
		Read      *read     `json:"read,omitempty"`
		Optin     *optin    `json:"optin,omitempty"`
	}{Sender: id{ev.From}, Recipient: id{a.ID}, Timestamp: ms(ev.Time)}
	switch {
	case ev.Optin != nil:
		o := ev.Optin
		m.Optin = &optin{Type: "notification_messages", Payload: o.Payload, Token: o.Token, Frequency: o.Frequency, Timezone: o.Timezone,
			Expiry: ms(o.Expiry), TokenStatus: o.TokenStatus, Status: o.Status, Title: o.Title}
	case ev.Echo:
		m.Sender, m.Recipient = id{a.ID}, id{ev.From}
		m.Message = &message{IsEcho: true, AppID: json.Number(ev.AppID), MID: ev.MID, Text: ev.Text}
	case ev.Postback != nil:
		m.Postback = &postback{ev.MID, *ev.Postback}
	case ev.Delivered != nil:
		m.Delivery = &delivery{ev.Delivered, ms(ev.Watermark)}
	case ev.Read && a.Network == Instagram:
		m.Read = &read{MID: ev.ReadMID}
	case ev.Read:
		m.Read = &read{Watermark: ms(ev.Watermark)}
	case ev.Image != nil:
		m.Message = &message{MID: ev.MID, Attachments: []attachment{{"image", payload{ev.Image.URL}}}}
	default:
		m.Message = &message{MID: ev.MID, Text: ev.Text}
		if ev.QuickReply != "" {
			m.Message.QuickReply = &quick{ev.QuickReply}
		}
	}
	b, _ := json.Marshal(struct {
		ID        string `json:"id"`
		Time      int64  `json:"time"`
		Messaging []any  `json:"messaging"`
	}{a.ID, ms(cmp.Or(ev.EntryTime, ev.Time)), []any{m}})
	return Entry{Network: a.Network, JSON: b}
}
