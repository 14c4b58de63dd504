package chat

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
)

// Limits of the message model.
const (
	MaxText            = 4096 // characters of a text message or a card's text
	MaxCardTitle       = 80   // characters
	MaxButtons         = 10
	MaxButtonTitle     = 40 // characters
	MaxButtonValue     = 256
	MaxListItems       = 50
	MaxItemTitle       = 80
	MaxItemDescription = 200
	MaxFormFields      = 10
	MaxLabel           = 80 // characters of a form label, list button or submit label
	MaxID              = 64 // bytes of a button, list item, form or field id
	MaxImageURL        = 2048
	MaxSharePayload    = 1024 // bytes

	// MaxMessagesPerEvent is the most messages (chat.send, chat.notify,
	// and chat.share into a conversation) one event may send. Past it the call fails with
	// quota_exceeded and sends nothing: a person's connection is never
	// flooded by one event.
	MaxMessagesPerEvent = 50
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = &host.Error{Status: host.StatusBadRequest, Message: "chat: invalid message"}

func invalid(field, format string, args ...any) error {
	return host.Wrapf(ErrInvalid, "%s: %s", field, fmt.Sprintf(format, args...))
}

func checkText(field, s string, max int, required bool) error {
	if !utf8.ValidString(s) {
		return invalid(field, "not valid UTF-8")
	}
	if required && s == "" {
		return invalid(field, "empty; give a value")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid(field, "%d characters, at most %d allowed; shorten it", n, max)
	}
	return nil
}

func checkID(field, s string) error {
	if s == "" {
		return invalid(field, "empty; give an id the app will recognise in the action event")
	}
	if len(s) > MaxID || !utf8.ValidString(s) {
		return invalid(field, "must be at most %d bytes of UTF-8", MaxID)
	}
	return nil
}

// Validate checks a message an app sends: exactly one of text or card; text
// of at most MaxText characters; a card with a title or text, an https
// image (or the /assets/ path of an image an app ships), and at most one of buttons (1..MaxButtons, unique ids), a list
// (1..MaxListItems items, unique ids) or a form (1..MaxFormFields fields,
// unique names). Cards made by chat.share (Card.Share set) are refused: only
// the host makes them. The error names the field and says what to change.
func Validate(m *host.Message) error {
	switch {
	case m.Text == "" && m.Card == nil:
		return invalid("message", "empty; set \"text\" or \"card\"")
	case m.Text != "" && m.Card != nil:
		return invalid("message", "has both \"text\" and \"card\"; put the text in card.text")
	case m.Card == nil:
		return checkText("text", m.Text, MaxText, true)
	}
	if m.Card.Share != nil {
		return invalid("card.share", "set by the host only; use chat.share to share the app")
	}
	return validateCard(m.Card)
}

func validateCard(c *host.Card) error {
	if c.Title == "" && c.Text == "" {
		return invalid("card", "needs a title or a text")
	}
	if err := checkText("card.title", c.Title, MaxCardTitle, false); err != nil {
		return err
	}
	if err := checkText("card.text", c.Text, MaxText, false); err != nil {
		return err
	}
	if c.Image != "" {
		if len(c.Image) > MaxImageURL {
			return invalid("card.image", "URL longer than %d bytes", MaxImageURL)
		}
		if strings.HasPrefix(c.Image, AssetScheme) {
			return invalid("card.image", "%q names an asset, which only chat.send, chat.share and chat.notify resolve", c.Image)
		}
		if !isAssetPath(c.Image) {
			u, err := url.Parse(c.Image)
			if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
				return invalid("card.image", "%q is not an https URL; host the image on https:// or ship it with the app and write \"asset:<name>\"", c.Image)
			}
		}
	}
	kinds := 0
	if len(c.Buttons) > 0 {
		kinds++
	}
	if c.List != nil {
		kinds++
	}
	if c.Form != nil {
		kinds++
	}
	if kinds > 1 {
		return invalid("card", "has more than one of buttons, list and form; send one per card")
	}
	if len(c.Buttons) > MaxButtons {
		return invalid("card.buttons", "%d buttons, at most %d; use a list for more choices", len(c.Buttons), MaxButtons)
	}
	seen := map[string]bool{}
	for i, b := range c.Buttons {
		f := fmt.Sprintf("card.buttons[%d]", i)
		if err := checkID(f+".id", b.ID); err != nil {
			return err
		}
		if seen[b.ID] {
			return invalid(f+".id", "%q is used by another button; ids must be unique", b.ID)
		}
		seen[b.ID] = true
		if err := checkText(f+".title", b.Title, MaxButtonTitle, true); err != nil {
			return err
		}
		if len(b.Value) > MaxButtonValue {
			return invalid(f+".value", "longer than %d bytes", MaxButtonValue)
		}
	}
	if l := c.List; l != nil {
		if len(l.Items) == 0 || len(l.Items) > MaxListItems {
			return invalid("card.list.items", "%d items; give 1 to %d", len(l.Items), MaxListItems)
		}
		if err := checkText("card.list.button", l.Button, MaxLabel, false); err != nil {
			return err
		}
		for i, it := range l.Items {
			f := fmt.Sprintf("card.list.items[%d]", i)
			if err := checkID(f+".id", it.ID); err != nil {
				return err
			}
			if seen[it.ID] {
				return invalid(f+".id", "%q is used by another item; ids must be unique", it.ID)
			}
			seen[it.ID] = true
			if err := checkText(f+".title", it.Title, MaxItemTitle, true); err != nil {
				return err
			}
			if err := checkText(f+".description", it.Description, MaxItemDescription, false); err != nil {
				return err
			}
		}
	}
	if fm := c.Form; fm != nil {
		if err := checkID("card.form.id", fm.ID); err != nil {
			return err
		}
		if len(fm.Fields) == 0 || len(fm.Fields) > MaxFormFields {
			return invalid("card.form.fields", "%d fields; give 1 to %d", len(fm.Fields), MaxFormFields)
		}
		if err := checkText("card.form.submit", fm.Submit, MaxLabel, false); err != nil {
			return err
		}
		for i, fld := range fm.Fields {
			f := fmt.Sprintf("card.form.fields[%d]", i)
			if err := checkID(f+".name", fld.Name); err != nil {
				return err
			}
			if seen[fld.Name] {
				return invalid(f+".name", "%q is used by another field; names must be unique", fld.Name)
			}
			seen[fld.Name] = true
			if err := checkText(f+".label", fld.Label, MaxLabel, true); err != nil {
				return err
			}
			switch fld.Type {
			case "", "text", "number", "phone", "email":
			default:
				return invalid(f+".type", "%q; use text, number, phone or email", fld.Type)
			}
		}
	}
	return nil
}

