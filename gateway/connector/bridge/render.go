package bridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
	"github.com/passerelle/passerelle/gateway/surface"
	"github.com/passerelle/passerelle/host"
)

// Reply ids. A reply button, list row, quick reply or postback the bridge
// sends carries one of two kinds of id, which come back in the person's
// reply:
//
//   - "a:" and the JSON of the app's choice ([kind, id, value]): the
//     choice of an app's card, handed to the app as an action event;
//   - HostPrefix and a random token only the host mints: an answer to a
//     host-drawn prompt (a payment to confirm, a consent to give), routed
//     to the prompt store, never to the app.
//
// An app cannot send a choice whose id starts with HostPrefix: Render
// refuses the message (ErrReservedID), so no app can draw a button that
// answers a host prompt.
const (
	AppPrefix  = "a:"
	HostPrefix = "hp:"
)

// ErrReservedID is the refusal of an app message with a choice whose id
// starts with HostPrefix.
var ErrReservedID = errors.New("a button or list item id starts with \"hp:\", which the platform keeps for the prompts it draws; rename it")

// Out is a message rendered for one network: WhatsApp or Messenger
// (Messenger and Instagram), whichever the network is.
type Out struct {
	WhatsApp  whatsapp.Message
	Messenger *messenger.Message
	// Text is the text a person sees first, for logs and tests.
	Text string
}

// appChoiceID is the reply id of an app's choice, or false when it would
// be longer than max.
func appChoiceID(ch surface.Choice, max int) (string, bool) {
	b, _ := json.Marshal([]string{ch.Kind, ch.ID, ch.Value})
	id := AppPrefix + string(b)
	return id, len(id) <= max
}

// ParseReplyID reads the id of a reply: an app's choice (action set) or a
// host prompt's token (host set). Anything else is neither.
func ParseReplyID(id string) (action *host.Action, hostToken string) {
	if t, ok := strings.CutPrefix(id, HostPrefix); ok && t != "" {
		return nil, id
	}
	raw, ok := strings.CutPrefix(id, AppPrefix)
	if !ok {
		return nil, ""
	}
	var parts []string
	if json.Unmarshal([]byte(raw), &parts) != nil || len(parts) != 3 || parts[1] == "" {
		return nil, ""
	}
	return &host.Action{ID: parts[1], Value: parts[2]}, ""
}

// Render renders an app's message for network (connector.NetworkWhatsApp,
// NetworkMessenger or NetworkInstagram) through gateway/surface: reply
// buttons and lists on WhatsApp, quick replies and generic templates on
// Messenger and Instagram, a numbered text menu where the card does not fit
// (a reply of "2" picks the second choice). A form has no rendering here:
// the bridge asks its fields one by one. Render refuses a choice whose id
// starts with HostPrefix (ErrReservedID).
func Render(network string, m host.Message) (Out, error) {
	if c := m.Card; c != nil {
		for _, b := range c.Buttons {
			if strings.HasPrefix(b.ID, HostPrefix) {
				return Out{}, fmt.Errorf("button %q: %w", b.ID, ErrReservedID)
			}
		}
		if c.List != nil {
			for _, it := range c.List.Items {
				if strings.HasPrefix(it.ID, HostPrefix) {
					return Out{}, fmt.Errorf("list item %q: %w", it.ID, ErrReservedID)
				}
			}
		}
		if c.Form != nil && strings.HasPrefix(c.Form.ID, HostPrefix) {
			return Out{}, fmt.Errorf("form %q: %w", c.Form.ID, ErrReservedID)
		}
	}
	sf, err := surfaceOf(network)
	if err != nil {
		return Out{}, err
	}
	r := surface.Render(sf, m)
	switch network {
	case connector.NetworkWhatsApp:
		return renderWhatsApp(r), nil
	default:
		return renderMessenger(r), nil
	}
}

func surfaceOf(network string) (surface.Name, error) {
	switch network {
	case connector.NetworkWhatsApp:
		return surface.WhatsApp, nil
	case connector.NetworkMessenger:
		return surface.Messenger, nil
	case connector.NetworkInstagram:
		return surface.Instagram, nil
	}
	return "", fmt.Errorf("bridge: network %q: want whatsapp, messenger or instagram", network)
}

// menuOf is r degraded to its numbered text menu.
func menuOf(r surface.Rendered) surface.Rendered {
	var b strings.Builder
	if r.Text != "" {
		b.WriteString(r.Text)
		b.WriteString("\n\n")
	}
	for i, ch := range r.Choices {
		fmt.Fprintf(&b, "%d. %s", i+1, ch.Title)
		if ch.Description != "" {
			fmt.Fprintf(&b, " (%s)", ch.Description)
		}
		b.WriteByte('\n')
	}
	b.WriteString("Reply with a number.")
	return surface.Rendered{Surface: r.Surface, Kind: surface.KindMenu, Text: b.String(), Choices: r.Choices}
}

