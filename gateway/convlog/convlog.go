package convlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
)

// Errors of the log; both are *host.Error, so every edge maps them from
// their status.
var (
	ErrNotFound = &host.Error{Status: host.StatusNotFound, Message: "no such conversation; the conversations frame lists yours"}
	ErrClosed   = &host.Error{Status: host.StatusUnavailable, Message: "the conversation log is closed; the server is stopping, retry shortly"}
)

// Buckets of the log. They keep the names they had when the log lived in
// package gateway, so a data directory written then is read as it is.
var (
	bucketConvs  = []byte("gateway.convs")  // conv id -> Conv as JSON
	bucketLog    = []byte("gateway.log")    // global seq (8 bytes BE) -> log entry (entry.go)
	bucketHeads  = []byte("gateway.heads")  // conv id -> last seq, global seq of that message (8+8 bytes BE)
	bucketMarks  = []byte("gateway.marks")  // conv id 0 seq (8 bytes BE) -> global seq, for every markEvery-th seq
	bucketInbox  = []byte("gateway.inbox")  // person 0 conv id -> ""
	bucketDedupe = []byte("gateway.dedupe") // conv id 0 person 0 client id -> seq, unix ms (8+8 bytes BE)
)

// Conv is a conversation's metadata.
type Conv struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Title   string   `json:"title,omitempty"`
	App     string   `json:"app,omitempty"`
	Members []string `json:"members"` // people
	Created int64    `json:"created"` // unix milliseconds, set by Ensure
}

// Summary is a conversation with its newest seq.
type Summary struct {
	Conv
	Last uint64 `json:"last"`
}

// Sender says who wrote a message.
type Sender struct {
	Kind string `json:"kind"` // person or app
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Agent is the display name of the member of the merchant's staff who
	// wrote an app conversation's message from the merchant inbox
	// (host.Outgoing.Agent); "" for the app's own messages.
	Agent string `json:"agent,omitempty"`
}

// Message is one message of a conversation.
type Message struct {
	Seq     uint64       `json:"-"`            // its place in the conversation, from 1; set by the log
	ID      string       `json:"id,omitempty"` // an app's message: the id chat.send answered
	Time    int64        `json:"time"`         // unix milliseconds
	From    Sender       `json:"from"`
	Msg     host.Message `json:"msg"`
	Client  string       `json:"cid,omitempty"` // the sender's id for the message, for resends
	Surface string       `json:"surface,omitempty"`
	// Basis is the consent an app's business-initiated message rests on
	// (host.Outgoing.Basis); nil for the rest.
	Basis *host.Basis `json:"basis,omitempty"`
}

// Appended is what Append stored.
type Appended struct {
	Seq uint64
	// Dup says that the sender already sent a message with this client id
	// in this conversation, within the dedupe window: nothing was stored,
	// and Seq is the earlier message's.
	Dup bool
}

// DefaultDedupeWindow is how long a client id is remembered by default.
const DefaultDedupeWindow = 24 * time.Hour

