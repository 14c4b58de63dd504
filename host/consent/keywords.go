package consent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// Keyword is a word a person types to control what businesses send them.
type Keyword int

// Keywords.
const (
	KeywordNone    Keyword = iota // not a keyword: an ordinary message for the app
	KeywordStop                   // STOP, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT: opt out of this business
	KeywordStopAll                // STOPALL: opt out of every business
	KeywordStart                  // START, UNSTOP: undo a STOP (or a STOPALL, for this business)
	KeywordHelp                   // HELP: who the business is and how to stop it
)

var keywordNames = [...]string{"none", "stop", "stopall", "start", "help"}

func (k Keyword) String() string {
	if int(k) < len(keywordNames) {
		return keywordNames[k]
	}
	return fmt.Sprintf("keyword(%d)", int(k))
}

// keywords maps each recognised word (upper case) to its keyword.
var keywords = map[string]Keyword{
	"STOP": KeywordStop, "UNSUBSCRIBE": KeywordStop, "CANCEL": KeywordStop, "END": KeywordStop,
	"QUIT": KeywordStop, "REVOKE": KeywordStop, "OPTOUT": KeywordStop,
	"STOPALL": KeywordStopAll,
	"START":   KeywordStart, "UNSTOP": KeywordStart,
	"HELP": KeywordHelp,
}

// maxKeyword is the length of the longest keyword (UNSUBSCRIBE).
const maxKeyword = 11

// ParseKeyword returns the keyword a whole message is, ignoring case (ASCII
// letters only: "ſtop" is not STOP) and the spaces around it, or
// KeywordNone. Only the whole message counts: "stop it" is no keyword.
func ParseKeyword(text string) Keyword {
	t := strings.TrimSpace(text)
	if len(t) < 3 || len(t) > maxKeyword {
		return KeywordNone
	}
	var buf [maxKeyword]byte
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z':
		default:
			return KeywordNone
		}
		buf[i] = c
	}
	return keywords[string(buf[:len(t)])]
}

// Inbound is a message a person sent into a conversation with a business,
// on any surface.
type Inbound struct {
	Person       string // platform person id
	Business     string // merchant id
	BusinessName string // display name for the replies; Config.BusinessName, or the id, when ""
	App          string // the app the conversation is with
	Surface      string
	Conversation string
	// Message is the id of the person's message. A message seen again (a
	// redelivery, a client's resend) gets Reply.Duplicate and no second
	// confirmation. "" turns this off.
	Message string
	Text    string
}

// Reply is what Inbound decided about a message.
type Reply struct {
	// Keyword is KeywordNone for an ordinary message: hand it to the app.
	// For any other keyword the message is the platform's: the app does not
	// get it.
	Keyword Keyword
	// Text is the one message to send back to the person; "" when
	// Duplicate (it was sent the first time) or for KeywordNone.
	Text string
	// Record is the ledger record the keyword wrote (STOP, STOPALL, START).
	Record uint64
	// Businesses lists the businesses whose standing with the person this
	// changed (the conversation's business for STOP and START, every
	// business the person had dealings with for STOPALL): their apps get
	// an event telling them so.
	Businesses []string
	Duplicate  bool
}

// StopText is the confirmation of STOP: exactly one message, on the surface
// where the person typed it.
func StopText(businessName string) string {
	return fmt.Sprintf("You will get no more messages from %s, on any surface. Reply START to get them again.", businessName)
}

// StopAllText is the confirmation of STOPALL.
const StopAllText = "You will get no more messages from any business here, on any surface. Reply START in a business's conversation to hear from that business again."

// StartText is the confirmation of START.
func StartText(businessName string) string {
	return fmt.Sprintf("You can get messages from %s again. Reply STOP at any time to stop them, on every surface at once.", businessName)
}

// HelpText is the answer to HELP: who the business is, when it may write
// (window is the service window) and how to stop it.
func HelpText(businessName, business string, window time.Duration) string {
	return fmt.Sprintf("%s (business id %s) may write to you here for %s after you last wrote to it, and otherwise only about what you agreed to. "+
		"Reply STOP to stop all its messages on every surface, STOPALL to stop every business, START to undo a STOP.",
		businessName, business, spell(window))
}

