package consent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/bbolt"
)

// Evidence is how a person agreed: the ledger record of one opt-in or one
// one-time subscription.
type Evidence struct {
	Record       uint64    `json:"record"` // its number in the ledger
	Kind         Kind      `json:"kind"`   // grant or subscription
	Purpose      string    `json:"purpose,omitempty"`
	Template     string    `json:"template,omitempty"`
	App          string    `json:"app,omitempty"`
	Surface      string    `json:"surface,omitempty"`
	Conversation string    `json:"conversation,omitempty"`
	Prompt       string    `json:"prompt,omitempty"`      // what the person saw
	PromptHash   string    `json:"prompt_hash,omitempty"` // its hex SHA-256
	Answer       string    `json:"answer,omitempty"`      // the answer that carried it
	Time         time.Time `json:"time"`                  // since when
	Expires      time.Time `json:"expires,omitzero"`      // until when, for an opt-in a network gave with an expiry
}

func evidenceOf(r Record) Evidence {
	return Evidence{Record: r.Seq, Kind: r.Kind, Purpose: r.Purpose, Template: r.Template, App: r.App, Surface: r.Surface,
		Conversation: r.Conversation, Prompt: r.Seen, PromptHash: r.SeenHash, Answer: r.Message, Time: r.Time, Expires: r.Expires}
}

// Standing is what one business may send one person, and why.
type Standing struct {
	Business string `json:"business"`
	// OptedOut: the person sent STOP (or STOPALL, or revoked the business)
	// and no START since; the business may send nothing. Since is when.
	OptedOut      bool      `json:"opted_out"`
	OptedOutSince time.Time `json:"opted_out_since,omitzero"`
	// WindowUntil is when the service window the person opened closes
	// (zero: closed).
	WindowUntil   time.Time  `json:"window_until,omitzero"`
	OptIns        []Evidence `json:"opt_ins,omitempty"`       // standing opt-ins in force, one per purpose
	Subscriptions []Evidence `json:"subscriptions,omitempty"` // unused one-time subscriptions
}

// pairStanding reads the standing of one pair in tx; ok is false when the
// person gave the business nothing and has no open window.
func (s *Service) pairStanding(tx *bbolt.Tx, person, business string, now time.Time) (Standing, error) {
	key := pairKey(business, person)
	st := Standing{Business: business}
	g, all := getGate(tx, key), stopAll(tx, person)
	stop, out := stopSeq(g, all)
	if out {
		st.OptedOut = true
		if r, ok := getRecord(tx, stop); ok {
			st.OptedOutSince = r.Time
		}
		return st, nil
	}
	if s.inWindow(g, now) {
		st.WindowUntil = time.Unix(0, g.lastWrote).Add(s.window).UTC()
	}
	p, err := getPair(tx, key)
	if err != nil {
		return st, err
	}
	for purpose := range p.Purposes {
		if seq := p.inForce(purpose, stop, now); seq != 0 {
			r, ok := getRecord(tx, seq)
			if !ok {
				return st, fmt.Errorf("consent: record %d of %s's opt-in is missing", seq, business)
			}
			st.OptIns = append(st.OptIns, evidenceOf(r))
		}
	}
	for _, seqs := range p.Subs {
		for _, seq := range seqs {
			if seq > stop {
				r, ok := getRecord(tx, seq)
				if !ok {
					return st, fmt.Errorf("consent: record %d of %s's subscription is missing", seq, business)
				}
				st.Subscriptions = append(st.Subscriptions, evidenceOf(r))
			}
		}
	}
	sort.Slice(st.OptIns, func(i, j int) bool { return st.OptIns[i].Record < st.OptIns[j].Record })
	sort.Slice(st.Subscriptions, func(i, j int) bool { return st.Subscriptions[i].Record < st.Subscriptions[j].Record })
	return st, nil
}

// Standings is the person's view: every business the person has dealt
// with, ordered by id, with what it may send them, since when and how they
// agreed (the consent screen of the web client). Businesses the person
// opted out of are listed too, marked OptedOut.
func (s *Service) Standings(ctx context.Context, person string) ([]Standing, error) {
	if err := checkID("person", person, true); err != nil {
		return nil, err
	}
	now := s.now()
	var out []Standing
	err := s.db.View(func(tx *bbolt.Tx) error {
		prefix := indexKey(person, "")
		c := tx.Bucket(bucketPeople).Cursor()
		for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = c.Next() {
			st, err := s.pairStanding(tx, person, string(k[len(prefix):]), now)
			if err != nil {
				return err
			}
			out = append(out, st)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consent: standings: %w", err)
	}
	return out, nil
}

// Member is one person of a merchant's audience, under the merchant's own
// id for them (Config.Pseudonyms), never the platform id.
type Member struct {
	ID            string     `json:"id"`
	OptIns        []Evidence `json:"opt_ins,omitempty"`
	Subscriptions []Evidence `json:"subscriptions,omitempty"`
}

// ErrNoPseudonyms is returned by Audience when the service has no
// Config.Pseudonyms: an export must not show platform ids.
var ErrNoPseudonyms = errors.New("consent: no pseudonyms configured; set Config.Pseudonyms (identity.Service) to export audiences")

// Audience exports the people business may send business-initiated
// messages to, with the evidence of each consent: those with a standing
// opt-in to purpose (any purpose when ""), or, when purpose is "", an
// unused one-time subscription. People who opted out are not in it. Only
// business's own pairs are read: it never sees another merchant's people.
// Members are ordered by id.
func (s *Service) Audience(ctx context.Context, business, purpose string) ([]Member, error) {
	if err := checkID("business", business, true); err != nil {
		return nil, err
	}
	if purpose != "" {
		if err := checkName("purpose", purpose); err != nil {
			return nil, err
		}
	}
	if s.ids == nil {
		return nil, ErrNoPseudonyms
	}
	now := s.now()
	var out []Member
	err := s.db.View(func(tx *bbolt.Tx) error {
		prefix := pairKey(business, "")
		c := tx.Bucket(bucketGates).Cursor()
		for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := s.collect(tx, business, string(k[len(prefix):]), purpose, now, &out); err != nil {
				return err
			}
		}
		// Pairs with grants but no gate yet (granted, never wrote, never stopped).
		c = tx.Bucket(bucketPairs).Cursor()
		for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = c.Next() {
			if tx.Bucket(bucketGates).Get(k) != nil {
				continue
			}
			if err := s.collect(tx, business, string(k[len(prefix):]), purpose, now, &out); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consent: audience of %s: %w", business, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *Service) collect(tx *bbolt.Tx, business, person, purpose string, now time.Time, out *[]Member) error {
	st, err := s.pairStanding(tx, person, business, now)
	if err != nil || st.OptedOut {
		return err
	}
	m := Member{ID: s.ids.UnionID(business, person)}
	for _, e := range st.OptIns {
		if purpose == "" || e.Purpose == purpose {
			m.OptIns = append(m.OptIns, e)
		}
	}
	if purpose == "" {
		m.Subscriptions = st.Subscriptions
	}
	if len(m.OptIns) > 0 || len(m.Subscriptions) > 0 {
		*out = append(*out, m)
	}
	return nil
}
