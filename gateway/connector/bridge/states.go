package bridge

import (
	"context"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/msgstate"
)

// States is where the bridge records what became of an app's message on
// its network, inside the transaction that moves the message's outbox
// item (gateway.Server.MessageStateTx): the merchant's figures, the
// message's history and, for an app that asks for them, its status
// events commit with the move or not at all.
type States interface {
	// MessageStateTx records m inside tx and returns what to do once tx
	// committed (nil when nothing moved).
	MessageStateTx(tx *bbolt.Tx, m msgstate.Move, person string) (func(), error)
}

// stateMoved records in tx that it, an app's message, reached its state
// (fail says why it failed), when Config.States is set; the returned
// function, if not nil, runs once tx committed. The bridge's own messages
// and those the merchant's staff wrote are no app's and are not recorded.
func (b *Bridge) stateMoved(tx *bbolt.Tx, it *item, fail *connector.Error) (func(), error) {
	if b.cfg.States == nil || it.Msg == nil || it.App == "" || it.Agent != "" {
		return nil, nil
	}
	m := msgstate.Move{Message: it.Key, App: it.App, Conversation: it.Conv, Surface: it.Network, State: it.State, At: b.cfg.Now()}
	if fail != nil && it.State == StateFailed {
		m.Code, m.NetworkCode = failCode(fail.Class), fail.Code
	}
	return b.cfg.States.MessageStateTx(tx, m, it.Person)
}

// failCode is the stable code of a refusal of class c, as the app's log
// and the app's status event name it.
func failCode(c connector.Class) string {
	switch c {
	case connector.ClassWindowClosed:
		return "window_closed"
	case connector.ClassConsent:
		return "opted_out"
	case connector.ClassUndeliverable:
		return "undeliverable"
	}
	return string(c)
}

// then runs f and g, either of which may be nil.
func then(f, g func()) func() {
	if f == nil {
		return g
	}
	if g == nil {
		return f
	}
	return func() { f(); g() }
}

// watermarkStates moves to state each app message of r's conversation up
// to seq that a Messenger watermark passed (a watermark names no message:
// everything sent before it was delivered or read), through status, as if
// the network had named each one. The route remembers how far each state
// went, so a watermark reads only the messages after the last one.
func (b *Bridge) watermarkStates(ctx context.Context, r *route, seq uint64, state string) error {
	if b.cfg.States == nil {
		return nil
	}
	var from uint64
	if err := b.cfg.DB.View(func(tx *bbolt.Tx) error {
		cur, err := getRoute(tx, r.Conv)
		if cur != nil {
			from = cur.Delivered
			if state == StateRead {
				from = cur.Read
			}
		}
		return err
	}); err != nil || seq <= from {
		return err
	}
scan:
	for after := from; after < seq; {
		msgs, err := b.srv.Range(ctx, r.Conv, after, 200)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Seq > seq {
				break scan
			}
			after = m.Seq
			if m.From.Kind != "app" || m.ID == "" {
				continue
			}
			var id string
			if err := b.cfg.DB.View(func(tx *bbolt.Tx) error {
				it, err := getItem(tx, m.ID)
				if it != nil {
					id = it.ID
				}
				return err
			}); err != nil {
				return err
			}
			if id == "" {
				continue // not sent (the bridge's outbox never had it, or it failed)
			}
			if err := b.status(ctx, r.Network, r.To, id, state, nil); err != nil {
				return err
			}
		}
		if len(msgs) < 200 {
			break
		}
	}
	return b.commit.Do(func(tx *bbolt.Tx) error {
		cur, err := getRoute(tx, r.Conv)
		if err != nil || cur == nil {
			return err
		}
		if state == StateRead {
			cur.Read = max(cur.Read, seq)
		}
		cur.Delivered = max(cur.Delivered, seq, cur.Read)
		return putJSON(tx.Bucket(bucketRoutes), []byte(cur.Conv), cur)
	})
}
