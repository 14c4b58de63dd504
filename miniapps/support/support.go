package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// keyTicket is the person's open handoff, in their private storage.
const keyTicket = "ticket"

// ticket is a conversation handed to the support team.
type ticket struct {
	Ref      string `json:"ref"`
	Question string `json:"question,omitempty"`
}

type bot struct {
	faq FAQ
}

// newApp returns the support bot answering from faq.
func newApp(faq FAQ) *passerelle.App {
	b := &bot{faq: faq}
	app := passerelle.NewApp()
	app.OnOpen(b.onOpen)
	app.OnMessage(b.onMessage)
	app.OnAction(b.onAction)
	app.OnHandoff(b.onHandoff)
	app.OnHandback(b.onHandback)
	return app
}

func (b *bot) onOpen(c *passerelle.Context, ev *passerelle.Event) error {
	return b.topics(c, "Hi! Pick a topic, or type your question in your own words.")
}

// topics draws the list of topics, with a way to reach a person.
func (b *bot) topics(c *passerelle.Context, text string) error {
	var items []passerelle.ListItem
	for _, t := range b.faq.Topics {
		items = append(items, passerelle.ListItem{ID: "topic:" + t.ID, Title: t.Title})
	}
	items = append(items, passerelle.ListItem{ID: "human", Title: "Talk to a person", Description: "Our team answers here"})
	_, err := c.SendCard(passerelle.Card{Title: "Help centre", Text: text, List: &passerelle.List{Button: "Topics", Items: items}})
	return err
}

func (b *bot) onMessage(c *passerelle.Context, ev *passerelle.Event) error {
	text := strings.TrimSpace(ev.Text)
	if WantsPerson(text) {
		return b.handoff(c, ev, text)
	}
	if e, ok := b.faq.Match(text); ok {
		return b.answer(c, e)
	}
	if len(words(text)) == 0 {
		return b.topics(c, "Hi! Pick a topic, or type your question in your own words.")
	}
	return b.notSure(c, text)
}

// notSure offers the topics and a person when the bot found no answer.
func (b *bot) notSure(c *passerelle.Context, text string) error {
	_, err := c.SendCard(passerelle.Card{
		Title: "I am not sure I understood",
		Text:  "I could not find an answer to that. Try other words, pick a topic, or talk to a person.",
		Buttons: []passerelle.Button{
			{ID: "topics", Title: "See the topics"},
			{ID: "human", Title: "Talk to a person", Value: clip(text, 200)},
		},
	})
	return err
}

func (b *bot) answer(c *passerelle.Context, e Entry) error {
	_, err := c.SendCard(passerelle.Card{
		Title: e.Question,
		Text:  e.Answer,
		Buttons: []passerelle.Button{
			{ID: "helped", Title: "That helped"},
			{ID: "human", Title: "Talk to a person", Value: e.Question},
			{ID: "topics", Title: "Other topics"},
		},
	})
	return err
}

func (b *bot) onAction(c *passerelle.Context, ev *passerelle.Event) error {
	a := ev.Action
	if a == nil {
		return b.topics(c, "Pick a topic, or type your question.")
	}
	if id, ok := strings.CutPrefix(a.ID, "topic:"); ok {
		return b.topic(c, id)
	}
	if id, ok := strings.CutPrefix(a.ID, "faq:"); ok {
		e, ok := b.faq.entry(id)
		if !ok {
			return b.topics(c, "That question is no longer here. Pick a topic, or type your question.")
		}
		return b.answer(c, e)
	}
	switch a.ID {
	case "helped":
		_, err := c.SendText("Glad I could help! Type anything if you need more.")
		return err
	case "human":
		return b.handoff(c, ev, a.Value)
	case "topics":
		return b.topics(c, "Pick a topic, or type your question.")
	}
	c.Logf(passerelle.LevelWarn, "unknown action %q", a.ID)
	return b.topics(c, "I did not understand that. Pick a topic, or type your question.")
}

