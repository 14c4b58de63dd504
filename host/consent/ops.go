package consent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"unicode/utf8"

	"github.com/passerelle/passerelle/host"
)

// The subscribe prompt: the host asks the person, in its own words naming
// the business, whether the business may write to them outside the
// service window, under a purpose (a standing opt-in) or once for a
// template (a one-time subscription).
const (
	PromptName    = "subscribe" // the prompt's type on the wire and on disk
	AnswerAccept  = "accept"
	AnswerDecline = "decline"
	MaxAskText    = 300 // characters of the app's plain words in a request
)

// PromptBody is the Body of a subscribe prompt, as the client draws it.
// Exactly one of Purpose and Template is set. Text is the whole question,
// naming the business and the purpose in plain words (OptInPrompt,
// SubscriptionPrompt): it is what the person agrees to, and the ledger
// keeps it as the evidence.
type PromptBody struct {
	Type         string `json:"type"` // PromptName
	ID           string `json:"id"`
	Merchant     string `json:"merchant"`
	MerchantName string `json:"merchant_name"`
	App          string `json:"app"`
	Purpose      string `json:"purpose,omitempty"`
	Template     string `json:"template,omitempty"`
	Text         string `json:"text"`
}

// Answered is a person's answer to a subscribe prompt, for the app that
// asked: Record is the grant's ledger record (zero when declined).
type Answered struct {
	App          host.AppRef
	Person       string
	Conversation string
	Surface      string
	Event        host.ConsentEvent
	Record       Record
}

// AskRequest is the request of consent.request_optin (Purpose) and
// consent.request_subscription (Template); Text is the app's plain words
// for what it will send ("new collections, about once a month", "your
// table is ready").
type AskRequest struct {
	Purpose  string `json:"purpose,omitempty"`
	Template string `json:"template,omitempty"`
	Text     string `json:"text"`
}

// AskResponse is their response: the prompt's id, which the consent
// event carrying the answer names.
type AskResponse struct {
	Prompt string `json:"prompt"`
}

// PromptKind returns the subscribe prompt kind: its Apply records an
// accepted opt-in (OptIn) or one-time subscription (Subscribe) with the
// prompt's text as what the person saw, and hands every answer to
// Config.Answered.
func (s *Service) PromptKind() *host.PromptKind { return s.prompt }

func (s *Service) newPromptKind() *host.PromptKind {
	return &host.PromptKind{Name: PromptName, Answers: []string{AnswerAccept, AnswerDecline}, Apply: s.applyPrompt}
}

// Funcs returns consent.request_optin and consent.request_subscription,
// both needing the "chat" permission: like a message, the prompt goes into
// the person's conversation with the app.
func (s *Service) Funcs() []host.Func {
	return []host.Func{
		{Op: "consent.request_optin", Permission: host.PermChat, Handle: s.requestOptIn},
		{Op: "consent.request_subscription", Permission: host.PermChat, Handle: s.requestSubscription},
	}
}

func (s *Service) requestOptIn(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	return s.ask(ctx, c, req, "consent.request_optin", false)
}

func (s *Service) requestSubscription(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	return s.ask(ctx, c, req, "consent.request_subscription", true)
}

