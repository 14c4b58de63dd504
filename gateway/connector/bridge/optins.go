package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/identity"
)

// bucketOptins keeps Messenger's notification messages opt-ins: "t" 0
// token -> optin (JSON), and "p" 0 connection 0 PSID 0 purpose -> token,
// the person's latest token for a purpose.
var bucketOptins = []byte("bridge.optins")

// msTopicStopped is Messenger's subcode for a send by the token of a
// topic whose notification messages the person stopped (code 10).
const msTopicStopped = 1893015

// Notification messages statuses in the messaging_optins webhook.
const (
	optinStop   = "STOP NOTIFICATIONS"
	optinResume = "RESUME NOTIFICATIONS"
)

// optinVia is how the consent ledger names an opt-in Messenger gave.
const optinVia = "messenger notification messages"

// optin is a person's opt-in to a topic's notification messages on a
// Page: what a business-initiated message of Purpose outside the 24-hour
// window is sent by.
type optin struct {
	Token   string `json:"token"`
	Conn    string `json:"conn"`
	To      string `json:"to"` // the PSID
	Person  string `json:"person"`
	Purpose string `json:"purpose"`
	Title   string `json:"title"`
	Expiry  int64  `json:"expiry,omitempty"` // unix ms; 0: none given
	Stopped bool   `json:"stopped,omitempty"`
}

func optinTokenKey(token string) []byte { return append([]byte("t\x00"), token...) }

func optinPurposeKey(conn, to, purpose string) []byte {
	return []byte("p\x00" + conn + "\x00" + to + "\x00" + purpose)
}

// getOptin returns the opt-in of token, nil if none.
func getOptin(tx *bbolt.Tx, token string) *optin {
	v := tx.Bucket(bucketOptins).Get(optinTokenKey(token))
	var o optin
	if v == nil || json.Unmarshal(v, &o) != nil {
		return nil
	}
	return &o
}

// optinFor returns the person's latest opt-in to purpose through conn.
func optinFor(tx *bbolt.Tx, conn, to, purpose string) *optin {
	t := tx.Bucket(bucketOptins).Get(optinPurposeKey(conn, to, purpose))
	if t == nil {
		return nil
	}
	return getOptin(tx, string(t))
}

func putOptin(tx *bbolt.Tx, o *optin) error {
	b := tx.Bucket(bucketOptins)
	if err := putJSON(b, optinTokenKey(o.Token), o); err != nil {
		return err
	}
	return b.Put(optinPurposeKey(o.Conn, o.To, o.Purpose), []byte(o.Token))
}

// TopicPurpose is the consent purpose a Messenger notification messages
// topic stands for when the opt-in did not answer a host-drawn prompt
// (which names its purpose): the title in lower case, each run of other
// characters than a-z and 0-9 a "-", at most 64 characters;
// "notifications" for a title with none.
func TopicPurpose(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			if b.Len() >= 64 {
				break
			}
			continue
		}
		dash = true
	}
	p := b.String()
	if len(p) > 64 {
		p = p[:64]
	}
	p = strings.TrimRight(p, "-")
	if p == "" {
		return "notifications"
	}
	return p
}

// optinTitle is the title of the opt-in request drawn for a host prompt
// asking for purpose: "<purpose> from <business>", at most 65 characters.
func optinTitle(purpose, business string) string {
	t := purpose + " from " + business
	if utf8.RuneCountInString(t) > messenger.MaxOptinTitle {
		t = string([]rune(t)[:messenger.MaxOptinTitle-1]) + "…"
	}
	return t
}

