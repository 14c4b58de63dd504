package whatsapp

import (
	"fmt"
	"unicode/utf8"
)

// Limits of the Send API's message types, as Meta documents them (see the
// package doc for the pages). Lengths count characters (code points).
const (
	MaxTextBody         = 4096 // text message body
	MaxInteractiveBody  = 1024 // body of reply buttons and lists
	MaxHeaderText       = 60   // text header of an interactive message
	MaxFooterText       = 60   // footer of an interactive message
	MaxButtons          = 3    // reply buttons per message
	MaxButtonTitle      = 20   // a reply button's title
	MaxButtonID         = 256  // a reply button's id
	MaxListButton       = 20   // the button that opens a list
	MaxListSections     = 10   // sections of a list
	MaxListRows         = 10   // rows of a list, all sections together
	MaxListRowTitle     = 24   // a row's title
	MaxListRowID        = 200  // a row's id
	MaxListRowDesc      = 72   // a row's description
	MaxListSectionTitle = 24   // a section's title
)

// LimitError says which documented limit a message breaks.
type LimitError struct {
	Field string // where, e.g. "buttons[1].title"
	Limit string // the rule, e.g. "at most 20 characters"
	Got   string // what the message had
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("whatsapp: %s must have %s, has %s; Meta refuses such a message, so it was not sent", e.Field, e.Limit, e.Got)
}

// A Message is one of Text, Buttons, List and Template.
type Message interface {
	validate() error
	payload() map[string]any
}

// Text is a text message.
type Text struct {
	Body       string
	PreviewURL bool // ask WhatsApp to show a preview of the first URL
}

// Button is a reply button: the person's tap comes back as a button_reply
// with its ID and Title.
type Button struct{ ID, Title string }

// Buttons is an interactive message with reply buttons.
type Buttons struct {
	Header, Body, Footer string
	Buttons              []Button
}

// Row is a row of a list: a pick comes back as a list_reply with its ID,
// Title and Description.
type Row struct{ ID, Title, Description string }

// Section is a titled group of rows (a title is needed when there are
// several sections).
type Section struct {
	Title string
	Rows  []Row
}

// List is an interactive list message: Button opens the list.
type List struct {
	Header, Body, Footer, Button string
	Sections                     []Section
}

// Template is a message template the business registered with Meta, for a
// person outside the customer service window. Params fill the body's
// variables in order.
type Template struct {
	Name     string
	Language string // the template's language code, e.g. "en_US"
	Params   []string
}

func chars(s string) int { return utf8.RuneCountInString(s) }

// need checks that s has 1..max characters (0..max when optional).
func need(field, s string, max int, optional bool) error {
	n := chars(s)
	switch {
	case !utf8.ValidString(s):
		return &LimitError{Field: field, Limit: "valid UTF-8", Got: "invalid bytes"}
	case n == 0 && !optional:
		return &LimitError{Field: field, Limit: "at least 1 character", Got: "none"}
	case n > max:
		return &LimitError{Field: field, Limit: fmt.Sprintf("at most %d characters", max), Got: fmt.Sprint(n)}
	}
	return nil
}

func (m Text) validate() error { return need("text.body", m.Body, MaxTextBody, false) }

func (m Text) payload() map[string]any {
	return map[string]any{"type": "text", "text": map[string]any{"body": m.Body, "preview_url": m.PreviewURL}}
}

func validateFrame(header, body, footer string) error {
	if err := need("header.text", header, MaxHeaderText, true); err != nil {
		return err
	}
	if err := need("body.text", body, MaxInteractiveBody, false); err != nil {
		return err
	}
	return need("footer.text", footer, MaxFooterText, true)
}

func (m Buttons) validate() error {
	if err := validateFrame(m.Header, m.Body, m.Footer); err != nil {
		return err
	}
	if len(m.Buttons) == 0 || len(m.Buttons) > MaxButtons {
		return &LimitError{Field: "buttons", Limit: fmt.Sprintf("1 to %d buttons", MaxButtons), Got: fmt.Sprint(len(m.Buttons))}
	}
	ids, titles := map[string]bool{}, map[string]bool{}
	for i, b := range m.Buttons {
		if err := need(fmt.Sprintf("buttons[%d].title", i), b.Title, MaxButtonTitle, false); err != nil {
			return err
		}
		if err := need(fmt.Sprintf("buttons[%d].id", i), b.ID, MaxButtonID, false); err != nil {
			return err
		}
		if ids[b.ID] || titles[b.Title] {
			return &LimitError{Field: fmt.Sprintf("buttons[%d]", i), Limit: "an id and a title unique in the message", Got: fmt.Sprintf("a repeated id %q or title %q", b.ID, b.Title)}
		}
		ids[b.ID], titles[b.Title] = true, true
	}
	return nil
}

