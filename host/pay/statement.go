package pay

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"time"

	"go.etcd.io/bbolt"
)

// bucketAccountPostings indexes the ledger by account: account 0 posting
// seq (8 bytes BE) -> "", so that one wallet's statement is a prefix scan,
// not a walk over every posting.
var bucketAccountPostings = []byte("pay.account_postings")

// openStatements creates the account index, filling it from the ledger
// when it is new (a store written before it existed).
func openStatements(tx *bbolt.Tx) error {
	if tx.Bucket(bucketAccountPostings) != nil {
		return nil
	}
	idx, err := tx.CreateBucket(bucketAccountPostings)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketPostings).ForEach(func(k, v []byte) error {
		var p Posting
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		return idx.Put(accountPostingKey(p.Account, p.Seq), nil)
	})
}

func accountPostingKey(account string, seq uint64) []byte {
	k := make([]byte, 0, len(account)+9)
	k = append(k, account...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// StatementLine is one movement of a wallet, as its owner reads it.
type StatementLine struct {
	Time         time.Time `json:"time"`
	Kind         string    `json:"kind"`   // fund, settle (a payment), refund
	Amount       int64     `json:"amount"` // minor units; negative left the wallet
	Currency     string    `json:"currency"`
	Order        string    `json:"order,omitempty"`
	Description  string    `json:"description,omitempty"` // the order's
	MerchantName string    `json:"merchant_name,omitempty"`
	State        State     `json:"state,omitempty"` // the order's state now
}

// Statement returns the newest limit movements of person's wallet, newest
// first, with what each order was for and whom it paid.
func (s *Service) Statement(ctx context.Context, person string, limit int) ([]StatementLine, error) {
	var out []StatementLine
	err := s.db.View(func(tx *bbolt.Tx) error {
		prefix := accountPostingKey(PersonAccount(person), 0)
		prefix = prefix[:len(prefix)-8]
		postings, orders := tx.Bucket(bucketPostings), tx.Bucket(bucketOrders)
		c := tx.Bucket(bucketAccountPostings).Cursor()
		// Seek past the prefix, then walk back over it.
		k, _ := c.Seek(append(bytes.Clone(prefix), 0xff))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Prev() {
			var p Posting
			if err := getJSON(postings, k[len(prefix):], &p); err != nil {
				return err
			}
			l := StatementLine{Time: p.Time, Kind: p.Kind, Amount: p.Amount, Currency: p.Currency, Order: p.Order}
			if p.Order != "" {
				var o Order
				if err := getJSON(orders, []byte(p.Order), &o); err == nil {
					l.Description, l.State, l.MerchantName = o.Description, o.State, o.Ref.Merchant
				}
			}
			out = append(out, l)
		}
		return nil
	})
	for i := range out { // outside the transaction: the name may come from another store
		if out[i].MerchantName != "" {
			if n := s.merchantName(ctx, out[i].MerchantName); n != "" {
				out[i].MerchantName = n
			}
		}
	}
	return out, err
}