// Config configures a Log.
type Config struct {
	// DedupeWindow is how long a sender's client id is remembered: a
	// message resent with the same client id within it is not stored again
	// (default DefaultDedupeWindow).
	DedupeWindow time.Duration
	// MaxGroup bounds the messages written by one transaction (default 8192).
	MaxGroup int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Log is the conversation log on bbolt: conversations, their messages in
// one append-only log with a gap-free seq per conversation, and the client
// ids of recent messages. It is safe for concurrent use.
type Log struct {
	db     *bbolt.DB
	cfg    Config
	commit *bolt.Committer

	sweepAt []byte // the dedupe id the expiry sweep stopped at (dedupe.go)
}

// Open returns the log kept in db, creating its buckets. Close it before
// closing db.
func Open(db *bbolt.DB, cfg Config) (*Log, error) {
	if cfg.DedupeWindow <= 0 {
		cfg.DedupeWindow = DefaultDedupeWindow
	}
	if cfg.MaxGroup <= 0 {
		cfg.MaxGroup = 8192
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := bolt.CreateBuckets(db, bucketConvs, bucketLog, bucketHeads, bucketMarks, bucketInbox, bucketDedupe); err != nil {
		return nil, fmt.Errorf("convlog: create buckets: %w", err)
	}
	return &Log{db: db, cfg: cfg, commit: bolt.NewCommitter(db, bolt.Config{Refusals: []error{ErrNotFound}, MaxGroup: cfg.MaxGroup})}, nil
}

// Close refuses new appends with ErrClosed and returns once every append
// accepted before is committed and its then called.
func (l *Log) Close() { l.commit.Close() }

// Check reports whether the store can be read.
func (l *Log) Check(context.Context) error {
	return l.db.View(func(*bbolt.Tx) error { return nil })
}

// Ensure returns the conversation c.ID, creating it as c (with the current
// time as Created) when it does not exist; created says whether it did.
func (l *Log) Ensure(_ context.Context, c Conv) (out Conv, created bool, err error) {
	get := func(tx *bbolt.Tx) (bool, error) {
		v := tx.Bucket(bucketConvs).Get([]byte(c.ID))
		if v == nil {
			return false, nil
		}
		return true, json.Unmarshal(v, &out)
	}
	var found bool
	if err := l.db.View(func(tx *bbolt.Tx) (err error) { found, err = get(tx); return err }); err != nil || found {
		return out, false, err
	}
	err = l.commit.Do(func(tx *bbolt.Tx) error {
		created = false
		if ok, err := get(tx); err != nil || ok {
			return err
		}
		c.Created = l.cfg.Now().UnixMilli()
		v, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketConvs).Put([]byte(c.ID), v); err != nil {
			return err
		}
		for _, m := range c.Members {
			if err := tx.Bucket(bucketInbox).Put(bolt.Key(m, c.ID), nil); err != nil {
				return err
			}
		}
		out, created = c, true
		return nil
	})
	return out, created, closed(err)
}

// Conv returns the conversation id and its newest seq.
func (l *Log) Conv(_ context.Context, id string) (Conv, uint64, error) {
	var c Conv
	var last uint64
	err := l.db.View(func(tx *bbolt.Tx) (err error) {
		c, last, err = l.ConvTx(tx, id)
		return err
	})
	return c, last, err
}

// ConvsOf lists the conversations person is a member of, with their newest
// seq.
func (l *Log) ConvsOf(_ context.Context, person string) ([]Summary, error) {
	var out []Summary
	err := l.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketInbox).Cursor()
		prefix := bolt.Key(person, "")
		convs := tx.Bucket(bucketConvs)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			id := k[len(prefix):]
			v := convs.Get(id)
			if v == nil {
				continue
			}
			var s Summary
			if err := json.Unmarshal(v, &s.Conv); err != nil {
				return err
			}
			s.Last = lastSeq(tx, string(id))
			out = append(out, s)
		}
		return nil
	})
	return out, err
}

// Append stores m as the next message of conv and returns once it is
// committed; m.Seq is then set. A message with a client id that its sender
// already used in conv within the dedupe window is not stored again: the
// result says Dup, with the earlier message's seq.
func (l *Log) Append(ctx context.Context, conv string, m *Message) (Appended, error) {
	return l.AppendWith(ctx, conv, m, nil)
}

// AppendWith is Append that also runs with, when not nil, in the
// transaction that stores m, once m is stored as seq (not for a Dup): what
// with writes commits together with the message, or neither does. with
// may run more than once (a group that failed is retried job by job), each
// time in a new transaction; it must start afresh each time. An error from
// with fails the append.
func (l *Log) AppendWith(_ context.Context, conv string, m *Message, with func(tx *bbolt.Tx, seq uint64) error) (Appended, error) {
	a, err := l.appender(conv, m)
	if err != nil {
		return Appended{}, err
	}
	a.with = with
	err = l.commit.Do(a.write)
	return a.done(err)
}

// AppendTx stores m as the next message of conv inside tx, a write
// transaction of the log's database that the caller commits or rolls back,
// with the guarantees of Append: the seq follows the conversation's newest
// committed or in tx, without a gap, and a client id its sender already
// used in conv within the dedupe window is a Dup. m.Seq is set, and means
// something only once tx committed. The log keeps nothing in memory about
// the append: when tx rolls back, no trace of m remains, and the next
// append takes the seq m had. AppendTx may be called again for m in a new
// transaction after a rollback. It runs alongside Append and AppendAsync:
// bbolt runs one write transaction at a time, and each append reads the
// conversation's head in its own.
func (l *Log) AppendTx(tx *bbolt.Tx, conv string, m *Message) (Appended, error) {
	a, err := l.appender(conv, m)
	if err != nil {
		return Appended{}, err
	}
	if !tx.Writable() {
		return Appended{}, fmt.Errorf("convlog: store a message of %q: the transaction is read-only", conv)
	}
	return a.done(a.write(tx))
}

