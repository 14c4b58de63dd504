package identity

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// Link codes let a person who is signed in on the web client claim a
// surface account (a WhatsApp number, a Messenger PSID) that wrote to a
// business before they linked it: the web client asks for a code, the
// person sends "LINK 123456" from that account, and the account then
// belongs to their platform identity, so that STOP, the wallet and consent
// follow them.

// LinkCodeTTL is how long a link code can be redeemed.
const LinkCodeTTL = 10 * time.Minute

// LinkCodeDigits is the length of a link code.
const LinkCodeDigits = 6

// ErrLinkCode is the error of a link code that is unknown, used or expired.
var ErrLinkCode = &host.Error{Status: host.StatusNotFound, Message: "identity: no such link code"}

// bucketLinkCodes maps a code to the person who asked for it and its
// expiry: {"person", "expires"} as JSON. One person has at most one live
// code: asking again replaces it (bucketLinkOwners maps person -> code).
var (
	bucketLinkCodes  = []byte("identity.linkcodes")
	bucketLinkOwners = []byte("identity.linkowners")
)

type linkCode struct {
	Person  string `json:"person"`
	Expires int64  `json:"expires"` // unix ms
}

// IssueLinkCode returns a new one-time code of LinkCodeDigits digits for
// person, valid for LinkCodeTTL; a code the person asked for before stops
// working.
func (s *Service) IssueLinkCode(ctx context.Context, person string) (code string, expires time.Time, err error) {
	expires = s.now().Add(LinkCodeTTL)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		codes, err := tx.CreateBucketIfNotExists(bucketLinkCodes)
		if err != nil {
			return err
		}
		owners, err := tx.CreateBucketIfNotExists(bucketLinkOwners)
		if err != nil {
			return err
		}
		if tx.Bucket(bucketPeople).Get([]byte(person)) == nil {
			return host.Wrapf(ErrNotFound, "no person %q", person)
		}
		if old := owners.Get([]byte(person)); old != nil {
			if err := codes.Delete(old); err != nil {
				return err
			}
		}
		now := s.now().UnixMilli()
		for range 20 {
			n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
			if err != nil {
				return err
			}
			c := fmt.Sprintf("%0*d", LinkCodeDigits, n.Int64())
			var held linkCode
			if v := codes.Get([]byte(c)); v != nil && json.Unmarshal(v, &held) == nil && held.Expires > now {
				continue // in use by someone else
			}
			code = c
			break
		}
		if code == "" {
			return host.Errorf(host.StatusUnavailable, "identity: no free link code; try again in a minute")
		}
		if err := putJSON(codes, []byte(code), linkCode{Person: person, Expires: expires.UnixMilli()}); err != nil {
			return err
		}
		return owners.Put([]byte(person), []byte(code))
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return code, expires, nil
}

// MaxLinkAttempts is how many unknown or expired codes one account may
// send per LinkCodeTTL before RedeemLinkCode refuses it without looking:
// a code has a million values, so guessing one must stay hopeless.
const MaxLinkAttempts = 5

var bucketLinkFails = []byte("identity.linkfails") // account key -> {"n", "since"}

type linkFails struct {
	N     int   `json:"n"`
	Since int64 `json:"since"` // unix ms of the first failure counted
}

// RedeemLinkCode links account a to the person who asked for code and
// spends the code. An account already linked to someone else (the person
// the platform made when the account first wrote) moves to the code's
// person. It returns that person. An account that sent MaxLinkAttempts
// wrong codes within LinkCodeTTL is refused until that time has passed.
func (s *Service) RedeemLinkCode(ctx context.Context, code string, a Account) (Person, error) {
	if err := checkAccount(a); err != nil {
		return Person{}, err
	}
	var p Person
	var refusal error
	err := s.db.Update(func(tx *bbolt.Tx) error {
		refusal = nil
		codes, err := tx.CreateBucketIfNotExists(bucketLinkCodes)
		if err != nil {
			return err
		}
		owners, err := tx.CreateBucketIfNotExists(bucketLinkOwners)
		if err != nil {
			return err
		}
		fails, err := tx.CreateBucketIfNotExists(bucketLinkFails)
		if err != nil {
			return err
		}
		now := s.now().UnixMilli()
		var f linkFails
		if v := fails.Get(accountKey(a)); v != nil {
			_ = json.Unmarshal(v, &f)
		}
		if now-f.Since >= LinkCodeTTL.Milliseconds() {
			f = linkFails{}
		}
		if f.N >= MaxLinkAttempts {
			refusal = host.Errorf(host.StatusRateLimited, "identity: %d wrong link codes from this account; wait %v and ask for a new code in the web client", f.N, LinkCodeTTL)
			return nil
		}
		var lc linkCode
		v := codes.Get([]byte(code))
		if v == nil || json.Unmarshal(v, &lc) != nil || lc.Expires <= now {
			if v != nil {
				if err := codes.Delete([]byte(code)); err != nil {
					return err
				}
			}
			if f.N == 0 {
				f.Since = now
			}
			f.N++
			refusal = host.Wrapf(ErrLinkCode, "link code %q is unknown or expired; ask for a new one in the web client (codes last %v)", code, LinkCodeTTL)
			return putJSON(fails, accountKey(a), f)
		}
		if err := codes.Delete([]byte(code)); err != nil {
			return err
		}
		if err := owners.Delete([]byte(lc.Person)); err != nil {
			return err
		}
		if err := fails.Delete(accountKey(a)); err != nil {
			return err
		}
		people, accounts := tx.Bucket(bucketPeople), tx.Bucket(bucketAccounts)
		if owner := accounts.Get(accountKey(a)); owner != nil && string(owner) != lc.Person {
			var old Person
			if err := getJSON(people, owner, &old); err == nil {
				old.Accounts = slices.DeleteFunc(old.Accounts, func(x Account) bool { return x == a })
				if err := putJSON(people, []byte(old.ID), old); err != nil {
					return err
				}
			}
			if err := accounts.Delete(accountKey(a)); err != nil {
				return err
			}
		}
		if err := s.link(tx, lc.Person, a); err != nil {
			return err
		}
		return getJSON(people, []byte(lc.Person), &p)
	})
	if err == nil {
		err = refusal
	}
	if err != nil {
		return Person{}, err
	}
	s.log.Info("identity: account linked with a code", "person", p.ID, "surface", a.Surface)
	return p, nil
}