func (b *bot) topic(c *passerelle.Context, id string) error {
	t, ok := b.faq.topic(id)
	if !ok {
		return b.topics(c, "That topic is no longer here. Pick another one.")
	}
	var items []passerelle.ListItem
	for _, e := range b.faq.Entries {
		if e.Topic == id {
			items = append(items, passerelle.ListItem{ID: "faq:" + e.ID, Title: e.Title, Description: e.Question})
		}
	}
	items = append(items, passerelle.ListItem{ID: "human", Title: "Talk to a person"})
	_, err := c.SendCard(passerelle.Card{Title: t.Title, Text: "Common questions (or type yours):",
		List: &passerelle.List{Button: "Questions", Items: items}})
	return err
}

// handoff passes the conversation to the merchant's support team
// (chat.handoff): a person answers in this conversation, and the
// person's messages go to them until they hand it back. A person asking
// again while it is open gets the same reference.
func (b *bot) handoff(c *passerelle.Context, ev *passerelle.Event, question string) error {
	store := c.PersonStore()
	raw, err := store.Get(keyTicket)
	if err != nil && !errors.Is(err, passerelle.ErrNotFound) {
		c.Logf(passerelle.LevelWarn, "read ticket: %v", err)
	}
	var t ticket // the one of a handoff still open, or a new one
	if err != nil || json.Unmarshal([]byte(raw), &t) != nil || t.Ref == "" {
		t = ticket{Ref: reference(ev.ID, ev.User), Question: clip(question, 200)}
	}
	summary := "The person asked for a person."
	if t.Question != "" {
		summary = "The person asked: " + t.Question
	}
	res, err := c.Handoff(passerelle.HandoffRequest{Reason: "asked for a person", Summary: summary,
		Fields: map[string]string{"reference": t.Ref, "surface": ev.Surface}})
	if err != nil {
		c.Logf(passerelle.LevelWarn, "handoff %s: %v", t.Ref, err)
		_, err = c.SendText(fmt.Sprintf("I could not reach our team just now (reference %s). Please try again in a moment.", t.Ref))
		return err
	}
	if res.Already {
		_, err := c.SendText(fmt.Sprintf("You are already in our queue (reference %s). A person from our team will answer here.", t.Ref))
		return err
	}
	data, _ := json.Marshal(t)
	if err := store.Set(keyTicket, string(data)); err != nil {
		c.Logf(passerelle.LevelWarn, "keep ticket %s: %v", t.Ref, err)
	}
	c.Logf(passerelle.LevelInfo, "handoff %s conversation=%s user=%s question=%q", t.Ref, ev.Conversation, ev.User, t.Question)
	_, err = c.SendText(fmt.Sprintf("I have passed this conversation to our support team (reference %s). A person will answer here, usually within one working day.", t.Ref))
	return err
}

// onHandoff tells the person who from the team joined.
func (b *bot) onHandoff(c *passerelle.Context, ev *passerelle.Event) error {
	if ev.Handoff == nil || ev.Handoff.Agent == "" {
		return nil
	}
	_, err := c.SendText(ev.Handoff.Agent + " from our team has joined the conversation.")
	return err
}

// onHandback greets the person back once the team handed the
// conversation back, and forgets the ticket.
func (b *bot) onHandback(c *passerelle.Context, ev *passerelle.Event) error {
	if _, err := c.PersonStore().Delete(keyTicket); err != nil {
		c.Logf(passerelle.LevelWarn, "forget ticket: %v", err)
	}
	if ev.Handoff != nil && ev.Handoff.Note != "" {
		c.Logf(passerelle.LevelInfo, "handback %s by %s: %s", ev.Handoff.ID, ev.Handoff.Agent, ev.Handoff.Note)
	}
	return b.topics(c, "I am back: thanks for your patience with our team! Anything else? Pick a topic, or type your question.")
}

// reference makes a short ticket reference from the event that opened it.
func reference(eventID, user string) string {
	h := fnv.New32a()
	h.Write([]byte(eventID + "\x00" + user))
	return "S-" + strings.ToUpper(strconv.FormatUint(uint64(h.Sum32()), 36))
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