// Members tells whether a person takes part in a conversation; the gateway
// implements it. Without Config.Members, an outbox (host.Call.Out,
// host.Answer.Out) that implements it answers.
type Members interface {
	IsMember(ctx context.Context, conversation, person string) (bool, error)
}

// AssetScheme prefixes the name of an image the app ships in its assets/
// folder, where a card takes an image URL: "asset:tee.png".
const AssetScheme = "asset:"

// Assets finds the images an app version ships (runtime/registry
// implements it).
type Assets interface {
	// AssetPath returns the URL path the image name of app is served at
	// (/assets/<sha256>.<ext>), or an error naming it when app ships no
	// such image.
	AssetPath(ctx context.Context, app host.AppRef, name string) (string, error)
}

// isAssetPath reports whether s is a path the gateway serves assets at:
// /assets/<64 lower-case hex>.<png|jpg|webp>.
func isAssetPath(s string) bool {
	rest, ok := strings.CutPrefix(s, "/assets/")
	if !ok || len(rest) < 65 || rest[64] != '.' {
		return false
	}
	for _, c := range rest[:64] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	switch rest[65:] {
	case "png", "jpg", "webp":
		return true
	}
	return false
}

// resolveImage turns card.image "asset:<name>" into the URL path of the
// image the calling app version ships.
func (s *Service) resolveImage(ctx context.Context, c *host.Call, card *host.Card) error {
	if card == nil {
		return nil
	}
	name, ok := strings.CutPrefix(card.Image, AssetScheme)
	if !ok {
		return nil
	}
	if s.assets == nil {
		return invalid("card.image", "%q: this platform serves no app assets; give an https URL", card.Image)
	}
	path, err := s.assets.AssetPath(ctx, c.Caller.App, name)
	if err != nil {
		return invalid("card.image", "%v", err)
	}
	card.Image = path
	return nil
}

