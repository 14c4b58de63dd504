package host

import (
	"context"
	"encoding/json"
)

// Prompt is a host-drawn question to one person: a payment to confirm, a
// scope to grant, a conversation to share a card into. The gateway stores
// it, shows it to Person on every connection until it is answered, and
// hands the answer to its Kind, without knowing what either means.
type Prompt struct {
	// ID names the prompt; the kind chooses it, stable for what it asks
	// (a payment prompt is named after its order), so that a retried
	// request showing it again does not ask twice.
	ID     string
	Kind   *PromptKind
	Person string          // platform id of the only person who may see and answer it
	Body   json.RawMessage // what the client draws, as it goes to the socket and the disk
}

// Dismiss is the answer every prompt takes: the person closes it without
// answering; its kind is not told.
const Dismiss = "dismiss"

// PromptKind is one kind of prompt, declared by the service that owns it
// (host/pay: payment; host/identity: consent; host/chat: share), with the
// answers a person may give and the code that applies one. A new kind of
// prompt is one more PromptKind; the gateway needs no change.
type PromptKind struct {
	Name    string   // the prompt's "type" on the wire and on disk, e.g. "payment"; unique
	Answers []string // what a person may answer besides Dismiss, e.g. confirm and decline
	// Apply applies a person's answer, one of Answers. settled reports
	// whether the prompt is done with: it then closes on every connection
	// of the person, even when err is not nil (a payment confirmed without
	// enough money declines the order: asking again is useless). err is
	// told to the person; it should be an *Error.
	Apply func(ctx context.Context, a Answer) (settled bool, err error)
}

// Takes reports whether answer is one of k's answers.
func (k *PromptKind) Takes(answer string) bool {
	for _, a := range k.Answers {
		if a == answer {
			return true
		}
	}
	return false
}

// Settles reports whether an answer that ended with err settled its
// prompt: when err is nil, or when its status is one of final (the
// question has no other answer any more, such as an order already paid).
func Settles(err error, final ...Status) bool {
	st := StatusOf(err)
	if st == StatusOK {
		return true
	}
	for _, f := range final {
		if st == f {
			return true
		}
	}
	return false
}

// Answer is a person's answer to a prompt, as its kind's Apply gets it.
type Answer struct {
	Prompt       string          // the prompt's ID
	Person       string          // who answered: the prompt's person
	App          AppRef          // the app whose call caused the prompt
	Conversation string          // where the prompt was caused
	Body         json.RawMessage // the prompt's Body
	Choice       string          // one of the kind's Answers
	Surface      string          // where the person answered, for ledgers
	Target       string          // a conversation the person picked (share), checked to be theirs
	Out          Outbox          // where the answer's effects go (a shared card)
}
