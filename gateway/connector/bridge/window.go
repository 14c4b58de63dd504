package bridge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/connstore"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
)

// Templates is what the bridge needs of the merchants' registered
// WhatsApp message templates (connstore's Store satisfies it): the one an
// app's purpose or template name stands for, or an error wrapping
// connstore.ErrNoTemplate.
type Templates interface {
	Template(ctx context.Context, conn, name string) (connstore.Template, error)
}

// The networks' windows.
const (
	// ServiceWindow is how long after a person's last message a business
	// may send them anything (WhatsApp's customer service window,
	// Messenger's standard messaging window).
	ServiceWindow = 24 * time.Hour
	// AgentWindow is how long after a person's last message a member of
	// the business's staff may answer on Messenger under the HUMAN_AGENT
	// tag.
	AgentWindow = 7 * 24 * time.Hour
)

// seen records that the person of conv wrote at at.
func (b *Bridge) seen(conv string, at time.Time) error {
	return b.commit.Do(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSeen).Put([]byte(conv), binary.BigEndian.AppendUint64(nil, uint64(at.UnixMilli())))
	})
}

// lastSeen is when the person of conv last wrote; zero if never since the
// bridge began keeping it.
func lastSeen(tx *bbolt.Tx, conv string) time.Time {
	bk := tx.Bucket(bucketSeen)
	if bk == nil || conv == "" {
		return time.Time{}
	}
	v := bk.Get([]byte(conv))
	if len(v) != 8 {
		return time.Time{}
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(v)))
}

// windowClosed says whether the person of it is known to have last
// written more than d ago.
func (b *Bridge) windowClosed(tx *bbolt.Tx, it *item, d time.Duration) bool {
	at := lastSeen(tx, it.Conv)
	return !at.IsZero() && b.cfg.Now().Sub(at) > d
}

// basisName is the name under which it's message was sent (chat.notify's
// template or purpose), "" for a message that rests on no consent.
func basisName(it *item) string {
	if it.Msg == nil || it.Basis == nil {
		return ""
	}
	if it.Basis.Template != "" {
		return it.Basis.Template
	}
	return it.Basis.Purpose
}

// templates returns, for the WhatsApp items of round that must go as a
// template (a business-initiated message to a person whose window is
// closed, or one WhatsApp refused with 131047), the template to send, or
// the error that says why none can go. It reads the store outside the
// outbox's transaction.
func (b *Bridge) templates(ctx context.Context, conn string, round []*item) (map[string]*whatsapp.Template, map[string]error) {
	var want []*item
	_ = b.cfg.DB.View(func(tx *bbolt.Tx) error {
		for _, it := range round {
			if it.Network != connector.NetworkWhatsApp || basisName(it) == "" {
				continue
			}
			if it.AsTemplate || b.windowClosed(tx, it, ServiceWindow) {
				want = append(want, it)
			}
		}
		return nil
	})
	if len(want) == 0 {
		return nil, nil
	}
	ok, bad := map[string]*whatsapp.Template{}, map[string]error{}
	for _, it := range want {
		name := basisName(it)
		if b.optedOut(ctx, it.Person, it.Merch) {
			bad[it.Key] = errors.New("the person has stopped this business's messages (STOP) since it was sent, so no template goes either")
			continue
		}
		if b.cfg.Templates == nil {
			bad[it.Key] = fmt.Errorf("this server keeps no message templates, and %q needs one", name)
			continue
		}
		t, err := b.cfg.Templates.Template(ctx, conn, name)
		switch {
		case errors.Is(err, connstore.ErrNoTemplate):
			bad[it.Key] = fmt.Errorf("the connection has no template %s registered (passerelle connections templates add %s --name %s ...)",
				connstore.TemplateName(name), conn, connstore.TemplateName(name))
		case err != nil:
			bad[it.Key] = err
		case t.Params() != len(it.Basis.Params):
			bad[it.Key] = fmt.Errorf("template %s has %d parameters and the message gave %d params; give one value per {{n}} in chat.notify's params",
				t.Name, t.Params(), len(it.Basis.Params))
		default:
			ok[it.Key] = &whatsapp.Template{Name: t.Name, Language: t.Language, Params: it.Basis.Params}
		}
	}
	return ok, bad
}

