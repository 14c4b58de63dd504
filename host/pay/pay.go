package pay

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
)

// Errors returned by the service, wrapped with details; test with errors.Is.
var (
	ErrNotFound          = &host.Error{Status: host.StatusNotFound, Message: "pay: not found"}
	ErrInvalid           = &host.Error{Status: host.StatusBadRequest, Message: "pay: invalid request"}
	ErrInsufficientFunds = &host.Error{Status: host.StatusInsufficientFunds, Message: "pay: insufficient funds"}
	ErrState             = &host.Error{Status: host.StatusConflict, Message: "pay: order is not in a state that allows this"}
	ErrExpired           = &host.Error{Status: host.StatusConflict, Message: "pay: order expired"}
	ErrConflict          = &host.Error{Status: host.StatusConflict, Message: "pay: idempotency key reused with different fields"}
)

var (
	bucketOrders   = []byte("pay.orders")
	bucketIdem     = []byte("pay.idempotency")
	bucketBalances = []byte("pay.balances")
	bucketPostings = []byte("pay.postings")
	bucketExpiry   = []byte("pay.expiry")
	bucketOutbox   = []byte("pay.outcomes") // outcomes not yet known to have reached their app
)

// Limits and defaults.
const (
	DefaultTTL           = 15 * time.Minute // how long an order waits for confirmation
	DefaultSweepInterval = 10 * time.Second // how often the platform's sweeper expires orders (services)
	MaxAmount            = int64(1e12)      // largest amount of one order or funding, in minor units
	MaxDescription       = 200              // characters
	MaxIdempotencyKey    = 100              // bytes
)

// Issuance is the account that funds wallets. Its balance is the negative of
// all money in circulation in a currency, so the ledger sums to zero.
const Issuance = "issuance"

// PersonAccount returns the ledger account of a person's wallet.
func PersonAccount(person string) string { return "person:" + person }

// MerchantAccount returns the ledger account of a merchant's wallet.
func MerchantAccount(merchant string) string { return "merchant:" + merchant }

// Notifier learns every final state an order reaches (at least once): paid, declined,
// expired, refunded, partially_refunded. The integrator turns it into a
// host.EventPayment event for the app (o.Ref) with o.Event().
//
// PaymentOutcome is called after the change is committed, on the goroutine
// that made it; for pay.refund that is inside a guest's host call, so it
// must not dispatch into the runtime synchronously: queue the event. Once
// the event reached the app (or cannot, for good), call
// Service.OutcomeDelivered: until then the outcome is kept, and a restarted
// service hands it over again.
type Notifier interface {
	PaymentOutcome(ctx context.Context, o Order)
}

// Config configures a Service.
type Config struct {
	TTL time.Duration // DefaultTTL if zero
	// SweepInterval, when positive, has the service sweep (Sweep) at once
	// and then this often, on a goroutine it owns until Close; zero leaves
	// sweeping to the caller.
	SweepInterval time.Duration
	Notifier      Notifier // may be nil
	// MerchantName, if set, gives a merchant's display name for the
	// payment prompt; "" or nil shows the merchant id.
	MerchantName func(ctx context.Context, merchant string) string
	Logger       *slog.Logger     // nil discards
	Now          func() time.Time // time.Now if nil
}

// Service is the payment service: wallets, a double-entry ledger and orders.
// It is safe for concurrent use.
type Service struct {
	db     *bbolt.DB
	commit *bolt.Committer
	cfg    Config
	prompt *host.PromptKind
	log    *slog.Logger
	now    func() time.Time

	stop      context.CancelFunc // ends the sweeper
	sweeper   sync.WaitGroup
	closeOnce sync.Once

	mu        sync.Mutex
	backlog   []Order  // outcomes a previous process committed but did not see delivered
	delivered [][]byte // outbox keys of outcomes delivered (OutcomeDelivered), deleted by the next Sweep
}