// Config configures a Service.
type Config struct {
	// Assets resolves "asset:<name>" images in the cards apps send. Nil
	// refuses them.
	Assets  Assets
	Members Members // may be nil: chat.share then only posts into the event's conversation
	// Consent decides every chat.send to a person (host/consent's
	// Service): a refusal goes back to the app, with its status, and to
	// its log, and nothing is sent. Nil sends unchecked (tools and tests
	// that play the person themselves).
	Consent Consent
	Logger  *slog.Logger

	// Handoffs serves chat.handoff (host/handoff). Nil answers it with
	// unavailable.
	Handoffs Handoffs
}

// Consent is the check of a message a business sends a person.
type Consent interface {
	Check(ctx context.Context, m consent.Message) (consent.Decision, error)
}

// TxConsent is a Consent that can decide a message inside an event's
// transaction and record it when the event commits (consent.Service's
// CheckTx): a message of a dropped event uses up no subscription and
// counts against no rate limit.
type TxConsent interface {
	CheckTx(ctx context.Context, tx *host.Tx, m consent.Message) (consent.Decision, error)
}

// check asks the consent rules about m, inside the event's transaction
// when there is one.
func (s *Service) check(ctx context.Context, c *host.Call, m consent.Message) error {
	if tc, ok := s.consent.(TxConsent); ok && c.Tx != nil {
		_, err := tc.CheckTx(ctx, c.Tx, m)
		return err
	}
	_, err := s.consent.Check(ctx, m)
	return err
}

// Service serves chat.send and chat.share.
type Service struct {
	assets  Assets
	members Members
	consent Consent
	inbox   Handoffs
	log     *slog.Logger
	prompt  *host.PromptKind
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{assets: cfg.Assets, members: cfg.Members, consent: cfg.Consent, inbox: cfg.Handoffs, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.prompt = &host.PromptKind{Name: "share", Answers: []string{AnswerShare}, Apply: s.applyShare}
	return s
}

// SendResponse is the response of chat.send and of chat.share.
type SendResponse struct {
	ID       string `json:"id"`
	Prompted bool   `json:"prompted,omitempty"` // chat.share: the person was asked where to share
}

// ShareRequest is the request of chat.share.
type ShareRequest struct {
	Conversation string     `json:"conversation,omitempty"`
	Card         *host.Card `json:"card"`
	Payload      string     `json:"payload,omitempty"` // given back to the app in the open event's text
}

// SharePrompt is the Body of the prompt chat.share sends when no
// conversation is named.
type SharePrompt struct {
	Type string     `json:"type"` // "share"
	ID   string     `json:"id"`
	App  string     `json:"app"`
	Card *host.Card `json:"card"`
}

// AnswerShare is the answer to a share prompt: post the card into the
// conversation the person picked (host.Answer.Target).
const AnswerShare = "share"

// PromptKind returns the share prompt: the person picks one of their
// conversations and the card is posted there, as from the app.
func (s *Service) PromptKind() *host.PromptKind { return s.prompt }

func (s *Service) applyShare(ctx context.Context, a host.Answer) (bool, error) {
	var b SharePrompt
	if json.Unmarshal(a.Body, &b) != nil || b.Card == nil {
		return false, host.Errorf(host.StatusBadRequest, "this share prompt has no card to share; dismiss it")
	}
	if a.Target == "" {
		return false, host.Errorf(host.StatusBadRequest, "say where to share: give \"conv\", one of your conversations")
	}
	members := s.members
	if m, ok := a.Out.(Members); ok && members == nil {
		members = m
	}
	if members == nil {
		return false, host.Errorf(host.StatusUnavailable, "sharing into another conversation is not available here")
	}
	ok, err := members.IsMember(ctx, a.Target, a.Person)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, host.Errorf(host.StatusPermissionDenied, "you are not a member of conversation %q; pick one of yours", a.Target)
	}
	err = a.Out.Emit(ctx, host.Outgoing{App: a.App, Conversation: a.Target, Message: &host.Message{Card: b.Card}, ID: NewID()})
	return err == nil, err
}

