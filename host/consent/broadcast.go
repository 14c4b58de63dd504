package consent

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"

	"go.etcd.io/bbolt"
)

// Recipient is one person a business may send a broadcast to, under the
// purpose or template it names: the host's view, with the platform id,
// for the broadcast engine (host/broadcast) only. A merchant sees Audience.
type Recipient struct {
	Person string // platform person id
	// Evidence is the opt-in to the purpose, or the oldest unused
	// subscription to the template: where and in which app the person
	// agreed.
	Evidence Evidence
}

// Recipients lists the people business may send a business-initiated
// message under purpose (a standing opt-in) or template (an unused one-time
// subscription), exactly one of them given, ordered by person id. People
// who opted out are not in it. It is a snapshot: Check decides each send
// again at send time.
func (s *Service) Recipients(ctx context.Context, business, purpose, template string) ([]Recipient, error) {
	if err := checkID("business", business, true); err != nil {
		return nil, err
	}
	switch {
	case (purpose == "") == (template == ""):
		return nil, invalid("name a purpose or a template, exactly one of them")
	case purpose != "":
		if err := checkName("purpose", purpose); err != nil {
			return nil, err
		}
	default:
		if err := checkName("template", template); err != nil {
			return nil, err
		}
	}
	var out []Recipient
	now := s.now()
	err := s.db.View(func(tx *bbolt.Tx) error {
		prefix := pairKey(business, "")
		c := tx.Bucket(bucketPairs).Cursor()
		for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			person := string(k[len(prefix):])
			g := getGate(tx, k)
			stop, out1 := stopSeq(g, stopAll(tx, person))
			if out1 || len(v) == 0 || undeliverable(tx, k, g) {
				continue
			}
			p, err := getPair(tx, k)
			if err != nil {
				return err
			}
			var seq uint64
			if purpose != "" {
				seq = p.inForce(purpose, stop, now)
			} else {
				for _, g := range p.Subs[template] {
					if g > stop {
						seq = g
						break
					}
				}
			}
			if seq == 0 {
				continue
			}
			r, ok := getRecord(tx, seq)
			if !ok {
				return fmt.Errorf("record %d of %s's consent is missing", seq, business)
			}
			out = append(out, Recipient{Person: person, Evidence: evidenceOf(r)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consent: recipients of %s: %w", business, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Person < out[j].Person })
	return out, nil
}

// LimitsOf returns the rate limits business sends under (Config.Limits,
// or its own in Config.Business); a negative field is no limit.
func (s *Service) LimitsOf(business string) Limits { return s.limitsOf(business) }

// SendRecord returns the ledger record of the business-initiated message
// of business with id, if Check let it through (Message.ID): a sender
// that stopped between the check and storing the message learns from it
// that the message may be stored, where (Conversation) and since when
// (Time).
func (s *Service) SendRecord(ctx context.Context, business, id string) (Record, bool, error) {
	var r Record
	var ok bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketSends).Get(pairKey(business, id))
		if len(v) == 8 {
			r, ok = getRecord(tx, binary.BigEndian.Uint64(v))
		}
		return nil
	})
	if err != nil {
		return Record{}, false, fmt.Errorf("consent: send record: %w", err)
	}
	return r, ok, nil
}