// optinEvent handles a messaging_optins webhook event of notification
// messages: the person opted in to a topic (through the host-drawn opt-in
// request: its payload is the host's token for the prompt), stopped it or
// resumed it. The opt-in is recorded in the consent ledger as a standing
// opt-in of the person to the connection's business for the topic's
// purpose, expiring with the token (consent.OptInUntil); a stop withdraws
// it (consent.Withdraw); a resume grants it again. An opt-in that answers a
// host prompt then answers that prompt (the app gets its consent event;
// the ledger records the grant once).
func (b *Bridge) optinEvent(ctx context.Context, network string, ev messenger.Event) error {
	o := ev.Optin
	if o == nil || o.Type != "notification_messages" || o.Token == "" || ev.Sender == "" {
		b.log.Info("bridge: an opt-in the bridge does not use", "type", optinType(o), "key", ev.Key)
		return nil
	}
	conn, err := b.cfg.Connections.ByAccount(ctx, network, ev.AccountID)
	if errors.Is(err, connector.ErrNoConnection) {
		b.log.Warn("bridge: an opt-in to an account no connection has", "network", network, "account", ev.AccountID)
		return nil
	}
	if err != nil {
		return err
	}
	acct := identity.Account{Surface: network, External: ev.Sender}
	p, err := b.cfg.Identity.PersonByAccount(ctx, acct)
	if errors.Is(err, identity.ErrNotFound) {
		p, _, err = b.cfg.Identity.EnsurePerson(ctx, acct, defaultName(network, ev.Sender))
	}
	if err != nil {
		return err
	}
	title := ev.Title
	var ha *hostAnswer
	var known *optin
	if err := b.cfg.DB.View(func(tx *bbolt.Tx) error {
		known = getOptin(tx, o.Token)
		if _, token := ParseReplyID(ev.Payload); token != "" {
			var a hostAnswer
			if v := tx.Bucket(bucketTokens).Get([]byte(token)); v != nil && json.Unmarshal(v, &a) == nil && a.Person == p.ID && a.Purpose != "" {
				ha = &a
			}
		}
		return nil
	}); err != nil {
		return err
	}
	rec := &optin{Token: o.Token, Conn: conn.ID, To: ev.Sender, Person: p.ID, Title: title, Expiry: o.TokenExpiry}
	switch {
	case ha != nil:
		rec.Purpose = ha.Purpose
	case known != nil:
		rec.Purpose = known.Purpose
		rec.Title = cmp(title, known.Title)
		if rec.Expiry == 0 {
			rec.Expiry = known.Expiry
		}
	default:
		rec.Purpose = TopicPurpose(title)
	}
	rec.Stopped = o.Status == optinStop
	if err := b.commit.Do(func(tx *bbolt.Tx) error { return putOptin(tx, rec) }); err != nil {
		return err
	}
	b.met.inbound.WithLabelValues(network, "optin:"+strings.ToLower(cmp(o.Status, "OPT IN"))).Inc()
	if b.cfg.Consent == nil {
		return nil
	}
	if rec.Stopped {
		_, err := b.cfg.Consent.Withdraw(ctx, p.ID, conn.Merchant, rec.Purpose, network, "messenger: "+optinStop)
		return err
	}
	var expires time.Time
	if rec.Expiry > 0 {
		expires = time.UnixMilli(rec.Expiry)
	}
	via, answer := optinVia, ev.Key
	if o.Status == optinResume {
		via += ": " + optinResume
	}
	seen := fmt.Sprintf("Messenger opt-in request %q: the person tapped its button to get notification messages of this topic", rec.Title)
	if ha != nil {
		answer = ha.Prompt // the host prompt's grant is then this one
		seen += "; asked as: " + ha.Text
	}
	g := consent.Grant{Person: p.ID, Business: conn.Merchant, App: conn.App, Purpose: rec.Purpose, Surface: network,
		Conversation: gateway.NetworkConvID(conn.App, conn.ID, p.ID), Prompt: seen, Answer: answer}
	if _, err := b.cfg.Consent.OptInUntil(ctx, g, via, expires); err != nil {
		return err
	}
	if ha == nil {
		return nil
	}
	pr, err := b.srv.Prompt(ctx, ha.Prompt)
	if err != nil || pr.Answer != "" { // gone, or answered before (a redelivery)
		return nil
	}
	return b.srv.AnswerFromNetwork(ctx, p.ID, network, ha.Prompt, consent.AnswerAccept)
}

func optinType(o *messenger.Optin) string {
	if o == nil {
		return ""
	}
	return o.Type
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// byToken is how a business-initiated Messenger message of a purpose goes
// outside the 24-hour window: by the notification messages token of the
// person's opt-in to that purpose (Send API recipient
// notification_messages_token). Inside the window, or without such an
// opt-in, it goes as usual (Meta refuses it outside: window_closed). A
// stopped topic and an expired token are refusals.
func (b *Bridge) byToken(tx *bbolt.Tx, it *item, out *Out) error {
	if it.Network != connector.NetworkMessenger || out.Messenger == nil || it.Agent != "" || it.Msg == nil ||
		it.Basis == nil || it.Basis.Purpose == "" {
		return nil
	}
	if at := lastSeen(tx, it.Conv); !at.IsZero() && b.cfg.Now().Sub(at) <= ServiceWindow {
		return nil
	}
	o := optinFor(tx, it.Conn, it.To, it.Basis.Purpose)
	switch {
	case o == nil:
		return nil
	case o.Stopped:
		return &connector.Error{Network: it.Network, Class: connector.ClassConsent, Code: 10, Subcode: msTopicStopped,
			Message: fmt.Sprintf("the person stopped the notification messages of %q on Messenger", o.Title)}
	case o.Expiry > 0 && !b.cfg.Now().Before(time.UnixMilli(o.Expiry)):
		return &connector.Error{Network: it.Network, Class: connector.ClassOptInExpired,
			Message: fmt.Sprintf("the person's Messenger notification messages token for %q (purpose %s) expired on %s; ask them again with consent.request_optin when they next write",
				o.Title, o.Purpose, time.UnixMilli(o.Expiry).UTC().Format(time.DateOnly))}
	}
	out.Messenger.Token, out.Messenger.Type, out.Messenger.Tag = o.Token, "", ""
	return nil
}

// topicStopped records that Messenger refused it because the person
// stopped its topic's notification messages (10/1893015): the opt-in is
// withdrawn, as a STOP NOTIFICATIONS webhook would.
func (b *Bridge) topicStopped(ctx context.Context, it *item) {
	if it.Basis == nil || it.Basis.Purpose == "" {
		return
	}
	var o *optin
	_ = b.commit.Do(func(tx *bbolt.Tx) error {
		if o = optinFor(tx, it.Conn, it.To, it.Basis.Purpose); o == nil || o.Stopped {
			return nil
		}
		o.Stopped = true
		return putOptin(tx, o)
	})
	if b.cfg.Consent != nil && it.Person != "" && it.Merch != "" {
		if _, err := b.cfg.Consent.Withdraw(ctx, it.Person, it.Merch, it.Basis.Purpose, it.Network, "messenger: code 10/1893015"); err != nil {
			b.log.Error("bridge: recording a stopped topic failed", "person", it.Person, "merchant", it.Merch, "err", err)
		}
	}
}
