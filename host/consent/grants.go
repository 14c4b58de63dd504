package consent

import (
	"context"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"
)

// Grant is a person's answer "yes" to a host-drawn prompt: a standing opt-in
// to a purpose, or a one-time subscription to a template.
type Grant struct {
	Person       string // platform person id
	Business     string // merchant id
	App          string // the app that asked
	Purpose      string // OptIn: what the business may write about ("updates")
	Template     string // Subscribe: the one message it may send ("table-ready")
	Surface      string
	Conversation string
	// Prompt is the text the person saw and agreed to (OptInPrompt,
	// SubscriptionPrompt); PromptHash its hex SHA-256 when the text is not
	// kept. One of them is required: it is the evidence.
	Prompt     string
	PromptHash string
	Answer     string // id of the answer (or message) that carried the grant
}

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (g Grant) check(kind Kind) error {
	if err := checkParties(g.Person, g.Business, "app", g.App, "surface", g.Surface, "conversation", g.Conversation, "answer id", g.Answer); err != nil {
		return err
	}
	if kind == KindGrant {
		if g.Template != "" {
			return invalid("an opt-in is to a purpose; template %q belongs to a one-time subscription (Subscribe)", g.Template)
		}
		if err := checkName("purpose", g.Purpose); err != nil {
			return err
		}
	} else {
		if g.Purpose != "" {
			return invalid("a one-time subscription is to a template; purpose %q belongs to an opt-in (OptIn)", g.Purpose)
		}
		if err := checkName("template", g.Template); err != nil {
			return err
		}
	}
	switch {
	case g.Prompt == "" && g.PromptHash == "":
		return invalid("no prompt text: a grant without what the person saw is no evidence; give Prompt (or PromptHash)")
	case len(g.Prompt) > 2000 || !utf8.ValidString(g.Prompt):
		return invalid("the prompt must be valid text of at most 2000 bytes")
	case g.PromptHash != "" && !hexHash.MatchString(g.PromptHash):
		return invalid("prompt hash %q is not a lower-case hex SHA-256 (64 characters)", g.PromptHash)
	}
	return nil
}

// OptInPrompt is the text of the host-drawn opt-in prompt: it names the
// business and the purpose in plain words.
func OptInPrompt(businessName, purpose string) string {
	return fmt.Sprintf("Allow %s to send you %s messages, also when you have not written to it? You can stop them at any time by replying STOP.", businessName, purpose)
}

// SubscriptionPrompt is the text of the host-drawn one-time subscription
// prompt; what says what the one message will be ("your table is ready").
func SubscriptionPrompt(businessName, what string) string {
	return fmt.Sprintf("Allow %s to send you one message later: %s? It can send it once.", businessName, what)
}

// OptIn records a standing opt-in: from now on the business may send the
// person messages of g.Purpose outside the service window, until the
// person withdraws it or sends STOP.
func (s *Service) OptIn(ctx context.Context, g Grant) (Record, error) {
	return s.grant(g, KindGrant, "prompt", time.Time{})
}

// Subscribe records a one-time subscription: the business may send the
// person one message of g.Template, once, whenever. Each grant allows one
// more message.
func (s *Service) Subscribe(ctx context.Context, g Grant) (Record, error) {
	return s.grant(g, KindSubscription, "prompt", time.Time{})
}

