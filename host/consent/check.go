package consent

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// Rule is the rule that let a business message through.
type Rule string

// Rules.
const (
	RuleWindow       Rule = "window"       // the person wrote to the business within the window
	RuleOptIn        Rule = "opt_in"       // a standing opt-in to the message's purpose
	RuleSubscription Rule = "subscription" // a one-time subscription to the message's template, now consumed
)

// Message is a business message about to be sent to one person.
type Message struct {
	Person   string // platform person id
	Business string // merchant id: the rules hold for all its apps together
	App      string // the app sending, for the record
	// Purpose is the standing opt-in the message is sent under outside the
	// service window ("updates"); Template the one-time subscription it
	// uses ("table-ready"). At most one; neither for a message that only
	// the service window allows.
	Purpose      string
	Template     string
	Surface      string
	Conversation string
	// ID is the message's id, when known before it is stored (a broadcast
	// makes it from its id and the person's). It is kept in the send's
	// record, and a business-initiated message checked again with the same
	// ID (a retry, a broadcast resumed after a restart) gets the first
	// decision back, marked Again, without consuming or counting anything
	// twice, unless the person has opted out since, or (under a purpose)
	// withdrew the opt-in, or holds none given after their last STOP.
	ID string
	// Initiated marks a message the business starts on its own (a
	// broadcast), which the service window does not let through: it must
	// name its Purpose or Template, relies on that consent, is recorded in
	// the ledger and counts against the rate limits even when the person
	// wrote recently.
	Initiated bool
}

func (m Message) check() error {
	if err := checkParties(m.Person, m.Business, "app", m.App, "surface", m.Surface, "conversation", m.Conversation, "message id", m.ID); err != nil {
		return err
	}
	switch {
	case m.Purpose != "" && m.Template != "":
		return invalid("a message names purpose %q and template %q; send it under one of them", m.Purpose, m.Template)
	case m.Purpose != "":
		return checkName("purpose", m.Purpose)
	case m.Template != "":
		return checkName("template", m.Template)
	}
	return nil
}

// Decision says why a message was let through.
type Decision struct {
	Rule Rule
	// Relies is the ledger record of the grant or subscription the message
	// relies on; Record the record of the send itself (0 for RuleWindow:
	// replies inside the window are not business-initiated and leave no
	// record).
	Relies uint64
	Record uint64
	// Again: the message's ID was let through before; this is that
	// decision, nothing was written.
	Again bool
}

// pair is the consent a person gave one business, beside its gate.
type pair struct {
	Purposes map[string]uint64   `json:"purposes,omitempty"` // purpose → seq of the grant in force
	Subs     map[string][]uint64 `json:"subs,omitempty"`     // template → seqs of unused subscriptions, oldest first
	// Until holds the expiry (unix ns) of the opt-ins a network gave
	// with one (OptInUntil): past it, the opt-in is no longer in force.
	Until map[string]int64 `json:"until,omitempty"`
	Day   int64            `json:"day,omitempty"`  // UTC day (days since 1970) that Sent counts
	Sent  int              `json:"sent,omitempty"` // business-initiated messages sent on Day
}

// inForce returns the record of the opt-in to purpose in force at now:
// given after the last stop and not expired; 0 when there is none.
func (p pair) inForce(purpose string, stop uint64, now time.Time) uint64 {
	seq := p.Purposes[purpose]
	if seq == 0 || seq <= stop {
		return 0
	}
	if until, ok := p.Until[purpose]; ok && now.UnixNano() >= until {
		return 0
	}
	return seq
}

// expired says whether the opt-in to purpose given after stop ran out.
func (p pair) expired(purpose string, stop uint64, now time.Time) (time.Time, bool) {
	seq, until := p.Purposes[purpose], p.Until[purpose]
	if seq == 0 || seq <= stop || until == 0 || now.UnixNano() < until {
		return time.Time{}, false
	}
	return time.Unix(0, until).UTC(), true
}