// spell writes a window for people: "24 hours", "90 minutes".
func spell(d time.Duration) string {
	switch {
	case d%time.Hour == 0 && d != time.Hour:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d == time.Hour:
		return "an hour"
	default:
		return fmt.Sprintf("%d minutes", (d+time.Minute-1)/time.Minute)
	}
}

// Inbound handles a message a person sent to a business: it opens the
// service window (Touch) and, when the whole message is a keyword, applies
// it. STOP opts the person out of the business, for all its apps and on
// every surface, from this transaction on; STOPALL out of every business;
// START undoes either for this business. Consent given before a STOP
// (opt-ins, one-time subscriptions) stays spent after START: the business
// must ask again. The caller sends Reply.Text to the person and, for
// KeywordNone only, hands the message to the app.
func (s *Service) Inbound(ctx context.Context, in Inbound) (Reply, error) {
	if err := checkParties(in.Person, in.Business, "app", in.App, "surface", in.Surface, "conversation", in.Conversation, "message id", in.Message); err != nil {
		return Reply{}, err
	}
	kw := ParseKeyword(in.Text)
	if kw == KeywordNone {
		return Reply{}, s.Touch(ctx, in.Person, in.Business, s.now())
	}
	name := s.businessName(ctx, in)
	var r Reply
	err := s.commit.Do(func(tx *bbolt.Tx) error {
		var err error
		r, err = s.keyword(tx, in, kw, name)
		return err
	})
	if err != nil {
		return Reply{}, fmt.Errorf("consent: %s: %w", kw, err)
	}
	s.applied(kw, r, in.Surface)
	return r, nil
}

// InboundTx is Inbound for a message whose handling commits in one
// transaction with what the platform answers (host.Tx; runtime/apps
// stages the confirmation from the Reply and commits both with the
// message's consumption). An ordinary message opens the service window at
// once, as Inbound does, and stages nothing. A keyword is decided now, on
// the ledger as it is, and applied when tx commits: its record, the gate
// it moves and the note that the message was seen are written in that
// commit, so a dropped transaction leaves no trace and a committed one
// leaves all. The commit applies the keyword again on the ledger as it
// then is; when the answer changed (the same message was applied
// meanwhile, a STOPALL now reaches other businesses) it fails with
// host.ErrTxConflict, and the caller decides again. The Reply's Record is
// the number the record would have had when decided: the commit may give
// it a later one.
func (s *Service) InboundTx(ctx context.Context, tx *host.Tx, in Inbound) (Reply, error) {
	if err := checkParties(in.Person, in.Business, "app", in.App, "surface", in.Surface, "conversation", in.Conversation, "message id", in.Message); err != nil {
		return Reply{}, err
	}
	kw := ParseKeyword(in.Text)
	if kw == KeywordNone {
		return Reply{}, s.Touch(ctx, in.Person, in.Business, s.now())
	}
	name := s.businessName(ctx, in)
	var decided Reply
	err := s.db.Update(func(btx *bbolt.Tx) error {
		var err error
		if decided, err = s.keyword(btx, in, kw, name); err != nil {
			return err
		}
		return errDryRun
	})
	if !errors.Is(err, errDryRun) {
		return Reply{}, fmt.Errorf("consent: %s: %w", kw, err)
	}
	applied := decided
	tx.Stage(host.Effect{
		Apply: func(btx *bbolt.Tx) error {
			got, err := s.keyword(btx, in, kw, name)
			if err != nil {
				return fmt.Errorf("consent: %s: %w", kw, err)
			}
			if got.Duplicate != decided.Duplicate || !slices.Equal(got.Businesses, decided.Businesses) {
				return host.Wrapf(host.ErrTxConflict, "the consent ledger of this person changed before their %s was recorded", strings.ToUpper(kw.String()))
			}
			applied = got
			return nil
		},
		Committed: func() { s.applied(kw, applied, in.Surface) },
	})
	return decided, nil
}