// ask draws the subscribe prompt for the event's person.
func (s *Service) ask(ctx context.Context, c *host.Call, req []byte, op string, sub bool) ([]byte, error) {
	var r AskRequest
	if err := json.Unmarshal(req, &r); err != nil {
		if sub {
			return nil, host.Errorf(host.StatusBadRequest, "%s: request must be {\"template\":\"table-ready\",\"text\":\"your table is ready\"}: %v", op, err)
		}
		return nil, host.Errorf(host.StatusBadRequest, "%s: request must be {\"purpose\":\"updates\",\"text\":\"new collections\"}: %v", op, err)
	}
	name, field := r.Purpose, "purpose"
	if sub {
		name, field = r.Template, "template"
		if r.Purpose != "" {
			return nil, host.Errorf(host.StatusBadRequest, "%s: a subscription is to a template; for purpose %q use consent.request_optin", op, r.Purpose)
		}
	} else if r.Template != "" {
		return nil, host.Errorf(host.StatusBadRequest, "%s: an opt-in is to a purpose; for template %q use consent.request_subscription", op, r.Template)
	}
	if err := checkName(field, name); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "%s: %s", op, host.MessageOf(err))
	}
	if r.Text == "" || !utf8.ValidString(r.Text) || utf8.RuneCountInString(r.Text) > MaxAskText {
		return nil, host.Errorf(host.StatusBadRequest, "%s: \"text\" must say in 1 to %d characters of plain words what the business will send, e.g. \"your table is ready\"", op, MaxAskText)
	}
	for _, ch := range r.Text {
		if ch < 0x20 || ch == 0x7f {
			return nil, host.Errorf(host.StatusBadRequest, "%s: \"text\" contains a control character; give one line of plain words", op)
		}
	}
	if c.Caller.Person == "" || c.Caller.Conversation == "" {
		return nil, host.Errorf(host.StatusBadRequest, "%s: this event has no person to ask; ask while the person is in a conversation with the app", op)
	}
	merchant := c.Caller.App.Merchant
	shown := merchant
	if s.name != nil {
		if n := s.name(ctx, merchant); n != "" {
			shown = n
		}
	}
	body := PromptBody{Type: PromptName, Merchant: merchant, MerchantName: shown, App: c.Caller.App.App, Purpose: r.Purpose, Template: r.Template}
	if sub {
		body.Text = SubscriptionPrompt(shown, r.Text)
	} else {
		body.Text = OptInPrompt(shown, r.Purpose+" ("+r.Text+")")
	}
	// The id is stable for what the event asks: a retried event asks once.
	h := sha256.Sum256([]byte(merchant + "\x00" + c.Caller.App.App + "\x00" + c.Caller.Person + "\x00" + c.Caller.Conversation +
		"\x00" + c.Caller.EventID + "\x00" + field + "\x00" + name + "\x00" + r.Text))
	body.ID = "sp_" + hex.EncodeToString(h[:12])
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	out := host.Outgoing{App: c.Caller.App, Conversation: c.Caller.Conversation,
		Prompt: &host.Prompt{ID: body.ID, Kind: s.prompt, Person: c.Caller.Person, Body: data}}
	if err := c.Emit(ctx, out); err != nil {
		s.log.Warn("consent: prompt not shown", "app", c.Caller.App.String(), "err", err)
		return nil, host.Errorf(host.StatusUnavailable, "%s: the prompt could not be shown right now; try again later", op)
	}
	return json.Marshal(AskResponse{Prompt: body.ID})
}

// applyPrompt applies an answer to a subscribe prompt: accept records the
// grant with the prompt's text as the evidence; both answers reach the
// app that asked (Config.Answered).
func (s *Service) applyPrompt(ctx context.Context, a host.Answer) (bool, error) {
	var b PromptBody
	if json.Unmarshal(a.Body, &b) != nil || b.Type != PromptName || (b.Purpose == "") == (b.Template == "") {
		return true, host.Errorf(host.StatusBadRequest, "this prompt is not a subscribe prompt the host drew; dismiss it")
	}
	if b.Merchant != a.App.Merchant {
		return true, host.Errorf(host.StatusPermissionDenied, "this prompt names business %q but was caused by an app of %q; dismiss it", b.Merchant, a.App.Merchant)
	}
	ans := Answered{App: a.App, Person: a.Person, Conversation: a.Conversation, Surface: a.Surface,
		Event: host.ConsentEvent{Prompt: b.ID, Purpose: b.Purpose, Template: b.Template, Granted: a.Choice == AnswerAccept}}
	if ans.Event.Granted {
		g := Grant{Person: a.Person, Business: b.Merchant, App: b.App, Purpose: b.Purpose, Template: b.Template,
			Surface: a.Surface, Conversation: a.Conversation, Prompt: b.Text, Answer: b.ID}
		var err error
		if b.Purpose != "" {
			ans.Record, err = s.OptIn(ctx, g)
		} else {
			ans.Record, err = s.Subscribe(ctx, g)
		}
		if err != nil {
			return false, err
		}
	}
	if s.answered != nil {
		s.answered(ctx, ans)
	}
	return true, nil
}
