package gateway

import (
	"context"
	"encoding/json"
	"time"
	"weak"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// An app's message or prompt sent during an event is staged (Stage): it
// is stored inside the event's transaction, with the event's other effects
// and its consumption, and reaches people only once that transaction
// committed (host.Effect.Committed). Its seq is drawn inside the
// transaction, so a message of the same conversation stored meanwhile by
// the log's group commit (a person's, another event's) takes the next one.
//
// The fan-out hands a conversation's messages to its members in seq order
// (convState.next), and a state nobody uses may be dropped and rebuilt
// from the log with next after the newest stored seq. A staged message
// holds its conversation's state from its Apply, before its seq is drawn,
// until Committed fanned it out, so that between the commit and Committed
// (the writer lock is free again, other messages commit after it) the
// state cannot be rebuilt past its seq. An Effect has no hook for a
// rollback, and an event whose commit failed may be dropped, or run again
// with new effects: the state therefore holds the staged message through a
// weak pointer. While Committed may still run, the effect (its closure)
// reaches the message and the hold counts; once the runtime let go of a
// dropped event's effects, it no longer does.

// stagedMsg is an app's message staged in an event's transaction.
type stagedMsg struct {
	conv  string
	rec   *msgRecord
	cs    *convState // held from the first Apply
	dup   bool       // the last Apply found the message stored already
	start time.Time
}

// Stage implements host.TxOutbox: the returned Effect stores out (an app's
// message in its conversation, or a prompt to a person) inside the event's
// transaction, and once that committed delivers it as Emit does. Nothing
// is stored or shown when the transaction rolls back; Apply may then run
// again in a new one. Stage itself checks out and refuses what Emit would,
// a conversation that does not exist included (convlog.ErrNotFound).
func (s *Server) Stage(_ context.Context, out host.Outgoing) (host.Effect, error) {
	if err := s.emitting(out); err != nil {
		return host.Effect{}, err
	}
	if out.Prompt != nil {
		return s.stagePrompt(out)
	}
	rec, err := appMessage(out)
	if err != nil {
		return host.Effect{}, err
	}
	// A conversation that does not exist is the app's call's error, as
	// with Emit, rather than a failed commit of the whole event.
	if _, err := s.conversation(out.Conversation); err != nil {
		return host.Effect{}, err
	}
	m := &stagedMsg{conv: out.Conversation, rec: rec, start: time.Now()}
	return host.Effect{Apply: m.apply(s), Committed: m.committed(s)}, nil
}

func (m *stagedMsg) apply(s *Server) func(tx *bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		if m.cs == nil {
			cs, err := s.hold(tx, m)
			if err != nil {
				return err
			}
			m.cs = cs
		}
		res, err := s.msgs.AppendTx(tx, m.conv, m.rec)
		m.dup = res.Dup
		return err
	}
}

func (m *stagedMsg) committed(s *Server) func() {
	return func() {
		if !m.dup {
			s.met.persist.Observe(time.Since(m.start).Seconds())
			s.sequence(m.cs, pendingMsg{rec: m.rec})
		}
		s.convMu.Lock()
		delete(m.cs.staged, weak.Make(m))
		s.convMu.Unlock()
	}
}

// hold returns the delivery state of m's conversation, loading it inside
// tx when it is not in memory, and keeps it while m may still be fanned
// out (see above).
func (s *Server) hold(tx *bbolt.Tx, m *stagedMsg) (*convState, error) {
	s.convMu.Lock()
	cs := s.convs[m.conv]
	if cs == nil {
		s.convMu.Unlock()
		// No message of the conversation is on its way to the fan-out
		// (each holds the state), so the newest seq in tx is the newest
		// fanned out.
		rec, last, err := s.msgs.ConvTx(tx, m.conv)
		if err != nil {
			return nil, err
		}
		s.convMu.Lock()
		if cs = s.convs[m.conv]; cs == nil {
			cs = &convState{rec: rec, next: last + 1, pending: map[uint64]pendingMsg{}}
			s.convs[m.conv] = cs
		}
	}
	defer s.convMu.Unlock()
	if cs.staged == nil {
		cs.staged = map[weak.Pointer[stagedMsg]]struct{}{}
	}
	cs.staged[weak.Make(m)] = struct{}{}
	return cs, nil
}

// pinned reports whether a staged message may still be fanned out through
// cs; it forgets those of effects the runtime let go of. Server.convMu is
// held.
func (cs *convState) pinned() bool {
	for p := range cs.staged {
		if p.Value() != nil {
			return true
		}
		delete(cs.staged, p)
	}
	return false
}

// stagePrompt is Stage for a prompt: Apply stores it, unless the prompt
// with its id was already answered (a retried request does not ask
// twice), and Committed shows it to its person.
func (s *Server) stagePrompt(out host.Outgoing) (host.Effect, error) {
	p, err := promptOf(out)
	if err != nil {
		return host.Effect{}, err
	}
	var show bool
	return host.Effect{
		Apply: func(tx *bbolt.Tx) error {
			show = false
			if old, err := s.st.GetTx(tx, p.ID); err == nil && old.Answer != "" {
				return nil
			}
			if err := s.st.PutTx(tx, p); err != nil {
				return err
			}
			show = true
			return nil
		},
		Committed: func() {
			if show {
				s.show(p)
			}
		},
	}, nil
}

// promptOf checks out's prompt and returns its record.
func promptOf(out host.Outgoing) (promptRecord, error) {
	pr := out.Prompt
	switch {
	case pr.Person == "":
		return promptRecord{}, host.Wrapf(ErrBadOutgoing, "a prompt needs a person")
	case pr.Kind == nil || pr.Kind.Name == "":
		return promptRecord{}, host.Wrapf(ErrBadOutgoing, "a prompt needs a kind")
	case !json.Valid(pr.Body):
		return promptRecord{}, host.Wrapf(ErrBadOutgoing, "the prompt's body is not JSON")
	}
	id := pr.ID
	if id == "" {
		id = randomID("pr_")
	}
	return promptRecord{ID: id, Type: pr.Kind.Name, Person: pr.Person, App: out.App, Conv: out.Conversation,
		Body: pr.Body, Created: time.Now().UnixNano()}, nil
}
