package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/mail"
	"strconv"
	"strings"
	"unicode"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/host"
)

// No network has forms: a card with a form becomes a question per field,
// asked in order. A reply that does not fit the field's type is refused
// with the reason and the question again; "-" skips a field that is not
// required. After the last field the app gets the action event a web
// client's form would have sent, with the values.

// SkipReply skips an optional field of a form asked on a network.
const SkipReply = "-"

// formState is a form being asked in one conversation.
type formState struct {
	Form   host.Form         `json:"form"`
	Title  string            `json:"title,omitempty"` // the card's title and text, said before the first question
	Index  int               `json:"index"`           // the field being asked
	Values map[string]string `json:"values"`
	Key    string            `json:"key"` // the card's outbox key
}

func newForm(it *item, c *host.Card) *formState {
	title := strings.TrimSpace(strings.Join([]string{it.Msg.Text, c.Title, c.Text}, "\n"))
	return &formState{Form: *c.Form, Title: title, Values: map[string]string{}, Key: it.Key}
}

func (f *formState) intro() string {
	n := len(f.Form.Fields)
	s := fmt.Sprintf("%d question", n)
	if n != 1 {
		s += "s"
	}
	if f.Title == "" {
		return s + ", one at a time:"
	}
	return f.Title + "\n(" + s + ", one at a time)"
}

// question is the current field's question.
func (f *formState) question() string {
	fl := f.Form.Fields[f.Index]
	label := fl.Label
	if label == "" {
		label = fl.Name
	}
	var hint string
	switch fl.Type {
	case "number":
		hint = " (a number)"
	case "email":
		hint = " (an email address)"
	case "phone":
		hint = " (a phone number)"
	}
	q := fmt.Sprintf("%d/%d %s%s?", f.Index+1, len(f.Form.Fields), label, hint)
	if !fl.Required {
		q += " Reply " + SkipReply + " to skip."
	}
	return q
}

// accept checks a reply to the current field: the value to keep, or why
// it does not fit.
func (f *formState) accept(reply string) (string, error) {
	fl := f.Form.Fields[f.Index]
	v := strings.TrimSpace(reply)
	if v == SkipReply && !fl.Required {
		return "", nil
	}
	if v == "" || v == SkipReply {
		return "", fmt.Errorf("this one is required")
	}
	switch fl.Type {
	case "number":
		if n, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", "."), 64); err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return "", fmt.Errorf("%q is not a number", v)
		}
	case "email":
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v || !strings.Contains(v, "@") {
			return "", fmt.Errorf("%q is not an email address", v)
		}
	case "phone":
		digits := 0
		for _, r := range v {
			switch {
			case unicode.IsDigit(r):
				digits++
			case strings.ContainsRune("+ -().", r):
			default:
				return "", fmt.Errorf("%q is not a phone number", v)
			}
		}
		if digits < 6 || digits > 15 {
			return "", fmt.Errorf("%q is not a phone number (6 to 15 digits)", v)
		}
	}
	return v, nil
}

// form returns the form being asked in conv, if any.
func (b *Bridge) form(conv string) (*formState, error) {
	var f *formState
	err := b.cfg.DB.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketForms).Get([]byte(conv))
		if v == nil {
			return nil
		}
		f = &formState{}
		return json.Unmarshal(v, f)
	})
	return f, err
}

// formAnswer takes a person's reply to the current question of f: the
// reply is stored in the conversation; the next question, the same one
// with the reason, or, after the last, the app's action event follows.
func (b *Bridge) formAnswer(ctx context.Context, r *route, in inbound, nm gateway.NetworkMessage, f *formState) error {
	posted, err := b.srv.PostFromNetwork(ctx, nm)
	if err != nil || posted.Dup {
		return err
	}
	v, verr := f.accept(in.text)
	key := "form:" + in.network + ":" + in.id
	if verr != nil {
		b.met.forms.WithLabelValues(r.Network, "invalid").Inc()
		return b.hostText(ctx, in.conn, in.from, r.Person, key, "Sorry, "+verr.Error()+". "+f.question())
	}
	if v != "" {
		f.Values[f.Form.Fields[f.Index].Name] = v
	}
	f.Index++
	done := f.Index >= len(f.Form.Fields)
	err = b.commit.Do(func(tx *bbolt.Tx) error {
		if done {
			return tx.Bucket(bucketForms).Delete([]byte(r.Conv))
		}
		return putJSON(tx.Bucket(bucketForms), []byte(r.Conv), f)
	})
	if err != nil {
		return err
	}
	if !done {
		return b.hostText(ctx, in.conn, in.from, r.Person, key, f.question())
	}
	b.met.forms.WithLabelValues(r.Network, "submitted").Inc()
	posted.Event.Type, posted.Event.Text, posted.Event.Action = host.EventAction, "", &host.Action{ID: f.Form.ID, Fields: f.Values}
	b.dispatch(ctx, r.Person, posted)
	return nil
}
