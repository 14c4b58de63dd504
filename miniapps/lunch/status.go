package main

import (
	"encoding/json"
	"fmt"

	passerelle "github.com/passerelle/passerelle/sdk/go"
)

// Lunch asks for status events ("events": ["status"] in manifest.json) to
// learn whether the message saying an order is ready reached the person.
// When it failed (on WhatsApp, say, outside the 24-hour window with no
// template to carry it), the food is waiting all the same: lunch keeps the
// order and tells the person the next time they write or open the app.

// Storage keys of the ready notices, in the person's private scope.
const (
	keyNoticePrefix = "notice:" // + message id: the order ref its ready notice names, until read or failed
	keyMissed       = "missed"  // a missed notice (JSON) to tell at the person's next visit
)

// missed is a ready notice that did not reach the person.
type missed struct {
	Ref     string `json:"ref"`
	Surface string `json:"surface"`
	Code    string `json:"code,omitempty"`
}

// noteNotice remembers that message id tells the person order ref is
// ready, for its status events.
func noteNotice(c *passerelle.Context, id, ref string) {
	if id == "" {
		return
	}
	if err := setKey(c, keyNoticePrefix+id, ref); err != nil {
		c.Logf(passerelle.LevelWarn, "order %s: remember the ready notice %s: %v", ref, id, err)
	}
}

// onStatus follows the ready notices: read, they are forgotten; failed,
// the person is told at their next visit.
func (l *lunch) onStatus(c *passerelle.Context, ev *passerelle.Event) error {
	st := ev.Status
	if st == nil {
		return nil
	}
	ref, ok, err := getKey(c, keyNoticePrefix+st.Message)
	if err != nil || !ok {
		return err // not a ready notice: a menu, a receipt
	}
	switch st.State {
	case passerelle.StateRead:
		return deleteKey(c, keyNoticePrefix+st.Message)
	case passerelle.StateFailed:
		c.Logf(passerelle.LevelWarn, "order %s: the ready notice %s did not reach the person on %s (%s, network code %d); they are told at their next visit",
			ref, st.Message, st.Surface, st.Code, st.NetworkCode)
		b, _ := json.Marshal(missed{Ref: ref, Surface: st.Surface, Code: st.Code})
		if err := setKey(c, keyMissed, string(b)); err != nil {
			return err
		}
		return deleteKey(c, keyNoticePrefix+st.Message)
	}
	return nil // delivered: wait for read
}

// takeMissed returns what to tell a person whose ready notice failed, and
// forgets it; "" when there is nothing.
func takeMissed(c *passerelle.Context) string {
	raw, ok, err := getKey(c, keyMissed)
	if err != nil || !ok {
		return ""
	}
	var m missed
	if json.Unmarshal([]byte(raw), &m) != nil || m.Ref == "" {
		return ""
	}
	if err := deleteKey(c, keyMissed); err != nil {
		c.Logf(passerelle.LevelWarn, "forget the missed notice of order %s: %v", m.Ref, err)
	}
	where := m.Surface
	if where == "" {
		where = "your app"
	}
	return fmt.Sprintf("Your order %s is ready for you: we could not reach you on %s to say so. ", m.Ref, surfaceName(where))
}

// surfaceName is how a person names the surface.
func surfaceName(s string) string {
	switch s {
	case "whatsapp":
		return "WhatsApp"
	case "messenger":
		return "Messenger"
	case "instagram":
		return "Instagram"
	}
	return s
}
