// Package surface renders surface-neutral chat messages (host.Message) for
// the messaging surface of the person who receives them, and maps a reply to
// a degraded numbered menu back to the choice it names.
//
// # Surfaces and their limits
//
//   - web: everything is native.
//   - whatsapp: at most 3 reply buttons with titles of at most 20 characters;
//     lists of at most 10 rows with row titles of at most 24 characters.
//   - messenger, instagram: at most 13 quick replies with titles of at most 20
//     characters; generic templates of at most 10 elements with at most 3
//     buttons each.
//
// What does not fit is degraded to a numbered text menu. A later reply of
// "2" from that person in that conversation maps back to the second choice
// (see Rendered.Pick).
package surface

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/passerelle/passerelle/host"
)

// Name is a messaging surface.
type Name string

const (
	Web       Name = "web"
	WhatsApp  Name = "whatsapp"
	Messenger Name = "messenger"
	Instagram Name = "instagram"
)

// All lists every surface, web first.
func All() []Name { return []Name{Web, WhatsApp, Messenger, Instagram} }

// ErrUnknown is returned by Parse for a surface name it does not know.
var ErrUnknown = errors.New("unknown surface")

// Parse returns the surface named s ("" means web).
func Parse(s string) (Name, error) {
	switch n := Name(strings.ToLower(strings.TrimSpace(s))); n {
	case "":
		return Web, nil
	case Web, WhatsApp, Messenger, Instagram:
		return n, nil
	}
	return "", fmt.Errorf("%w %q: use web, whatsapp, messenger or instagram", ErrUnknown, s)
}

// Limits of each surface, as documented by the surfaces themselves.
const (
	WhatsAppMaxButtons       = 3
	WhatsAppButtonTitle      = 20
	WhatsAppMaxListRows      = 10
	WhatsAppListRowTitle     = 24
	WhatsAppListButton       = 20
	MessengerMaxQuickReplies = 13
	MessengerQuickReplyTitle = 20
	MessengerMaxElements     = 10
	MessengerMaxElemButtons  = 3
	MessengerButtonTitle     = 20
	MessengerElementTitle    = 80
)

// Kinds of rendering.
const (
	KindText         = "text"          // plain text (Text)
	KindCard         = "card"          // web: the card as is (Card)
	KindButtons      = "buttons"       // whatsapp reply buttons (Text, Choices)
	KindList         = "list"          // whatsapp list message (Text, Button, Choices)
	KindQuickReplies = "quick_replies" // messenger/instagram quick replies (Text, Choices)
	KindGeneric      = "generic"       // messenger/instagram generic template (Elements)
	KindMenu         = "menu"          // degraded numbered text menu (Text, Choices)
	KindForm         = "form_text"     // a form on a surface without forms: text only
)

// Choice is one thing the person can pick. Kind says what picking it does:
// "button" or "item" send the app an action event with ID and Value; "share"
// opens the app named in App with Payload.
type Choice struct {
	Kind        string `json:"kind"`
	ID          string `json:"id,omitempty"`
	Title       string `json:"title"`
	Value       string `json:"value,omitempty"`
	Description string `json:"description,omitempty"`
	App         string `json:"app,omitempty"`
	Payload     string `json:"payload,omitempty"`
}

// Element is one element of a generic template.
type Element struct {
	Title    string   `json:"title"`
	Subtitle string   `json:"subtitle,omitempty"`
	Image    string   `json:"image,omitempty"`
	Buttons  []Choice `json:"buttons,omitempty"`
}

// Rendered is a message as one surface shows it.
type Rendered struct {
	Surface  Name       `json:"surface"`
	Kind     string     `json:"kind"`
	Text     string     `json:"text,omitempty"`
	Card     *host.Card `json:"card,omitempty"`
	Button   string     `json:"button,omitempty"` // label of the control opening a list
	Choices  []Choice   `json:"choices,omitempty"`
	Elements []Element  `json:"elements,omitempty"`
}

// Degraded reports whether r is a numbered text menu whose replies Pick maps.
func (r Rendered) Degraded() bool { return r.Kind == KindMenu }

// Pick maps a text reply to a numbered menu ("2", " 2. ", "#2") to the
// choice it names. It reports false when r is not a menu or the reply is not
// the number of one of its choices.
func (r Rendered) Pick(reply string) (Choice, bool) {
	if r.Kind != KindMenu {
		return Choice{}, false
	}
	n, ok := menuNumber(reply)
	if !ok || n > len(r.Choices) {
		return Choice{}, false
	}
	return r.Choices[n-1], true
}

// MayPick reports whether reply could pick a choice of a numbered menu on
// surface s: whether it is worth finding the menu it would answer.
func MayPick(s Name, reply string) bool {
	if s != WhatsApp && s != Messenger && s != Instagram {
		return false
	}
	_, ok := menuNumber(reply)
	return ok
}

// menuNumber reads a menu reply: "2", "#2", "2." or "2)".
func menuNumber(reply string) (int, bool) {
	s := strings.TrimSpace(reply)
	s = strings.TrimPrefix(s, "#")
	s = strings.TrimSuffix(s, ".")
	s = strings.TrimSuffix(s, ")")
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil && n >= 1
}