// Funcs returns chat.send, chat.share, chat.notify and chat.handoff, all
// needing the "chat" permission.
func (s *Service) Funcs() []host.Func {
	return []host.Func{
		{Op: "chat.send", Permission: host.PermChat, Handle: s.send},
		{Op: "chat.share", Permission: host.PermChat, Handle: s.share},
		{Op: "chat.notify", Permission: host.PermChat, Handle: s.notify},
		{Op: "chat.handoff", Permission: host.PermChat, Handle: s.handoff},
	}
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a new message id.
func NewID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "msg_" + idEncoding.EncodeToString(b[:])
}

func (s *Service) send(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	var m host.Message
	if err := json.Unmarshal(req, &m); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "chat.send: request must be a message such as {\"text\":\"hi\"} or {\"card\":{...}}: %v", err)
	}
	if err := s.resolveImage(ctx, c, m.Card); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "chat.send: %v", err)
	}
	if err := Validate(&m); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "chat.send: %v", err)
	}
	if c.Caller.Conversation == "" {
		return nil, host.Errorf(host.StatusNotFound, "chat.send: this event has no conversation to send into")
	}
	if err := checkCap("chat.send", c); err != nil {
		return nil, err
	}
	id := NewID()
	if s.consent != nil && c.Caller.Person != "" {
		err := s.check(ctx, c, consent.Message{Person: c.Caller.Person, Business: c.Caller.App.Merchant, App: c.Caller.App.App,
			Surface: c.Caller.Surface, Conversation: c.Caller.Conversation, ID: id})
		if err != nil {
			if c.Log != nil {
				c.Log.Warn("chat.send refused: "+host.MessageOf(err), "code", host.StatusOf(err).String())
			}
			return nil, err
		}
	}
	return s.emit(ctx, c, id, host.Outgoing{App: c.Caller.App, Conversation: c.Caller.Conversation, Message: &m, ID: id})
}

// emit sends out, whose id is id, and answers with the id.
func (s *Service) emit(ctx context.Context, c *host.Call, id string, out host.Outgoing) ([]byte, error) {
	if err := c.Emit(ctx, out); err != nil {
		s.log.Warn("emit failed", "app", c.Caller.App.String(), "err", err)
		return nil, host.Errorf(host.StatusUnavailable, "the message could not be delivered right now; try again later")
	}
	return json.Marshal(SendResponse{ID: id, Prompted: out.Prompt != nil})
}

func (s *Service) share(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	var r ShareRequest
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "chat.share: request must be {\"card\":{\"title\":...},\"payload\":...}: %v", err)
	}
	if r.Card == nil {
		return nil, host.Errorf(host.StatusBadRequest, "chat.share: \"card\" is missing; give a title and optionally text and image")
	}
	if len(r.Card.Buttons) > 0 || r.Card.List != nil || r.Card.Form != nil || r.Card.Share != nil {
		return nil, host.Errorf(host.StatusBadRequest, "chat.share: a shared card has only title, text and image; pressing it opens the app")
	}
	if len(r.Payload) > MaxSharePayload {
		return nil, host.Errorf(host.StatusBadRequest, "chat.share: payload is %d bytes, at most %d", len(r.Payload), MaxSharePayload)
	}
	if err := s.resolveImage(ctx, c, r.Card); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "chat.share: %v", err)
	}
	if err := validateCard(r.Card); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "chat.share: %v", err)
	}
	if c.Caller.Person == "" {
		return nil, host.Errorf(host.StatusBadRequest, "chat.share: this event has no person who could share")
	}
	card := *r.Card
	card.Share = &host.Share{App: c.Caller.App.App, Payload: r.Payload}
	id := NewID()
	if r.Conversation == "" {
		body, err := json.Marshal(SharePrompt{Type: s.prompt.Name, ID: id, App: c.Caller.App.App, Card: &card})
		if err != nil {
			return nil, err
		}
		return s.emit(ctx, c, id, host.Outgoing{App: c.Caller.App, Conversation: c.Caller.Conversation,
			Prompt: &host.Prompt{ID: id, Kind: s.prompt, Person: c.Caller.Person, Body: body}})
	}
	if r.Conversation != c.Caller.Conversation {
		ok := false
		members := s.members
		if m, isMembers := c.Out.(Members); isMembers && members == nil {
			members = m
		}
		if members != nil {
			var err error
			ok, err = members.IsMember(ctx, r.Conversation, c.Caller.Person)
			if err != nil {
				return nil, host.Errorf(host.StatusUnavailable, "chat.share: could not check the conversation; try again later")
			}
		}
		if !ok {
			return nil, host.Errorf(host.StatusNotFound, "chat.share: the person is not in conversation %q; omit \"conversation\" to let them choose", r.Conversation)
		}
	}
	if err := checkCap("chat.share", c); err != nil {
		return nil, err
	}
	return s.emit(ctx, c, id, host.Outgoing{App: c.Caller.App, Conversation: r.Conversation, Message: &host.Message{Card: &card}, ID: id})
}