// businessName is the name the replies to in's keyword give its business.
func (s *Service) businessName(ctx context.Context, in Inbound) string {
	name := in.BusinessName
	if name == "" && s.name != nil {
		name = s.name(ctx, in.Business)
	}
	if name == "" {
		name = in.Business
	}
	return name
}

// applied logs and counts a keyword r applied, once committed.
func (s *Service) applied(kw Keyword, r Reply, surface string) {
	if !r.Duplicate && len(r.Businesses) > 0 {
		s.log.Info("consent: keyword applied", "keyword", kw.String(), "record", r.Record, "businesses", r.Businesses, "surface", surface)
		switch kw {
		case KeywordStop:
			s.metrics.optOut("stop")
		case KeywordStopAll:
			s.metrics.optOut("stopall")
		case KeywordStart:
			s.metrics.optIn("start")
		}
	}
}

func (s *Service) keyword(tx *bbolt.Tx, in Inbound, kw Keyword, name string) (Reply, error) {
	r := Reply{Keyword: kw}
	var seen []byte
	if in.Message != "" {
		seen = indexKey(in.Person, in.Message)
		if v := tx.Bucket(bucketInbound).Get(seen); len(v) == 8 {
			r.Duplicate, r.Record = true, binary.BigEndian.Uint64(v)
			return r, nil
		}
	}
	key := pairKey(in.Business, in.Person)
	if err := s.touch(tx, in.Person, in.Business, key, s.now().UnixNano()); err != nil {
		return r, err
	}
	rec := Record{Person: in.Person, Business: in.Business, App: in.App, Surface: in.Surface, Conversation: in.Conversation,
		Seen: strings.TrimSpace(in.Text), Message: in.Message, Via: "keyword"}
	g, all := getGate(tx, key), stopAll(tx, in.Person)
	_, wasOut := stopSeq(g, all)
	switch kw {
	case KeywordHelp:
		r.Text = HelpText(name, in.Business, s.window)
	case KeywordStop:
		rec.Kind = KindOptOut
		stored, err := s.appendRecord(tx, rec)
		if err != nil {
			return r, err
		}
		g = getGate(tx, key) // touch may have written it
		g.stop = stored.Seq
		if err := putGate(tx, key, g); err != nil {
			return r, err
		}
		r.Record, r.Text = stored.Seq, StopText(name)
		if !wasOut {
			r.Businesses = []string{in.Business}
		}
	case KeywordStopAll:
		rec.Kind, rec.Business, rec.App = KindOptOut, "", ""
		stored, err := s.appendRecord(tx, rec)
		if err != nil {
			return r, err
		}
		// Every business not already stopped learns of it.
		c := tx.Bucket(bucketPeople).Cursor()
		prefix := indexKey(in.Person, "")
		for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = c.Next() {
			b := string(k[len(prefix):])
			if _, out := stopSeq(getGate(tx, pairKey(b, in.Person)), all); !out {
				r.Businesses = append(r.Businesses, b)
			}
		}
		if err := tx.Bucket(bucketGates).Put(stopAllKey(in.Person), u64(stored.Seq)); err != nil {
			return r, err
		}
		r.Record, r.Text = stored.Seq, StopAllText
	case KeywordStart:
		rec.Kind = KindOptIn
		stored, err := s.appendRecord(tx, rec)
		if err != nil {
			return r, err
		}
		g = getGate(tx, key)
		g.start = stored.Seq
		if err := putGate(tx, key, g); err != nil {
			return r, err
		}
		r.Record, r.Text = stored.Seq, StartText(name)
		if wasOut {
			r.Businesses = []string{in.Business}
		}
	}
	if seen != nil {
		if err := tx.Bucket(bucketInbound).Put(seen, u64(r.Record)); err != nil {
			return r, err
		}
	}
	return r, nil
}

func hasPrefix(k, prefix []byte) bool {
	return len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix)
}