// Render renders m for surface s. An unknown surface renders as web.
func Render(s Name, m host.Message) Rendered {
	if m.Card == nil {
		return Rendered{Surface: s, Kind: KindText, Text: m.Text}
	}
	c := m.Card
	if s == Web || (s != WhatsApp && s != Messenger && s != Instagram) {
		cc := *c
		return Rendered{Surface: Web, Kind: KindCard, Card: &cc, Text: m.Text}
	}
	body := cardText(m)
	choices := cardChoices(c)
	if c.Form != nil {
		return Rendered{Surface: s, Kind: KindForm, Text: formText(body, c.Form)}
	}
	if len(choices) == 0 {
		if c.Image != "" {
			body = strings.TrimSpace(body + "\n" + c.Image)
		}
		return Rendered{Surface: s, Kind: KindText, Text: body}
	}
	switch s {
	case WhatsApp:
		if c.List == nil && fits(choices, WhatsAppMaxButtons, WhatsAppButtonTitle) {
			return Rendered{Surface: s, Kind: KindButtons, Text: body, Choices: choices}
		}
		if c.List != nil && fits(choices, WhatsAppMaxListRows, WhatsAppListRowTitle) && runes(listButton(c.List)) <= WhatsAppListButton {
			return Rendered{Surface: s, Kind: KindList, Text: body, Button: listButton(c.List), Choices: choices}
		}
	case Messenger, Instagram:
		// A card with an image or title and few buttons reads best as a
		// one-element generic template; a list of few items as elements.
		if c.List == nil && (c.Image != "" || c.Title != "") && fits(choices, MessengerMaxElemButtons, MessengerButtonTitle) {
			return Rendered{Surface: s, Kind: KindGeneric, Elements: []Element{{
				Title: clip(orDefault(c.Title, c.Text), MessengerElementTitle), Subtitle: subtitle(c), Image: c.Image, Buttons: choices,
			}}}
		}
		// Quick replies show titles only: a list whose items say more (a
		// catalogue's prices) goes as elements, whose subtitles keep it.
		if !described(choices) && fits(choices, MessengerMaxQuickReplies, MessengerQuickReplyTitle) {
			return Rendered{Surface: s, Kind: KindQuickReplies, Text: body, Choices: choices}
		}
		if c.List != nil && len(choices) <= MessengerMaxElements && elementTitlesFit(choices) {
			els := make([]Element, len(choices))
			for i, ch := range choices {
				els[i] = Element{Title: ch.Title, Subtitle: ch.Description, Buttons: []Choice{{Kind: ch.Kind, ID: ch.ID, Value: ch.Value, Title: "Choose"}}}
			}
			return Rendered{Surface: s, Kind: KindGeneric, Text: body, Elements: els}
		}
	}
	return menu(s, body, choices)
}

func menu(s Name, body string, choices []Choice) Rendered {
	var b strings.Builder
	if body != "" {
		b.WriteString(body)
		b.WriteString("\n\n")
	}
	for i, ch := range choices {
		fmt.Fprintf(&b, "%d. %s", i+1, ch.Title)
		if ch.Description != "" {
			fmt.Fprintf(&b, " (%s)", ch.Description)
		}
		b.WriteByte('\n')
	}
	b.WriteString("Reply with a number.")
	return Rendered{Surface: s, Kind: KindMenu, Text: b.String(), Choices: choices}
}

func cardText(m host.Message) string {
	c := m.Card
	var parts []string
	for _, p := range []string{m.Text, c.Title, c.Text} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "\n")
}

func cardChoices(c *host.Card) []Choice {
	var out []Choice
	for _, b := range c.Buttons {
		out = append(out, Choice{Kind: "button", ID: b.ID, Title: b.Title, Value: b.Value})
	}
	if c.List != nil {
		for _, it := range c.List.Items {
			out = append(out, Choice{Kind: "item", ID: it.ID, Title: it.Title, Description: it.Description})
		}
	}
	if c.Share != nil && len(out) == 0 {
		out = append(out, Choice{Kind: "share", Title: "Open", App: c.Share.App, Payload: c.Share.Payload})
	}
	return out
}

func formText(body string, f *host.Form) string {
	var b strings.Builder
	if body != "" {
		b.WriteString(body)
		b.WriteString("\n\n")
	}
	b.WriteString("This form needs the web client. Fields:")
	for _, fl := range f.Fields {
		fmt.Fprintf(&b, "\n- %s", orDefault(fl.Label, fl.Name))
	}
	return b.String()
}

func fits(cs []Choice, max, title int) bool {
	if len(cs) > max {
		return false
	}
	for _, c := range cs {
		if runes(c.Title) > title || c.Title == "" {
			return false
		}
	}
	return true
}

func elementTitlesFit(cs []Choice) bool {
	for _, c := range cs {
		if runes(c.Title) > MessengerElementTitle || c.Title == "" {
			return false
		}
	}
	return true
}

// described reports whether any choice has a description.
func described(cs []Choice) bool {
	for _, c := range cs {
		if c.Description != "" {
			return true
		}
	}
	return false
}

func listButton(l *host.List) string { return orDefault(l.Button, "Choose") }

func subtitle(c *host.Card) string {
	if c.Title == "" {
		return ""
	}
	return clip(c.Text, MessengerElementTitle)
}

func runes(s string) int { return utf8.RuneCountInString(s) }

func clip(s string, n int) string {
	if runes(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
