package gateway

import (
	"context"
	"encoding/json"
)

// typingFrame tells the other members that a person is typing.
type typingFrame struct {
	Type   string `json:"type"` // "typing"
	Conv   string `json:"conv"`
	Person string `json:"person"`
	Name   string `json:"name"`
}

// typing passes a person's "I am typing" on to the other members'
// connections: nothing is stored, and nothing is acknowledged unless the
// frame has an id. Clients send it at most every few seconds while the
// person types, and show it for a few seconds.
func (c *conn) typing(_ context.Context, f *Frame) error {
	rec, err := c.member(f.Conv)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(typingFrame{Type: "typing", Conv: f.Conv, Person: c.person, Name: c.name})
	for _, p := range rec.Members {
		if p == c.person {
			continue
		}
		for _, pc := range c.s.connsOf(p) {
			pc.deliver(outFrame{data: b})
		}
	}
	if f.ID != "" {
		c.reply(ackFrame{Type: "ack", ID: f.ID, Conv: f.Conv})
	}
	return nil
}