// windowError is the refusal of a business-initiated message that cannot
// go as a template.
func windowError(it *item, why error) *connector.Error {
	return &connector.Error{Network: it.Network, Class: connector.ClassWindowClosed, Code: 131047,
		Message: "the person last wrote more than 24 hours ago and " + why.Error()}
}

// agentTag is how an agent's answer goes on Messenger or Instagram: within
// the standard window as usual; within AgentWindow under the HUMAN_AGENT
// tag; beyond it, a refusal.
func (b *Bridge) agentTag(tx *bbolt.Tx, it *item, out *Out) error {
	if it.Agent == "" || out.Messenger == nil || it.Network == connector.NetworkWhatsApp {
		return nil
	}
	at := lastSeen(tx, it.Conv)
	if at.IsZero() {
		return nil
	}
	switch age := b.cfg.Now().Sub(at); {
	case age <= ServiceWindow:
		return nil
	case age <= AgentWindow:
		out.Messenger.Type, out.Messenger.Tag = messenger.MessageTag, messenger.HumanAgent
		return nil
	default:
		return &connector.Error{Network: it.Network, Class: connector.ClassWindowClosed, Code: 10,
			Message: fmt.Sprintf("the person last wrote %s ago; on %s a member of staff may answer within 7 days of the person's last message (HUMAN_AGENT), the business within 24 hours; wait until they write again",
				strings.TrimSuffix(b.cfg.Now().Sub(at).Round(time.Hour).String(), "0m0s"), it.Network)}
	}
}

// waUndeliverable is WhatsApp's "message undeliverable" (131026): the
// number is not on WhatsApp or cannot receive the message.
const waUndeliverable = 131026

// retemplate says whether WhatsApp's refusal e of it, at send or in a
// failed status, means that it goes again as its template: a
// business-initiated message (it rests on a purpose or template) sent as
// free-form text outside the window (131047).
func retemplate(it *item, e *connector.Error) bool {
	return e != nil && e.Class == connector.ClassWindowClosed && it.Network == connector.NetworkWhatsApp &&
		!it.AsTemplate && basisName(it) != ""
}

// requeue puts it, which WhatsApp accepted as free-form text and then
// reported failed with 131047, back in its place in its connection's
// queue, to go as its template. Its network id is forgotten, so that a
// status of the refused send (a redelivery) no longer moves it; the
// item's key stays its idempotency key.
func requeue(tx *bbolt.Tx, it *item, e *connector.Error) error {
	it.State, it.AsTemplate, it.Prev, it.ID, it.Error, it.NextAt = StateQueued, true, it.ID, "", e.Error(), 0
	if err := putJSON(tx.Bucket(bucketItems), []byte(it.Key), it); err != nil {
		return err
	}
	return tx.Bucket(bucketQueue).Put(queueKey(it.Conn, it.QSeq), []byte(it.Key))
}

// recordUndeliverable says whether the network's refusal e means the
// person cannot be reached, for the consent ledger (KindUndeliverable):
// WhatsApp's 131026; on Messenger and Instagram every undeliverable code
// (551 "this person isn't available" or "isn't receiving messages from
// you", 200/1545041, 10/2018108, 100/2018001 and 2534014 "no matching
// user").
func recordUndeliverable(network string, e *connector.Error) bool {
	if e.Class != connector.ClassUndeliverable {
		return false
	}
	if network == connector.NetworkWhatsApp {
		return e.Code == waUndeliverable
	}
	return network == connector.NetworkMessenger || network == connector.NetworkInstagram
}
