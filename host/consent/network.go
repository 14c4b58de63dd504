package consent

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// OptInUntil records a standing opt-in that a network's own opt-in gave
// (Messenger's notification messages: the person tapped the opt-in
// request the business sent, or resumed the notifications they had
// stopped), as OptIn does but with via saying how ("messenger
// notification messages") and an expiry: past expires the opt-in is no
// longer in force (Check: not_opted_in, saying it expired) until the
// person opts in again. A zero expires never runs out. When g.Answer is
// the answer id of the opt-in already in force, nothing is written and
// that record is returned (OptIn then recognises the same prompt too).
func (s *Service) OptInUntil(ctx context.Context, g Grant, via string, expires time.Time) (Record, error) {
	if via == "" {
		return Record{}, invalid("say how the network gave the opt-in (via), e.g. \"messenger notification messages\"")
	}
	return s.grant(g, KindGrant, via, expires)
}

// Withdraw records that the person withdrew, on a network (surface),
// their opt-in to business's messages of purpose (Messenger's STOP
// NOTIFICATIONS); via says how. Withdrawing what is not in force writes
// nothing and returns a zero Record.
func (s *Service) Withdraw(ctx context.Context, person, business, purpose, surface, via string) (Record, error) {
	if err := checkParties(person, business, "surface", surface); err != nil {
		return Record{}, err
	}
	if err := checkName("purpose", purpose); err != nil {
		return Record{}, err
	}
	var stored Record
	err := s.commit.Do(func(tx *bbolt.Tx) error {
		stored = Record{}
		key := pairKey(business, person)
		stop, _ := stopSeq(getGate(tx, key), stopAll(tx, person))
		p, err := getPair(tx, key)
		if err != nil {
			return err
		}
		seq := p.Purposes[purpose]
		if seq == 0 || seq <= stop {
			return nil
		}
		stored, err = s.appendRecord(tx, Record{Kind: KindWithdrawal, Person: person, Business: business, Purpose: purpose,
			Surface: surface, Relies: seq, Via: via})
		if err != nil {
			return err
		}
		delete(p.Purposes, purpose)
		delete(p.Until, purpose)
		return putPair(tx, key, p)
	})
	if err != nil {
		return Record{}, fmt.Errorf("consent: withdraw: %w", err)
	}
	if stored.Seq != 0 {
		s.metrics.optOut("withdrawal")
	}
	return stored, nil
}
