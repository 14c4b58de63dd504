package bridge

import (
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