// NotifyRequest is the request of chat.notify: a message (text or card)
// with the purpose the person opted in to or the template they subscribed
// to, at most one of them.
type NotifyRequest struct {
	host.Message
	Purpose  string `json:"purpose,omitempty"`
	Template string `json:"template,omitempty"`
	// Params are the values of the numbered parameters ({{1}}, {{2}}...)
	// of the WhatsApp template of the same name as Template or Purpose,
	// used where the message must go as that template.
	Params []string `json:"params,omitempty"`
}

// MaxParams is the most template parameters chat.notify takes.
const MaxParams = 20

// notify serves chat.notify: a business-initiated message to the event's
// person in the event's conversation (a timer carries both), which the
// consent rules let through inside the service window, or outside it under
// the purpose or template it names.
func (s *Service) notify(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	var r NotifyRequest
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "chat.notify: request must be a message with a purpose or a template, such as {\"text\":\"your table is ready\",\"template\":\"table-ready\"}: %v", err)
	}
	if err := s.resolveImage(ctx, c, r.Message.Card); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "chat.notify: %v", err)
	}
	if err := Validate(&r.Message); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "chat.notify: %v", err)
	}
	if r.Purpose != "" && r.Template != "" {
		return nil, host.Errorf(host.StatusBadRequest, "chat.notify: names purpose %q and template %q; send it under one of them", r.Purpose, r.Template)
	}
	if len(r.Params) > MaxParams {
		return nil, host.Errorf(host.StatusBadRequest, "chat.notify: %d params, at most %d; a template takes one value per numbered parameter", len(r.Params), MaxParams)
	}
	for i, p := range r.Params {
		if p == "" || len(p) > 1024 {
			return nil, host.Errorf(host.StatusBadRequest, "chat.notify: params[%d] must have 1 to 1024 bytes; give each numbered parameter a value", i)
		}
	}
	if c.Caller.Person == "" || c.Caller.Conversation == "" {
		return nil, host.Errorf(host.StatusBadRequest, "chat.notify: this event has no person to notify; notify from an event of the person (a timer set while they were in the conversation)")
	}
	if err := checkCap("chat.notify", c); err != nil {
		return nil, err // before the check: a refused message uses up no subscription
	}
	id := NewID()
	if s.consent != nil {
		err := s.check(ctx, c, consent.Message{Person: c.Caller.Person, Business: c.Caller.App.Merchant, App: c.Caller.App.App,
			Purpose: r.Purpose, Template: r.Template, Surface: c.Caller.Surface, Conversation: c.Caller.Conversation, ID: id})
		if err != nil {
			if c.Log != nil {
				c.Log.Warn("chat.notify refused: "+host.MessageOf(err), "code", host.StatusOf(err).String())
			}
			if host.StatusOf(err) == host.StatusBadRequest {
				return nil, host.Errorf(host.StatusBadRequest, "chat.notify: %s", host.MessageOf(err))
			}
			return nil, err
		}
	}
	m := r.Message
	out := host.Outgoing{App: c.Caller.App, Conversation: c.Caller.Conversation, Message: &m, ID: id}
	if r.Purpose != "" || r.Template != "" {
		out.Basis = &host.Basis{Purpose: r.Purpose, Template: r.Template, Params: r.Params}
	}
	return s.emit(ctx, c, id, out)
}

// checkCap refuses a message past MaxMessagesPerEvent.
func checkCap(op string, c *host.Call) error {
	if c.Messages() >= MaxMessagesPerEvent {
		return host.Errorf(host.StatusQuota, "%s: this event already sent %d messages, the most one event may send; nothing was sent. Send fewer, fuller messages (a list card holds %d items) or the rest in a later event",
			op, MaxMessagesPerEvent, MaxListItems)
	}
	return nil
}