// Open prepares the service on db, creating its buckets, and starts its
// sweeper when Config.SweepInterval is set. Close the service before db.
func Open(db *bbolt.DB, cfg Config) (*Service, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	s := &Service{db: db, commit: bolt.NewCommitter(db, bolt.Config{Refusals: []error{ErrNotFound, ErrInvalid, ErrInsufficientFunds, ErrState, ErrExpired, ErrConflict}}), cfg: cfg, log: cfg.Logger, now: cfg.Now}
	s.prompt = s.newPromptKind()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketOrders, bucketIdem, bucketBalances, bucketPostings, bucketExpiry, bucketOutbox} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := openStatements(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
			var o Order
			if err := json.Unmarshal(v, &o); err != nil {
				return err
			}
			s.backlog = append(s.backlog, o)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("pay: open store: %w", err)
	}
	s.startSweeper()
	return s, nil
}

// Posting is one line of the ledger. Every movement writes two postings
// with opposite amounts in the same transaction.
type Posting struct {
	Seq      uint64    `json:"seq"`
	Movement string    `json:"movement"` // id shared by the two postings of a movement
	Account  string    `json:"account"`
	Currency string    `json:"currency"`
	Amount   int64     `json:"amount"` // minor units; negative is a debit
	Kind     string    `json:"kind"`   // fund, settle, refund
	Order    string    `json:"order,omitempty"`
	Time     time.Time `json:"time"`
}

func balanceKey(account, currency string) []byte { return []byte(account + "\x00" + currency) }

func getBalance(tx *bbolt.Tx, account, currency string) int64 {
	v := tx.Bucket(bucketBalances).Get(balanceKey(account, currency))
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func putBalance(tx *bbolt.Tx, account, currency string, v int64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	return tx.Bucket(bucketBalances).Put(balanceKey(account, currency), b[:])
}

// move transfers amount from one account to another: two postings summing
// to zero and both balances, in tx. Only the issuance account may go
// negative; a move that would take another account below zero returns
// ErrInsufficientFunds and writes nothing.
func (s *Service) move(tx *bbolt.Tx, from, to, currency string, amount int64, kind, order string) error {
	if amount <= 0 {
		return host.Wrapf(ErrInvalid, "amount %d must be positive", amount)
	}
	fb, tb := getBalance(tx, from, currency), getBalance(tx, to, currency)
	if from != Issuance && fb < amount {
		return host.Wrapf(ErrInsufficientFunds, "%s has %d %s, needs %d", from, fb, currency, amount)
	}
	if fb < math.MinInt64+amount || tb > math.MaxInt64-amount {
		return host.Wrapf(ErrInvalid, "balance would overflow")
	}
	postings := tx.Bucket(bucketPostings)
	mv := newID("mv_")
	now := s.now().UTC()
	for _, p := range []Posting{
		{Movement: mv, Account: from, Currency: currency, Amount: -amount, Kind: kind, Order: order, Time: now},
		{Movement: mv, Account: to, Currency: currency, Amount: amount, Kind: kind, Order: order, Time: now},
	} {
		seq, err := postings.NextSequence()
		if err != nil {
			return err
		}
		p.Seq = seq
		data, err := json.Marshal(p)
		if err != nil {
			return err
		}
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], seq)
		if err := postings.Put(k[:], data); err != nil {
			return err
		}
		if err := tx.Bucket(bucketAccountPostings).Put(accountPostingKey(p.Account, seq), nil); err != nil {
			return err
		}
	}
	if err := putBalance(tx, from, currency, fb-amount); err != nil {
		return err
	}
	return putBalance(tx, to, currency, tb+amount)
}

func checkMoney(amount int64, currency string) error {
	if _, ok := MinorUnits(currency); !ok {
		return host.Wrapf(ErrInvalid, "currency %q is not an ISO 4217 code; use an upper-case code such as EUR or USD", currency)
	}
	if amount <= 0 || amount > MaxAmount {
		return host.Wrapf(ErrInvalid, "amount %d must be between 1 and %d minor units", amount, MaxAmount)
	}
	return nil
}

