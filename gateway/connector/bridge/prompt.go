package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/promptstore"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/host/pay"
)

// hostToken mints a reply id only the host knows.
func hostToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return HostPrefix + hex.EncodeToString(b[:])
}

// describe is what a host-drawn prompt says on a network and the answers
// it offers, by the prompt's kind. A kind the bridge does not know is
// shown as text that sends the person to the web client.
func describe(p promptstore.Prompt) (text string, answers [][2]string) {
	switch p.Type {
	case "payment":
		var b pay.PromptBody
		if json.Unmarshal(p.Body, &b) == nil {
			who := b.MerchantName
			if who == "" {
				who = b.Merchant
			}
			amount := pay.FormatAmount(b.Amount, b.Currency)
			text = fmt.Sprintf("Pay %s to %s for %s?\nConfirm to pay from your Passerelle wallet; nothing is charged otherwise.", amount, who, b.Description)
			return text, [][2]string{{pay.AnswerConfirm, "Pay " + amount}, {pay.AnswerDecline, "Decline"}}
		}
	case "consent":
		var b identity.ConsentPromptBody
		if json.Unmarshal(p.Body, &b) == nil {
			who := b.MerchantName
			if who == "" {
				who = b.Merchant
			}
			what := make([]string, len(b.Scopes))
			for i, s := range b.Scopes {
				what[i] = strings.TrimPrefix(string(s), "identity.")
			}
			text = fmt.Sprintf("%s (app %s) asks to see your %s. Allow it?", who, b.App, strings.Join(what, " and "))
			return text, [][2]string{{identity.AnswerGrant, "Allow"}, {identity.AnswerRefuse, "Refuse"}}
		}
	case consent.PromptName:
		var b consent.PromptBody
		if json.Unmarshal(p.Body, &b) == nil {
			return b.Text, [][2]string{{consent.AnswerAccept, "Yes"}, {consent.AnswerDecline, "No"}}
		}
	}
	return fmt.Sprintf("A %s request is waiting for you; open the web client to answer it.", p.Type), nil
}

// sendPrompt draws p for the network of r: the prompt's text and one
// reply button per answer, whose ids are tokens the host minted and keeps
// (bridge.tokens). A prompt is drawn once, even when shown again.
func (b *Bridge) sendPrompt(ctx context.Context, r *route, p promptstore.Prompt) error {
	conn, err := b.cfg.Connections.Get(ctx, r.Conn)
	if err != nil {
		return err
	}
	text, answers := describe(p)
	it := &item{Key: "prompt:" + p.ID, Conn: r.Conn, Network: r.Network, To: r.To, Person: r.Person, Conv: r.Conv,
		App: r.App, Merch: r.Merchant, Host: &hostMsg{Text: text}, Created: b.cfg.Now().UnixMilli()}
	var added bool
	err = b.commit.Do(func(tx *bbolt.Tx) error {
		added = false
		if tx.Bucket(bucketItems).Get([]byte(it.Key)) != nil {
			return nil
		}
		it.Host.Buttons = it.Host.Buttons[:0]
		if o := optinPrompt(r, p); o != nil {
			// Messenger's own opt-in request: its button answers yes
			// through the opt-in webhook, whose payload is the token.
			t := hostToken()
			if err := putJSON(tx.Bucket(bucketTokens), []byte(t), hostAnswer{Prompt: p.ID, Answer: consent.AnswerAccept, Person: r.Person,
				Conv: r.Conv, Created: it.Created, Purpose: o.Purpose, Text: text}); err != nil {
				return err
			}
			it.Host.Optin = &hostOptin{Title: optinTitle(o.Purpose, cmp(o.MerchantName, o.Merchant)), Token: t}
			var err error
			added, err = enqueue(tx, it)
			return err
		}
		for _, a := range answers {
			t := hostToken()
			if err := putJSON(tx.Bucket(bucketTokens), []byte(t), hostAnswer{Prompt: p.ID, Answer: a[0], Person: r.Person, Conv: r.Conv, Created: it.Created}); err != nil {
				return err
			}
			it.Host.Buttons = append(it.Host.Buttons, hostButton{Token: t, Title: a[1]})
		}
		var err error
		added, err = enqueue(tx, it)
		return err
	})
	if err == nil && added {
		b.met.prompts.WithLabelValues(r.Network, p.Type).Inc()
		b.wakeWorker(conn.ID)
	}
	return err
}

// answerHost applies a tap on a host prompt's button: the token names the
// prompt and the answer; the prompt store's kind applies it, as for an
// answer from the web client.
func (b *Bridge) answerHost(ctx context.Context, r *route, in inbound, nm gateway.NetworkMessage, token string) error {
	var ha hostAnswer
	var found bool
	if err := b.cfg.DB.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketTokens).Get([]byte(token))
		found = v != nil && json.Unmarshal(v, &ha) == nil
		return nil
	}); err != nil {
		return err
	}
	if !found || ha.Person != r.Person {
		return b.hostText(ctx, in.conn, in.from, r.Person, "answer:"+in.network+":"+in.id, "This button is no longer valid; nothing was done.")
	}
	posted, err := b.srv.PostFromNetwork(ctx, nm)
	if err != nil || posted.Dup {
		return err
	}
	err = b.srv.AnswerFromNetwork(ctx, r.Person, in.network, ha.Prompt, ha.Answer)
	b.met.answers.WithLabelValues(in.network, ha.Answer).Inc()
	if err == nil {
		return nil
	}
	msg := host.MessageOf(err)
	var ge *gateway.Error
	if errors.As(err, &ge) {
		msg = ge.Message
	}
	return b.hostText(ctx, in.conn, in.from, r.Person, "answer:"+in.network+":"+in.id, "That did not go through: "+msg)
}

// optinPrompt returns the body of p when it is drawn on r's network as
// Messenger's opt-in request for notification messages: a subscribe
// prompt for a purpose (consent.request_optin) in a Messenger
// conversation. The opt-in it gives is what lets the business's messages
// of that purpose reach the person outside the 24-hour window.
func optinPrompt(r *route, p promptstore.Prompt) *consent.PromptBody {
	if r.Network != connector.NetworkMessenger || p.Type != consent.PromptName {
		return nil
	}
	var b consent.PromptBody
	if json.Unmarshal(p.Body, &b) != nil || b.Purpose == "" {
		return nil
	}
	return &b
}