// ConvTx is Conv read in tx, seeing what tx itself wrote.
func (l *Log) ConvTx(tx *bbolt.Tx, id string) (Conv, uint64, error) {
	var c Conv
	v := tx.Bucket(bucketConvs).Get([]byte(id))
	if v == nil {
		return c, 0, fmt.Errorf("conversation %q: %w", id, ErrNotFound)
	}
	return c, lastSeq(tx, id), json.Unmarshal(v, &c)
}

// AppendAsync queues m as the next message of conv and returns at once;
// once it is committed, m.Seq is set and then gets the outcome (then is
// called in queue order, on the goroutine that committed it, and must be
// quick). then is not called when AppendAsync returns an error. The
// sender's client id is not checked: AppendAsync is for messages without
// one, such as an app's.
func (l *Log) AppendAsync(conv string, m *Message, then func(error)) error {
	a, err := l.appender(conv, m)
	if err != nil {
		return err
	}
	a.key = nil
	return closed(l.commit.Go(a.write, func(err error) {
		_, err = a.done(err)
		then(err)
	}))
}

// closed is err with the committer's ErrClosed as the log's.
func closed(err error) error {
	if errors.Is(err, bolt.ErrClosed) {
		return ErrClosed
	}
	return err
}

// appender is one append: the encoded record and the job that writes it.
type appender struct {
	l    *Log
	conv string
	m    *Message
	rec  []byte
	key  []byte // dedupe key; nil without a client id
	now  int64
	with func(tx *bbolt.Tx, seq uint64) error // AppendWith's
	res  Appended
}

func (l *Log) appender(conv string, m *Message) (*appender, error) {
	rec, err := encodeRecord(m) // outside the transaction: it holds the one writer lock
	if err != nil {
		return nil, err
	}
	a := &appender{l: l, conv: conv, m: m, rec: rec, now: l.cfg.Now().UnixMilli()}
	if m.Client != "" {
		a.key = bolt.Key(conv, m.From.ID, m.Client) // the client id last: it may hold any byte
	}
	return a, nil
}

// write is the commit job: it may run more than once, so it starts afresh.
func (a *appender) write(tx *bbolt.Tx) error {
	a.res = Appended{}
	if tx.Bucket(bucketConvs).Get([]byte(a.conv)) == nil {
		return fmt.Errorf("conversation %q: %w", a.conv, ErrNotFound)
	}
	if a.key != nil {
		if seq, ok := a.l.seen(tx, a.key, a.now); ok {
			a.res = Appended{Seq: seq, Dup: true}
			return nil
		}
	}
	seq := lastSeq(tx, a.conv) + 1
	if _, err := putMessage(tx, a.conv, seq, a.rec); err != nil {
		return err
	}
	if a.key != nil {
		if err := a.l.remember(tx, a.key, seq, a.now); err != nil {
			return err
		}
	}
	a.res.Seq = seq
	if a.with != nil {
		return a.with(tx, seq)
	}
	return nil
}

func (a *appender) done(err error) (Appended, error) {
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("convlog: store a message of %q: %w", a.conv, closed(err))
		}
		return Appended{}, err
	}
	if !a.res.Dup {
		a.m.Seq = a.res.Seq
	}
	return a.res, nil
}

// Range returns up to limit messages of conv with seq > after, in order.
func (l *Log) Range(_ context.Context, conv string, after uint64, limit int) ([]Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []Message
	err := l.db.View(func(tx *bbolt.Tx) error {
		return walk(tx, conv, after, after+uint64(limit), func(seq uint64, v []byte) (bool, error) {
			out = append(out, Message{Seq: seq})
			return true, json.Unmarshal(v, &out[len(out)-1])
		})
	})
	slices.Reverse(out)
	return out, err
}