// Fund credits account (PersonAccount or MerchantAccount) with amount minor
// units of currency from the issuance account: how operators and the demo
// put money into wallets.
func (s *Service) Fund(ctx context.Context, account, currency string, amount int64) error {
	if err := checkMoney(amount, currency); err != nil {
		return err
	}
	if !strings.HasPrefix(account, "person:") && !strings.HasPrefix(account, "merchant:") {
		return host.Wrapf(ErrInvalid, "account %q; fund a PersonAccount or a MerchantAccount", account)
	}
	return s.commit.Do(func(tx *bbolt.Tx) error {
		return s.move(tx, Issuance, account, currency, amount, "fund", "")
	})
}

// Balance returns an account's balance in currency, in minor units.
func (s *Service) Balance(ctx context.Context, account, currency string) (int64, error) {
	var v int64
	err := s.db.View(func(tx *bbolt.Tx) error { v = getBalance(tx, account, currency); return nil })
	return v, err
}

// AccountBalances returns every currency balance of an account.
func (s *Service) AccountBalances(ctx context.Context, account string) (map[string]int64, error) {
	out := map[string]int64{}
	prefix := []byte(account + "\x00")
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketBalances).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			out[string(k[len(prefix):])] = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return out, err
}

// Balances returns a person's wallet: currency → minor units.
func (s *Service) Balances(ctx context.Context, person string) (map[string]int64, error) {
	return s.AccountBalances(ctx, PersonAccount(person))
}

// Postings returns the ledger lines of one account ("" for all), oldest first.
func (s *Service) Postings(ctx context.Context, account string) ([]Posting, error) {
	var out []Posting
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketPostings).ForEach(func(k, v []byte) error {
			var p Posting
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			if account == "" || p.Account == account {
				out = append(out, p)
			}
			return nil
		})
	})
	return out, err
}

// Audit checks the ledger in one read transaction: every balance equals the
// sum of its postings, each currency sums to zero, no account but issuance
// is negative, each movement has two postings summing to zero, and no order
// was settled more than once. It returns an error listing what is wrong.
func (s *Service) Audit(ctx context.Context) error {
	var problems []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		sums := map[string]int64{}
		perCurrency := map[string]int64{}
		movements := map[string][]int64{}
		settled := map[string]int{}
		err := tx.Bucket(bucketPostings).ForEach(func(k, v []byte) error {
			var p Posting
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			sums[string(balanceKey(p.Account, p.Currency))] += p.Amount
			perCurrency[p.Currency] += p.Amount
			movements[p.Movement] = append(movements[p.Movement], p.Amount)
			if p.Kind == "settle" && p.Amount > 0 {
				settled[p.Order]++
			}
			return nil
		})
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		err = tx.Bucket(bucketBalances).ForEach(func(k, v []byte) error {
			bal := int64(binary.BigEndian.Uint64(v))
			seen[string(k)] = true
			if bal != sums[string(k)] {
				problems = append(problems, fmt.Sprintf("balance %q is %d but its postings sum to %d", k, bal, sums[string(k)]))
			}
			if bal < 0 && !bytes.HasPrefix(k, []byte(Issuance+"\x00")) {
				problems = append(problems, fmt.Sprintf("balance %q is negative: %d", k, bal))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for k, sum := range sums {
			if !seen[k] && sum != 0 {
				problems = append(problems, fmt.Sprintf("postings of %q sum to %d but it has no balance", k, sum))
			}
		}
		for cur, sum := range perCurrency {
			if sum != 0 {
				problems = append(problems, fmt.Sprintf("ledger sums to %d in %s, not zero", sum, cur))
			}
		}
		for mv, amounts := range movements {
			if len(amounts) != 2 || amounts[0]+amounts[1] != 0 {
				problems = append(problems, fmt.Sprintf("movement %s has postings %v", mv, amounts))
			}
		}
		for order, n := range settled {
			if n > 1 {
				problems = append(problems, fmt.Sprintf("order %s settled %d times", order, n))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pay: audit: %w", err)
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("pay: ledger audit failed: %s", strings.Join(problems, "; "))
	}
	return nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + idEncoding.EncodeToString(b[:])
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

func getJSON(b *bbolt.Bucket, key []byte, v any) error {
	data := b.Get(key)
	if data == nil {
		return ErrNotFound
	}
	return json.Unmarshal(data, v)
}