func getPair(tx *bbolt.Tx, key []byte) (pair, error) {
	var p pair
	v := tx.Bucket(bucketPairs).Get(key)
	if v == nil {
		return p, nil
	}
	if err := json.Unmarshal(v, &p); err != nil {
		return p, fmt.Errorf("consent: pair %q: %w", key, err)
	}
	return p, nil
}

func putPair(tx *bbolt.Tx, key []byte, p pair) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketPairs).Put(key, data)
}

// index records that person and business have consent state, for the
// person's view.
func index(tx *bbolt.Tx, person, business string) error {
	k := indexKey(person, business)
	b := tx.Bucket(bucketPeople)
	if b.Get(k) != nil {
		return nil
	}
	return b.Put(k, []byte{})
}

func (s *Service) inWindow(g gate, now time.Time) bool {
	return g.lastWrote != 0 && now.UnixNano()-g.lastWrote < int64(s.window)
}

// Check decides whether m may be sent, and records it when it is
// business-initiated. It is called for every business message, before the
// message is stored for delivery.
//
// A person who sent STOP to the business (or STOPALL), and no START
// since, gets nothing: opted_out. Otherwise a person who wrote to the
// business within the window gets anything the business sends (RuleWindow,
// nothing written). Outside the window the message must name a Purpose the
// person opted in to, or a Template they hold an unused one-time
// subscription to (consumed here); the send's record, naming the grant or
// subscription, and the consumption are written in one transaction, under
// the business's rate limits; a message with an ID checked before gets the
// first decision again (Message.ID). Refusals are *host.Error with
// StatusOptedOut, StatusWindowClosed, StatusNotOptedIn or
// StatusRateLimited, and nothing is written.
func (s *Service) Check(ctx context.Context, m Message) (Decision, error) {
	if err := m.check(); err != nil {
		return Decision{}, err
	}
	key := pairKey(m.Business, m.Person)
	var g gate
	var all uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketGates)
		g, all = gateOf(b.Get(key)), stopAllOf(b.Get(stopAllKey(m.Person)))
		return nil
	})
	if err != nil {
		return Decision{}, fmt.Errorf("consent: check: %w", err)
	}
	now := s.now()
	if _, out := stopSeq(g, all); out {
		return s.refused(s.optedOut(m))
	}
	if s.inWindow(g, now) && !m.Initiated {
		s.metrics.allow(RuleWindow)
		return Decision{Rule: RuleWindow}, nil
	}
	if m.Purpose == "" && m.Template == "" {
		return s.refused(s.windowClosed(m, g, now))
	}
	var d Decision
	var refusal *host.Error
	msg := m // a copy, made only here: the closure keeps it on the heap (a Message is too big to be captured by value), and capturing m would cost the common paths above that allocation
	err = s.commit.Do(func(tx *bbolt.Tx) error {
		var err error
		d, refusal, err = s.send(tx, msg, key)
		return err
	})
	if err != nil {
		return Decision{}, fmt.Errorf("consent: record send: %w", err)
	}
	if refusal != nil {
		return s.refused(refusal)
	}
	if !d.Again {
		s.metrics.allow(d.Rule)
	}
	return d, nil
}

