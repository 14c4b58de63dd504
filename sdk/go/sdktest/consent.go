package sdktest

import (
	"encoding/json"
	"fmt"
	"strconv"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// The built-in consent rules, for the one person the Host plays.
// consent.request_optin and consent.request_subscription record a prompt
// awaiting the person's answer; the test answers with AcceptPrompt or DeclinePrompt,
// which deliver the consent event. chat.notify sends under the rules: after
// Stop nothing (opted_out, also for chat.send); while the service window
// is closed (Host.WindowClosed) only under a purpose the person accepted,
// or once per accepted subscription to a template (not_opted_in
// otherwise, window_closed without either). Stop and Start deliver the
// optout and optin events.

// Prompt is a subscribe prompt the app caused: it asked for a standing
// opt-in to Purpose or a one-time subscription to Template, in Text.
type Prompt struct {
	ID       string
	Purpose  string
	Template string
	Text     string
}

type consentState struct {
	prompts  []Prompt
	purposes map[string]bool
	subs     map[string]int
	stopped  bool
}

func (h *Host) consentAsk(sub bool) OpFunc {
	return func(req []byte) (any, error) {
		var r struct {
			Purpose  string `json:"purpose"`
			Template string `json:"template"`
			Text     string `json:"text"`
		}
		if err := json.Unmarshal(req, &r); err != nil {
			return nil, badRequest("the request is not a consent request: " + err.Error())
		}
		name, other := r.Purpose, r.Template
		if sub {
			name, other = r.Template, r.Purpose
		}
		if name == "" || other != "" || r.Text == "" {
			return nil, badRequest(`give exactly one of "purpose" (consent.request_optin) or "template" (consent.request_subscription), and "text"`)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.seq++
		p := Prompt{ID: "sp_" + strconv.Itoa(h.seq), Purpose: r.Purpose, Template: r.Template, Text: r.Text}
		h.consent.prompts = append(h.consent.prompts, p)
		return map[string]string{"prompt": p.ID}, nil
	}
}

// Prompts returns the subscribe prompts awaiting an answer.
func (h *Host) Prompts() []Prompt {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Prompt(nil), h.consent.prompts...)
}

// AcceptPrompt plays the person accepting the subscribe prompt id: the opt-in
// or subscription is granted and the app gets the consent event.
func (h *Host) AcceptPrompt(id string) error { return h.answer(id, true) }

// DeclinePrompt plays the person declining the subscribe prompt id: the app
// gets the consent event, nothing is granted.
func (h *Host) DeclinePrompt(id string) error { return h.answer(id, false) }

func (h *Host) answer(id string, granted bool) error {
	h.mu.Lock()
	var p *Prompt
	for i := range h.consent.prompts {
		if h.consent.prompts[i].ID == id {
			q := h.consent.prompts[i]
			p = &q
			h.consent.prompts = append(h.consent.prompts[:i], h.consent.prompts[i+1:]...)
			break
		}
	}
	if p != nil && granted {
		if p.Purpose != "" {
			if h.consent.purposes == nil {
				h.consent.purposes = map[string]bool{}
			}
			h.consent.purposes[p.Purpose] = true
		} else {
			if h.consent.subs == nil {
				h.consent.subs = map[string]int{}
			}
			h.consent.subs[p.Template]++
		}
	}
	h.mu.Unlock()
	if p == nil {
		return fmt.Errorf("sdktest: no subscribe prompt %q awaits an answer", id)
	}
	return h.Consent(passerelle.Consent{Prompt: id, Purpose: p.Purpose, Template: p.Template, Granted: granted})
}

// Stop plays the person sending STOP: every opt-in and subscription is
// spent, nothing the app sends reaches them, and the app gets the optout
// event.
func (h *Host) Stop() error {
	h.mu.Lock()
	h.consent = consentState{prompts: h.consent.prompts, stopped: true}
	h.mu.Unlock()
	return h.Event(passerelle.Event{Type: passerelle.EventOptOut})
}

// Start plays the person sending START after Stop: the app gets the optin
// event and may send again (asking anew for opt-ins).
func (h *Host) Start() error {
	h.mu.Lock()
	h.consent.stopped = false
	h.mu.Unlock()
	return h.Event(passerelle.Event{Type: passerelle.EventOptIn})
}

// consentCheck applies the rules to a message with purpose or template,
// consuming a subscription; the caller holds h.mu.
func (h *Host) consentCheck(purpose, template string) error {
	switch {
	case h.consent.stopped:
		return &passerelle.Error{Status: passerelle.StatusOptedOut, Message: "the person sent STOP; nothing was sent"}
	case !h.WindowClosed:
		return nil
	case purpose == "" && template == "":
		return &passerelle.Error{Status: passerelle.StatusWindowClosed, Message: "outside the service window; send under a purpose or a template"}
	case purpose != "":
		if !h.consent.purposes[purpose] {
			return &passerelle.Error{Status: passerelle.StatusNotOptedIn, Message: "the person has not opted in to " + purpose}
		}
	default:
		if h.consent.subs[template] == 0 {
			return &passerelle.Error{Status: passerelle.StatusNotOptedIn, Message: "no unused subscription to " + template}
		}
		h.consent.subs[template]--
	}
	return nil
}

// chatNotify is the built-in chat.notify.
func (h *Host) chatNotify(req []byte) (any, error) {
	var r struct {
		passerelle.Message
		Purpose  string `json:"purpose"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, badRequest("the request is not a chat.notify request: " + err.Error())
	}
	if r.Text == "" && r.Card == nil {
		return nil, badRequest("the message is empty: set text or card")
	}
	if r.Purpose != "" && r.Template != "" {
		return nil, badRequest("give at most one of purpose and template")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.consentCheck(r.Purpose, r.Template); err != nil {
		return nil, err
	}
	h.sent = append(h.sent, r.Message)
	return map[string]string{"id": "m" + strconv.Itoa(len(h.sent))}, nil
}
