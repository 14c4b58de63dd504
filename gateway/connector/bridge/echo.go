package bridge

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
)

// Elsewhere is a person whom the business answered from another tool of
// its network account (Meta's own inbox, another app of the Page): the
// bridge stored the message in their conversation (Config.Elsewhere).
type Elsewhere struct {
	Conv    string
	Person  string // platform id
	Network string
	App     host.AppRef // the connection's app and merchant; no version
	Text    string
}

// errEchoEarly is an echo that may be of a message the bridge is still
// sending: it is handled again once the send's answer is recorded.
var errEchoEarly = errors.New("bridge: an echo came while a message to its person is in the outbox; tried again")

// echo handles a Messenger or Instagram message echo: a copy of a
// message the business sent the person. The bridge's own sends are known
// by their message ids (the Send API's answers); any other is a message
// the business wrote elsewhere, stored in the person's conversation (from
// gateway.KindPage) and reported to Config.Elsewhere.
func (b *Bridge) echo(ctx context.Context, network string, ev messenger.Event) error {
	to := ev.Recipient // an echo goes from the account to the person
	if ev.MessageID == "" || to == "" {
		return nil
	}
	var ours, early bool
	err := b.cfg.DB.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketSent).Get(sentKey(network, ev.MessageID)) != nil {
			ours = true
			return nil
		}
		c := tx.Bucket(bucketQueue).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			it, err := getItem(tx, string(v))
			if err != nil {
				return err
			}
			if it != nil && it.Network == network && it.To == to {
				early = true
				return nil
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case ours:
		b.met.inbound.WithLabelValues(network, "echo_ours").Inc()
		return nil
	case early:
		return errEchoEarly
	}
	conn, err := b.cfg.Connections.ByAccount(ctx, network, ev.AccountID)
	if errors.Is(err, connector.ErrNoConnection) {
		return nil
	}
	if err != nil {
		return err
	}
	p, err := b.cfg.Identity.PersonByAccount(ctx, identity.Account{Surface: network, External: to})
	if errors.Is(err, identity.ErrNotFound) {
		// The person never wrote to the business here: no conversation
		// to keep it in.
		b.log.Info("bridge: an echo to a person who never wrote", "network", network, "to", to)
		return nil
	}
	if err != nil {
		return err
	}
	r, err := b.ensureRoute(ctx, conn, to, p.ID)
	if err != nil {
		return err
	}
	text := ev.Text
	if text == "" {
		text = "[attachment]"
	}
	posted, err := b.srv.PostFromPage(ctx, r.Conv, network, ev.MessageID, fmt.Sprintf("%s inbox", networkTitle(network)), text)
	if err != nil || posted.Dup {
		return err
	}
	b.met.inbound.WithLabelValues(network, "echo_elsewhere").Inc()
	if b.cfg.Elsewhere == nil {
		return nil
	}
	return b.cfg.Elsewhere(ctx, Elsewhere{Conv: r.Conv, Person: p.ID, Network: network,
		App: host.AppRef{Merchant: conn.Merchant, App: conn.App}, Text: text})
}

func networkTitle(network string) string {
	switch network {
	case connector.NetworkInstagram:
		return "Instagram"
	case connector.NetworkWhatsApp:
		return "WhatsApp"
	}
	return "Messenger"
}