func orText(s string) string {
	if strings.TrimSpace(s) == "" {
		return "Choose:"
	}
	return s
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func renderWhatsApp(r surface.Rendered) Out {
	switch r.Kind {
	case surface.KindButtons:
		bs := make([]whatsapp.Button, len(r.Choices))
		for i, ch := range r.Choices {
			id, ok := appChoiceID(ch, whatsapp.MaxButtonID)
			if !ok {
				return renderWhatsApp(menuOf(r))
			}
			bs[i] = whatsapp.Button{ID: id, Title: ch.Title}
		}
		body := clip(orText(r.Text), whatsapp.MaxInteractiveBody)
		return Out{WhatsApp: whatsapp.Buttons{Body: body, Buttons: bs}, Text: body}
	case surface.KindList:
		rows := make([]whatsapp.Row, len(r.Choices))
		for i, ch := range r.Choices {
			id, ok := appChoiceID(ch, whatsapp.MaxListRowID)
			if !ok {
				return renderWhatsApp(menuOf(r))
			}
			rows[i] = whatsapp.Row{ID: id, Title: ch.Title, Description: clip(ch.Description, whatsapp.MaxListRowDesc)}
		}
		body := clip(orText(r.Text), whatsapp.MaxInteractiveBody)
		return Out{WhatsApp: whatsapp.List{Body: body, Button: r.Button, Sections: []whatsapp.Section{{Rows: rows}}}, Text: body}
	}
	text := clip(orText(r.Text), whatsapp.MaxTextBody)
	return Out{WhatsApp: whatsapp.Text{Body: text}, Text: text}
}

func renderMessenger(r surface.Rendered) Out {
	max := messenger.MaxText
	if r.Surface == surface.Instagram {
		max = messenger.MaxInstagramText / 4 // bytes: 4 per character at worst
	}
	switch r.Kind {
	case surface.KindQuickReplies:
		qs := make([]messenger.QuickReply, len(r.Choices))
		for i, ch := range r.Choices {
			id, ok := appChoiceID(ch, messenger.MaxPayload)
			if !ok {
				return renderMessenger(menuOf(r))
			}
			qs[i] = messenger.QuickReply{Title: ch.Title, Payload: id}
		}
		text := clip(orText(r.Text), max)
		return Out{Messenger: &messenger.Message{Text: text, QuickReplies: qs}, Text: text}
	case surface.KindGeneric:
		cards := make([]messenger.Card, len(r.Elements))
		for i, el := range r.Elements {
			c := messenger.Card{Title: clip(el.Title, messenger.MaxElementTitle), Subtitle: clip(el.Subtitle, messenger.MaxElementSubtitle)}
			if strings.HasPrefix(el.Image, "https://") {
				c.ImageURL = el.Image
			}
			for _, ch := range el.Buttons {
				id, ok := appChoiceID(ch, messenger.MaxPayload)
				if !ok {
					return renderMessenger(menuOf(surface.Rendered{Surface: r.Surface, Text: r.Text, Choices: allChoices(r)}))
				}
				c.Buttons = append(c.Buttons, messenger.Button{Title: ch.Title, Payload: id})
			}
			cards[i] = c
		}
		return Out{Messenger: &messenger.Message{Cards: cards}, Text: cards[0].Title}
	}
	text := clip(orText(r.Text), max)
	return Out{Messenger: &messenger.Message{Text: text}, Text: text}
}

func allChoices(r surface.Rendered) []surface.Choice {
	var out []surface.Choice
	for _, el := range r.Elements {
		out = append(out, el.Buttons...)
	}
	return out
}

// hostButton is one answer of a host-drawn prompt.
type hostButton struct {
	Token string // HostPrefix + random
	Title string
}

// renderHost renders a host-drawn prompt: text and up to three answers.
func renderHost(network, text string, buttons []hostButton) Out {
	if network == connector.NetworkWhatsApp {
		bs := make([]whatsapp.Button, len(buttons))
		for i, b := range buttons {
			bs[i] = whatsapp.Button{ID: b.Token, Title: clip(b.Title, whatsapp.MaxButtonTitle)}
		}
		body := clip(text, whatsapp.MaxInteractiveBody)
		if len(bs) == 0 {
			return Out{WhatsApp: whatsapp.Text{Body: body}, Text: body}
		}
		return Out{WhatsApp: whatsapp.Buttons{Body: body, Buttons: bs}, Text: body}
	}
	qs := make([]messenger.QuickReply, len(buttons))
	for i, b := range buttons {
		qs[i] = messenger.QuickReply{Title: clip(b.Title, messenger.MaxQuickReplyTitle), Payload: b.Token}
	}
	body := clip(text, 640)
	return Out{Messenger: &messenger.Message{Text: body, QuickReplies: qs}, Text: body}
}

// renderText is a plain text from the host (a form's question, an answer
// to a LINK, a polite refusal).
func renderText(network, text string) Out {
	if network == connector.NetworkWhatsApp {
		return Out{WhatsApp: whatsapp.Text{Body: clip(text, whatsapp.MaxTextBody)}, Text: text}
	}
	return Out{Messenger: &messenger.Message{Text: clip(text, 640)}, Text: text}
}