// send decides and records a business-initiated message in tx. A refusal
// is returned before anything is written.
func (s *Service) send(tx *bbolt.Tx, m Message, key []byte) (Decision, *host.Error, error) {
	now := s.now()
	g, all := getGate(tx, key), stopAll(tx, m.Person)
	stop, out := stopSeq(g, all)
	if out {
		return Decision{}, s.optedOut(m), nil
	}
	if s.inWindow(g, now) && !m.Initiated { // the person wrote since the first look
		return Decision{Rule: RuleWindow}, nil, nil
	}
	var sentKey []byte
	if m.ID != "" {
		sentKey = pairKey(m.Business, m.ID)
		if v := tx.Bucket(bucketSends).Get(sentKey); len(v) == 8 {
			if r, ok := getRecord(tx, binary.BigEndian.Uint64(v)); ok && r.Person == m.Person {
				if r.Purpose != "" { // the opt-in must still be in force: withdrawn, or spent by a STOP, it sends nothing more
					p, err := getPair(tx, key)
					if err != nil {
						return Decision{}, nil, err
					}
					if p.inForce(r.Purpose, stop, now) == 0 {
						return Decision{}, s.notOptedInPair(m, p, stop, now), nil
					}
				}
				rule := RuleOptIn
				if r.Template != "" {
					rule = RuleSubscription
				}
				return Decision{Rule: rule, Relies: r.Relies, Record: r.Seq, Again: true}, nil, nil
			}
			return Decision{}, host.Wrapf(ErrIDReused,
				"message id %q of business %s was already used for a message to another person; nothing was sent: give every message its own id", m.ID, m.Business), nil
		}
	}
	p, err := getPair(tx, key)
	if err != nil {
		return Decision{}, nil, err
	}
	d := Decision{Rule: RuleOptIn}
	if m.Purpose != "" {
		d.Relies = p.inForce(m.Purpose, stop, now)
	} else {
		d.Rule = RuleSubscription
		for _, seq := range p.Subs[m.Template] {
			if seq > stop {
				d.Relies = seq
				break
			}
		}
	}
	if d.Relies == 0 {
		return Decision{}, s.notOptedInPair(m, p, stop, now), nil
	}
	lim := s.limitsOf(m.Business)
	day := now.UTC().Unix() / 86400
	if p.Day != day {
		p.Day, p.Sent = day, 0
	}
	if lim.PerPersonDay >= 0 && p.Sent >= lim.PerPersonDay {
		return Decision{}, host.Wrapf(ErrRateLimited,
			"business %s already sent this person %d business-initiated messages today (limit %d per person per UTC day); nothing was sent: send it after 00:00 UTC, or fold it into fewer messages",
			m.Business, p.Sent, lim.PerPersonDay), nil
	}
	rates := tx.Bucket(bucketRates)
	sec, n := now.Unix(), uint32(0)
	if v := rates.Get([]byte(m.Business)); len(v) == 12 && int64(binary.BigEndian.Uint64(v)) == sec {
		n = binary.BigEndian.Uint32(v[8:])
	}
	if lim.PerBusinessSecond >= 0 && int(n) >= lim.PerBusinessSecond {
		return Decision{}, host.Wrapf(ErrSecondLimit,
			"business %s already sent %d business-initiated messages this second (limit %d per second); nothing was sent: retry in a second and spread the sends out",
			m.Business, n, lim.PerBusinessSecond), nil
	}

	// Allowed: from here on, write.
	rec := Record{Kind: KindSend, Person: m.Person, Business: m.Business, App: m.App, Purpose: m.Purpose, Template: m.Template,
		Surface: m.Surface, Conversation: m.Conversation, Message: m.ID, Relies: d.Relies}
	if d.Rule == RuleSubscription {
		if _, err := s.appendRecord(tx, Record{Kind: KindConsumption, Person: m.Person, Business: m.Business, App: m.App,
			Template: m.Template, Surface: m.Surface, Conversation: m.Conversation, Message: m.ID, Relies: d.Relies}); err != nil {
			return Decision{}, nil, err
		}
		p.Subs[m.Template] = remove(p.Subs[m.Template], d.Relies)
		if len(p.Subs[m.Template]) == 0 {
			delete(p.Subs, m.Template)
		}
	}
	rec, err = s.appendRecord(tx, rec)
	if err != nil {
		return Decision{}, nil, err
	}
	d.Record = rec.Seq
	if sentKey != nil {
		if err := tx.Bucket(bucketSends).Put(sentKey, u64(rec.Seq)); err != nil {
			return Decision{}, nil, err
		}
	}
	p.Sent++
	if err := putPair(tx, key, p); err != nil {
		return Decision{}, nil, err
	}
	var v [12]byte
	binary.BigEndian.PutUint64(v[:], uint64(sec))
	binary.BigEndian.PutUint32(v[8:], n+1)
	return d, nil, rates.Put([]byte(m.Business), v[:])
}