// grant checks and records g as a grant (KindGrant) or a subscription,
// given via (how), expiring at expires (a grant; zero: never). A grant
// whose answer id is that of the opt-in already in force (the same
// prompt answered again, or first on the network that drew it) writes
// nothing and returns that opt-in's record.
func (s *Service) grant(g Grant, kind Kind, via string, expires time.Time) (Record, error) {
	if err := g.check(kind); err != nil {
		return Record{}, err
	}
	var stored Record
	var again bool
	err := s.commit.Do(func(tx *bbolt.Tx) error {
		again = false
		key := pairKey(g.Business, g.Person)
		p, err := getPair(tx, key)
		if err != nil {
			return err
		}
		if kind == KindGrant && g.Answer != "" {
			stop, _ := stopSeq(getGate(tx, key), stopAll(tx, g.Person))
			if seq := p.inForce(g.Purpose, stop, s.now()); seq != 0 {
				if r, ok := getRecord(tx, seq); ok && r.Message == g.Answer {
					stored, again = r, true
					return nil
				}
			}
		}
		stored, err = s.appendRecord(tx, Record{Kind: kind, Person: g.Person, Business: g.Business, App: g.App,
			Purpose: g.Purpose, Template: g.Template, Surface: g.Surface, Conversation: g.Conversation,
			Seen: g.Prompt, SeenHash: g.PromptHash, Message: g.Answer, Via: via, Expires: expires.UTC()})
		if err != nil {
			return err
		}
		if kind == KindGrant {
			if p.Purposes == nil {
				p.Purposes = map[string]uint64{}
			}
			p.Purposes[g.Purpose] = stored.Seq
			delete(p.Until, g.Purpose)
			if !expires.IsZero() {
				if p.Until == nil {
					p.Until = map[string]int64{}
				}
				p.Until[g.Purpose] = expires.UnixNano()
			}
		} else {
			if p.Subs == nil {
				p.Subs = map[string][]uint64{}
			}
			p.Subs[g.Template] = append(p.Subs[g.Template], stored.Seq)
		}
		if err := putPair(tx, key, p); err != nil {
			return err
		}
		return index(tx, g.Person, g.Business)
	})
	if err != nil {
		return Record{}, fmt.Errorf("consent: record %s: %w", kind, err)
	}
	if again {
		return stored, nil
	}
	if kind == KindGrant {
		s.metrics.optIn("purpose")
	} else {
		s.metrics.optIn("subscription")
	}
	return stored, nil
}

// Revoke withdraws consent the person gave business, from the consent
// screen (via says where: "web"). With a purpose it withdraws that opt-in
// only (a withdrawal record); with purpose "" it opts the person out of the
// whole business, like STOP. Revoking what is not in force writes nothing
// and returns a zero Record.
func (s *Service) Revoke(ctx context.Context, person, business, purpose, via string) (Record, error) {
	if err := checkParties(person, business, "surface", via); err != nil {
		return Record{}, err
	}
	if purpose != "" {
		if err := checkName("purpose", purpose); err != nil {
			return Record{}, err
		}
	}
	var stored Record
	err := s.commit.Do(func(tx *bbolt.Tx) error {
		stored = Record{}
		key := pairKey(business, person)
		g, all := getGate(tx, key), stopAll(tx, person)
		stop, out := stopSeq(g, all)
		if purpose == "" {
			if out {
				return nil
			}
			var err error
			stored, err = s.appendRecord(tx, Record{Kind: KindOptOut, Person: person, Business: business, Surface: via, Via: "consent screen"})
			if err != nil {
				return err
			}
			g.stop = stored.Seq
			if err := putGate(tx, key, g); err != nil {
				return err
			}
			return index(tx, person, business)
		}
		p, err := getPair(tx, key)
		if err != nil {
			return err
		}
		seq := p.Purposes[purpose]
		if seq == 0 || seq <= stop {
			return nil
		}
		stored, err = s.appendRecord(tx, Record{Kind: KindWithdrawal, Person: person, Business: business, Purpose: purpose,
			Surface: via, Relies: seq, Via: "consent screen"})
		if err != nil {
			return err
		}
		delete(p.Purposes, purpose)
		delete(p.Until, purpose)
		return putPair(tx, key, p)
	})
	if err != nil {
		return Record{}, fmt.Errorf("consent: revoke: %w", err)
	}
	if stored.Seq != 0 {
		if purpose == "" {
			s.metrics.optOut("revoke")
		} else {
			s.metrics.optOut("withdrawal")
		}
	}
	return stored, nil
}
