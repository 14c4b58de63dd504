package consent

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// Within an event's transaction (host.Call.Tx) a business-initiated
// message is decided when the app sends it and recorded when the event
// commits (CheckTx): the one-time subscription it uses up, the rate
// counters it counts against and its ledger record are written in the
// event's commit, so a dropped event uses up nothing. The commit decides
// the message again on the ledger as it then is; if the answer changed
// (the subscription was used by another event meanwhile, the person sent
// STOP, a rate limit filled up) the commit is a conflict
// (host.ErrTxConflict) and the runtime runs the event again, which then
// gets the refusal. A message inside the service window records nothing
// and is not decided again.

// txKey is the key of a Service's part of a host.Tx.
type txKey struct{ s *Service }

// errDryRun rolls back the transaction in which CheckTx decides.
var errDryRun = errors.New("consent: decided without writing")

// CheckTx is Check inside tx: the decision is made now, against the
// ledger and the messages tx already holds, and recorded when tx
// commits. A refusal is returned at once, and nothing is staged.
func (s *Service) CheckTx(ctx context.Context, tx *host.Tx, m Message) (Decision, error) {
	if err := m.check(); err != nil {
		return Decision{}, err
	}
	key := pairKey(m.Business, m.Person)
	staged := tx.Local(txKey{s}, func() any { return new([]Message) }).(*[]Message)
	var d Decision
	var refusal *host.Error
	// Inside the service window nothing is recorded: a read decides.
	var g gate
	var all uint64
	err := s.db.View(func(btx *bbolt.Tx) error {
		b := btx.Bucket(bucketGates)
		g, all = gateOf(b.Get(key)), stopAllOf(b.Get(stopAllKey(m.Person)))
		return nil
	})
	if err != nil {
		return Decision{}, fmt.Errorf("consent: check: %w", err)
	}
	if _, out := stopSeq(g, all); out {
		return s.refused(s.optedOut(m))
	}
	if s.inWindow(g, s.now()) {
		// Nothing to record: the message only waits for the commit, as
		// Check lets it go at once.
		d = Decision{Rule: RuleWindow}
		tx.Stage(host.Effect{Committed: func() { s.metrics.allow(RuleWindow) }})
		return d, nil
	}
	err = s.db.Update(func(btx *bbolt.Tx) error {
		// What the event already sent counts, as it will in the commit.
		for _, prev := range *staged {
			if _, _, err := s.send(btx, prev, pairKey(prev.Business, prev.Person)); err != nil {
				return err
			}
		}
		var err error
		if d, refusal, err = s.send(btx, m, key); err != nil {
			return err
		}
		return errDryRun
	})
	if !errors.Is(err, errDryRun) {
		return Decision{}, fmt.Errorf("consent: check: %w", err)
	}
	if refusal != nil {
		return s.refused(refusal)
	}
	*staged = append(*staged, m)
	s.stage(tx, m, key, d)
	return d, nil
}

// stage records m, decided d, in tx's commit, where it is decided again.
func (s *Service) stage(tx *host.Tx, m Message, key []byte, d Decision) {
	tx.Stage(host.Effect{
		Apply: func(btx *bbolt.Tx) error {
			got, refusal, err := s.send(btx, m, key)
			if err != nil {
				return err
			}
			if refusal != nil || got.Rule != d.Rule || got.Relies != d.Relies {
				return host.Wrapf(host.ErrTxConflict, "the consent ledger of business %s and this person changed", m.Business)
			}
			return nil
		},
		Committed: func() {
			if !d.Again {
				s.metrics.allow(d.Rule)
			}
		},
	})
}