func remove(seqs []uint64, seq uint64) []uint64 {
	out := seqs[:0]
	for _, s := range seqs {
		if s != seq {
			out = append(out, s)
		}
	}
	return out
}

func (s *Service) refused(err error) (Decision, error) {
	code := host.StatusOf(err).String()
	s.metrics.refuse(code)
	s.log.Debug("consent: send refused", "code", code, "err", err)
	return Decision{}, err
}

func (s *Service) optedOut(m Message) *host.Error {
	return host.Wrapf(ErrOptedOut,
		"the person opted out of business %s (STOP); nothing was sent, and nothing will be until they send START", m.Business)
}

func (s *Service) windowClosed(m Message, g gate, now time.Time) *host.Error {
	since := "has never written to"
	if g.lastWrote != 0 {
		since = fmt.Sprintf("last wrote to business %s %s ago, outside the %s service window of", m.Business,
			now.Sub(time.Unix(0, g.lastWrote)).Round(time.Second), s.window)
	}
	return host.Wrapf(ErrWindowClosed,
		"the person %s business %s; nothing was sent: send it under a purpose they opted in to, or a template they subscribed to, or wait until they write again",
		since, m.Business)
}

// notOptedInPair is the refusal of m for want of consent, saying when
// the opt-in ran out if it did.
func (s *Service) notOptedInPair(m Message, p pair, stop uint64, now time.Time) *host.Error {
	if m.Purpose != "" {
		if at, ok := p.expired(m.Purpose, stop, now); ok {
			return host.Wrapf(ErrNotOptedIn,
				"the person's opt-in to %q messages from business %s, given on a network with an expiry, expired at %s; nothing was sent: ask them again with an opt-in prompt while they are in a conversation with you",
				m.Purpose, m.Business, at.Format(time.RFC3339))
		}
	}
	return s.notOptedIn(m)
}

func (s *Service) notOptedIn(m Message) *host.Error {
	if m.Purpose != "" {
		return host.Wrapf(ErrNotOptedIn,
			"the person has not opted in to %q messages from business %s (or withdrew it, or sent STOP since); nothing was sent: ask them with an opt-in prompt while they are in a conversation with you",
			m.Purpose, m.Business)
	}
	return host.Wrapf(ErrNotOptedIn,
		"the person holds no unused one-time subscription to template %q of business %s (each allows one message); nothing was sent: ask them with a subscription prompt while they are in a conversation with you",
		m.Template, m.Business)
}

// Touch records that person wrote to business at time at (any app, any
// surface): the service window runs from there. The gateway calls it for
// every message a person sends into a business's conversation. A time
// less than TouchResolution after the stored one is not written again, so
// a busy conversation costs one write a minute; the window may then close
// up to TouchResolution early, never late.
func (s *Service) Touch(ctx context.Context, person, business string, at time.Time) error {
	if err := checkParties(person, business); err != nil {
		return err
	}
	key := pairKey(business, person)
	at64 := at.UnixNano()
	var fresh bool
	if err := s.db.View(func(tx *bbolt.Tx) error {
		fresh = at64-getGate(tx, key).lastWrote < int64(TouchResolution)
		return nil
	}); err != nil || fresh {
		return err
	}
	err := s.commit.Do(func(tx *bbolt.Tx) error { return s.touch(tx, person, business, key, at64) })
	if err != nil {
		return fmt.Errorf("consent: touch: %w", err)
	}
	return nil
}

func (s *Service) touch(tx *bbolt.Tx, person, business string, key []byte, at int64) error {
	g := getGate(tx, key)
	if at <= g.lastWrote {
		return nil
	}
	g.lastWrote = at
	if err := putGate(tx, key, g); err != nil {
		return err
	}
	return index(tx, person, business)
}