func frame(kind, header, body, footer string, action map[string]any) map[string]any {
	in := map[string]any{"type": kind, "body": map[string]any{"text": body}, "action": action}
	if header != "" {
		in["header"] = map[string]any{"type": "text", "text": header}
	}
	if footer != "" {
		in["footer"] = map[string]any{"text": footer}
	}
	return map[string]any{"type": "interactive", "interactive": in}
}

func (m Buttons) payload() map[string]any {
	bs := make([]any, len(m.Buttons))
	for i, b := range m.Buttons {
		bs[i] = map[string]any{"type": "reply", "reply": map[string]any{"id": b.ID, "title": b.Title}}
	}
	return frame("button", m.Header, m.Body, m.Footer, map[string]any{"buttons": bs})
}

func (m List) validate() error {
	if err := validateFrame(m.Header, m.Body, m.Footer); err != nil {
		return err
	}
	if err := need("action.button", m.Button, MaxListButton, false); err != nil {
		return err
	}
	if len(m.Sections) == 0 || len(m.Sections) > MaxListSections {
		return &LimitError{Field: "action.sections", Limit: fmt.Sprintf("1 to %d sections", MaxListSections), Got: fmt.Sprint(len(m.Sections))}
	}
	rows := 0
	ids := map[string]bool{}
	for i, s := range m.Sections {
		if err := need(fmt.Sprintf("sections[%d].title", i), s.Title, MaxListSectionTitle, len(m.Sections) == 1); err != nil {
			return err
		}
		if len(s.Rows) == 0 {
			return &LimitError{Field: fmt.Sprintf("sections[%d].rows", i), Limit: "at least 1 row", Got: "none"}
		}
		for j, r := range s.Rows {
			f := fmt.Sprintf("sections[%d].rows[%d]", i, j)
			if err := need(f+".title", r.Title, MaxListRowTitle, false); err != nil {
				return err
			}
			if err := need(f+".id", r.ID, MaxListRowID, false); err != nil {
				return err
			}
			if err := need(f+".description", r.Description, MaxListRowDesc, true); err != nil {
				return err
			}
			if ids[r.ID] {
				return &LimitError{Field: f + ".id", Limit: "an id unique in the message", Got: fmt.Sprintf("%q twice", r.ID)}
			}
			ids[r.ID] = true
		}
		rows += len(s.Rows)
	}
	if rows > MaxListRows {
		return &LimitError{Field: "action.sections", Limit: fmt.Sprintf("at most %d rows in all", MaxListRows), Got: fmt.Sprint(rows)}
	}
	return nil
}

func (m List) payload() map[string]any {
	ss := make([]any, len(m.Sections))
	for i, s := range m.Sections {
		rows := make([]any, len(s.Rows))
		for j, r := range s.Rows {
			row := map[string]any{"id": r.ID, "title": r.Title}
			if r.Description != "" {
				row["description"] = r.Description
			}
			rows[j] = row
		}
		sec := map[string]any{"rows": rows}
		if s.Title != "" {
			sec["title"] = s.Title
		}
		ss[i] = sec
	}
	return frame("list", m.Header, m.Body, m.Footer, map[string]any{"button": m.Button, "sections": ss})
}

func (m Template) validate() error {
	if m.Name == "" {
		return &LimitError{Field: "template.name", Limit: "the name of a template registered with Meta", Got: "none"}
	}
	if m.Language == "" {
		return &LimitError{Field: "template.language.code", Limit: "the template's language code, e.g. en_US", Got: "none"}
	}
	return nil
}

func (m Template) payload() map[string]any {
	t := map[string]any{"name": m.Name, "language": map[string]any{"code": m.Language}}
	if len(m.Params) > 0 {
		ps := make([]any, len(m.Params))
		for i, p := range m.Params {
			ps[i] = map[string]any{"type": "text", "text": p}
		}
		t["components"] = []any{map[string]any{"type": "body", "parameters": ps}}
	}
	return map[string]any{"type": "template", "template": t}
}
