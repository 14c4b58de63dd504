package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
	"github.com/passerelle/passerelle/host"
)

// worker sends the queue of one connection, in order per person.
type worker struct {
	conn   string
	wake   chan struct{}
	lim    *bucket
	client *client // of the round under way
}

// wakeWorker starts conn's sender if it is not running and tells it that
// its queue changed.
func (b *Bridge) wakeWorker(conn string) {
	if b.ctx == nil || b.ctx.Err() != nil {
		return
	}
	b.mu.Lock()
	w := b.workers[conn]
	if w == nil {
		w = &worker{conn: conn, wake: make(chan struct{}, 1), lim: newBucket(b.cfg.Rate, max(1, int(b.cfg.Rate)))}
		b.workers[conn] = w
		b.goRun(func() { b.run(w) })
	}
	b.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// errNotSent is the outcome of a send the server stopped before it began.
var errNotSent = errors.New("not sent: the server is stopping")

// maxInFlight bounds the sends of one connection under way at once.
const maxInFlight = 16

// run is the sender of one connection. Each round it takes the next item
// of every person whose turn it is, marks them sending in one
// transaction, sends them at once (at the connection's rate) and records
// the outcomes in one transaction. An item waiting for a retry holds back
// the later items to the same person, so that a person reads the messages
// in order; an item whose outcome is unknown does not (it has probably
// gone).
func (b *Bridge) run(w *worker) {
	for {
		var items []*item
		if err := b.cfg.DB.View(func(tx *bbolt.Tx) error {
			var err error
			items, err = queued(tx, w.conn, 1024)
			return err
		}); err != nil {
			b.log.Error("bridge: reading the outbox failed", "conn", w.conn, "err", err)
		}
		b.met.depth.WithLabelValues(w.conn).Set(float64(len(items)))
		now := b.cfg.Now()
		var next time.Time
		later := func(t time.Time) {
			if next.IsZero() || t.Before(next) {
				next = t
			}
		}
		held := map[string]bool{}
		var round []*item
		for _, it := range items {
			if held[it.To] {
				continue
			}
			if at := time.UnixMilli(it.NextAt); it.NextAt > 0 && at.After(now) {
				later(at)
				if it.State != StateUnknown {
					held[it.To] = true
				}
				continue
			}
			held[it.To] = true // one item per person per round: in order
			if it.Network == connector.NetworkWhatsApp {
				if d := b.pairs.take(w.conn, it.To, now); d > 0 {
					later(now.Add(d))
					continue
				}
			}
			round = append(round, it)
		}
		if len(round) > 0 {
			b.sendRound(b.ctx, w, round)
			continue
		}
		var timer <-chan time.Time
		var t *time.Timer
		if !next.IsZero() {
			t = time.NewTimer(max(time.Millisecond, next.Sub(b.cfg.Now())))
			timer = t.C
		}
		select {
		case <-b.ctx.Done():
		case <-w.wake:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if b.ctx.Err() != nil {
			return
		}
	}
}

// outcome is what became of one send.
type outcome struct {
	it  *item
	out Out
	id  string
	err error
}

// sendRound sends items of w's connection and records what became of them.
func (b *Bridge) sendRound(ctx context.Context, w *worker, items []*item) {
	var settled []func()
	var ready []*outcome
	attempts := make([]int, len(items)) // a job may run twice: count from here
	for i, it := range items {
		attempts[i] = it.Attempts
	}
	tmpls, noTmpl := b.templates(ctx, w.conn, items)
	err := b.commit.Do(func(tx *bbolt.Tx) error {
		settled, ready = settled[:0], ready[:0]
		conn, cerr := b.cfg.Connections.Get(ctx, w.conn)
		var c *client
		if cerr == nil {
			c, cerr = b.client(conn)
		}
		for i, it := range items {
			it.Attempts = attempts[i]
			o := &outcome{it: it}
			switch {
			case errors.Is(cerr, connector.ErrNoConnection):
				o.err = &connector.Error{Network: it.Network, Class: connector.ClassAuth, Message: "the connection was removed; nothing can be sent through it"}
			case cerr != nil:
				o.err = &connector.Error{Network: it.Network, Class: connector.ClassAuth, Message: cerr.Error()}
			case noTmpl[it.Key] != nil:
				o.err = windowError(it, noTmpl[it.Key])
			case tmpls[it.Key] != nil:
				it.AsTemplate = true
				o.out = Out{WhatsApp: *tmpls[it.Key], Text: it.Msg.Text}
			default:
				o.out, o.err = b.prepare(tx, it)
				if o.err != nil {
					o.err = &connector.Error{Network: it.Network, Class: connector.ClassInvalid, Message: o.err.Error()}
				} else if o.err = b.agentTag(tx, it, &o.out); o.err == nil {
					o.err = b.byToken(tx, it, &o.out)
				}
			}
			if o.err != nil {
				f, err := b.settle(tx, o)
				if err != nil {
					return err
				}
				settled = append(settled, f)
				continue
			}
			it.State = StateSending
			it.Attempts++
			if err := putJSON(tx.Bucket(bucketItems), []byte(it.Key), it); err != nil {
				return err
			}
			ready = append(ready, o)
		}
		w.client = c
		return nil
	})
	if err != nil {
		b.log.Error("bridge: outbox write failed", "conn", w.conn, "err", err)
		sleep(ctx, b.cfg.Backoff)
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxInFlight)
	for _, o := range ready {
		if !w.lim.wait(ctx) {
			o.err = errNotSent
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			o.id, o.err = w.client.send(ctx, o.it.To, o.out)
		}()
	}
	wg.Wait()
	err = b.commit.Do(func(tx *bbolt.Tx) error {
		for _, o := range ready {
			f, err := b.settle(tx, o)
			if err != nil {
				return err
			}
			settled = append(settled, f)
		}
		return nil
	})
	if err != nil {
		// The items stay "sending": the next start treats them as unknown.
		b.log.Error("bridge: recording sends failed", "conn", w.conn, "err", err)
		return
	}
	for _, f := range settled {
		if f != nil {
			f()
		}
	}
}

// settle records in tx what became of o's send and returns what to do
// once that is committed.
func (b *Bridge) settle(tx *bbolt.Tx, o *outcome) (func(), error) {
	it := o.it
	items := tx.Bucket(bucketItems)
	put := func() error { return putJSON(items, []byte(it.Key), it) }
	now := b.cfg.Now()
	if o.err == nil {
		it.State, it.ID, it.Error, it.NextAt = StateSent, o.id, "", 0
		if err := put(); err != nil {
			return nil, err
		}
		if err := dequeue(tx, it); err != nil {
			return nil, err
		}
		if err := tx.Bucket(bucketSent).Put(sentKey(it.Network, o.id), []byte(it.Key)); err != nil {
			return nil, err
		}
		es, err := unpark(tx, it.Network, o.id)
		if err != nil {
			return nil, err
		}
		if it.Conv != "" && it.Seq > 0 {
			r, err := getRoute(tx, it.Conv)
			if err != nil {
				return nil, err
			}
			if r != nil && it.Seq > r.LastSeq {
				r.LastSeq, r.LastAt = it.Seq, now.UnixMilli()
				if err := putJSON(tx.Bucket(bucketRoutes), []byte(r.Conv), r); err != nil {
					return nil, err
				}
			}
		}
		moved, err := b.stateMoved(tx, it, nil)
		if err != nil {
			return nil, err
		}
		network, to, id := it.Network, it.To, o.id
		return then(moved, func() {
			b.met.sends.WithLabelValues(network, "sent", "0").Inc()
			if es != nil { // the status that came first applies now
				if err := b.status(b.ctx, network, to, id, es.State, es.Fail); err != nil {
					b.log.Warn("bridge: an early status", "network", network, "id", id, "err", err)
				}
			}
		}), nil
	}
	if o.err == errNotSent {
		it.State, it.Attempts = StateQueued, it.Attempts-1
		return nil, put()
	}
	var ce *connector.Error
	var wl *whatsapp.LimitError
	var ml *messenger.LimitError
	switch {
	case errors.As(o.err, &wl) || errors.As(o.err, &ml):
		ce = &connector.Error{Network: it.Network, Class: connector.ClassInvalid, Message: o.err.Error()}
	case errors.As(o.err, &ce):
	case errors.Is(o.err, context.Canceled):
		// Stopping: the request was cut short; the outcome is unknown.
		ce = &connector.Error{Network: it.Network, Class: connector.ClassUnknown, Message: "the server stopped during the send"}
	default:
		ce = &connector.Error{Network: it.Network, Class: connector.ClassTransient, Message: o.err.Error()}
	}
	switch {
	case retemplate(it, ce):
		// Refused as free-form text, so nothing went: the same message
		// goes again as the template its consent names, if there is one.
		it.State, it.AsTemplate, it.Error, it.NextAt = StateQueued, true, ce.Error(), 0
		return func() { b.met.retries.WithLabelValues(it.Network, string(ce.Class)).Inc() }, put()
	case ce.Retry() && it.Attempts < b.cfg.MaxAttempts:
		d := b.cfg.Backoff << min(max(it.Attempts-1, 0), 6)
		it.State, it.Error, it.NextAt = StateQueued, ce.Error(), now.Add(min(d, time.Minute)).UnixMilli()
		return func() { b.met.retries.WithLabelValues(it.Network, string(ce.Class)).Inc() }, put()
	case ce.Class == connector.ClassUnknown:
		// The network may have the message: wait for its status before
		// any resend.
		it.State, it.Error, it.NextAt = StateUnknown, ce.Error(), now.Add(b.cfg.UnknownWait).UnixMilli()
		return func() { b.met.sends.WithLabelValues(it.Network, "unknown", "0").Inc() }, put()
	}
	if ce.Retry() {
		b.met.retries.WithLabelValues(it.Network, string(ce.Class)).Inc()
	}
	it.State, it.Class, it.Code, it.Error, it.NextAt = StateFailed, string(ce.Class), ce.Code, ce.Error(), 0
	if err := put(); err != nil {
		return nil, err
	}
	if err := dequeue(tx, it); err != nil {
		return nil, err
	}
	moved, err := b.stateMoved(tx, it, ce)
	if err != nil {
		return nil, err
	}
	return then(func() { b.refused(b.ctx, it, ce) }, moved), nil
}

// refused acts on a network's refusal of it (at send or in a status).
func (b *Bridge) refused(ctx context.Context, it *item, e *connector.Error) {
	b.met.sends.WithLabelValues(it.Network, "failed:"+string(e.Class), strconv.Itoa(e.Code)).Inc()
	b.log.Warn("bridge: message refused", "key", it.Key, "network", it.Network, "class", e.Class, "code", e.Code, "err", e.Message)
	ref := host.AppRef{Merchant: it.Merch, App: it.App}
	var code, msg string
	switch {
	case e.Class == connector.ClassWindowClosed:
		code = "window_closed"
		msg = fmt.Sprintf("message %s not sent on %s: the person last wrote more than 24 hours ago (code %d); only a template or an opted-in purpose may reach them now (chat.notify)", it.Key, it.Network, e.Code)
		if e.Message != "" {
			msg += ". " + e.Message
		}
		if it.Agent != "" && e.Message != "" {
			msg = fmt.Sprintf("%s's answer %s not sent on %s (code %d): %s", it.Agent, it.Key, it.Network, e.Code, e.Message)
		}
	case e.Class == connector.ClassConsent && e.Subcode == msTopicStopped:
		code = "not_opted_in"
		msg = fmt.Sprintf("message %s not sent on %s: the person stopped this topic's notification messages (code %d/%d); the opt-in is withdrawn until they resume them", it.Key, it.Network, e.Code, e.Subcode)
		b.topicStopped(ctx, it)
	case e.Class == connector.ClassConsent:
		code = "opted_out"
		msg = fmt.Sprintf("message %s not sent on %s: the person stopped messages from this business on the network (code %d); they are opted out everywhere until they send START", it.Key, it.Network, e.Code)
		if b.cfg.Consent != nil && it.Person != "" && it.Merch != "" {
			if _, err := b.cfg.Consent.Revoke(ctx, it.Person, it.Merch, "", it.Network); err != nil {
				b.log.Error("bridge: recording a network's opt-out failed", "person", it.Person, "merchant", it.Merch, "err", err)
			}
		}
	case e.Class == connector.ClassUndeliverable:
		code = "undeliverable"
		msg = fmt.Sprintf("message %s not delivered on %s: the person cannot receive it (code %d: %s)", it.Key, it.Network, e.Code, e.Message)
		if recordUndeliverable(it.Network, e) && b.cfg.Consent != nil && it.Person != "" && it.Merch != "" {
			if _, err := b.cfg.Consent.Undeliverable(ctx, it.Person, it.Merch, it.Network, it.Key, e.Code); err != nil {
				b.log.Error("bridge: recording an undeliverable message failed", "person", it.Person, "merchant", it.Merch, "err", err)
			}
			msg += "; broadcasts skip the person until they write again"
		}
	default:
		code = string(e.Class)
		msg = fmt.Sprintf("message %s not sent on %s: %s", it.Key, it.Network, e.Error())
	}
	if b.cfg.AppLog != nil && it.App != "" {
		b.cfg.AppLog(ref, slog.LevelWarn, code, msg)
	}
}

// status applies a network's status of the message it knows as id, sent
// to the person to. Statuses come in any order; a message never moves
// back (read implies delivered). A status for an id the outbox never
// learnt (its send's answer was lost) settles that person's oldest send
// of unknown outcome.
func (b *Bridge) status(ctx context.Context, network, to, id, state string, fail *connector.Error) error {
	if id == "" || state == "" {
		return nil
	}
	var it *item
	var moved, requeued bool
	var after func()
	err := b.commit.Do(func(tx *bbolt.Tx) error {
		it, moved, requeued, after = nil, false, false, nil
		key := tx.Bucket(bucketSent).Get(sentKey(network, id))
		if key == nil {
			adopted, err := adopt(tx, network, to, id)
			if err != nil {
				return err
			}
			if adopted == nil {
				// The send's answer may not be recorded yet (a status can
				// overtake it): keep the status until it is (settle).
				return park(tx, network, to, id, state, fail, b.cfg.Now().UnixMilli())
			}
			key = []byte(adopted.Key)
		}
		cur, err := getItem(tx, string(key))
		if err != nil || cur == nil {
			return err
		}
		it = cur
		if it.ID != id {
			return nil // a status of the item's earlier send, before it went again as a template
		}
		if state == StateFailed && retemplate(it, fail) {
			// Accepted as free-form text, then refused in the status
			// (131047): nothing reached the person, so the same item goes
			// again, once, as its template.
			requeued = true
			return requeue(tx, it, fail)
		}
		if rank(state) <= rank(it.State) {
			return nil
		}
		it.State, moved = state, true
		if fail != nil {
			it.Class, it.Code, it.Error = string(fail.Class), fail.Code, fail.Error()
		}
		if err := putJSON(tx.Bucket(bucketItems), key, it); err != nil {
			return err
		}
		after, err = b.stateMoved(tx, it, fail)
		return err
	})
	if err != nil || it == nil {
		return err
	}
	if requeued {
		b.met.statuses.WithLabelValues(network, state).Inc()
		b.met.retries.WithLabelValues(network, string(fail.Class)).Inc()
		b.wakeWorker(it.Conn)
		return nil
	}
	if !moved {
		return nil
	}
	if after != nil {
		after()
	}
	b.met.statuses.WithLabelValues(network, state).Inc()
	switch state {
	case StateDelivered, StateRead:
		if it.Conv != "" && it.Seq > 0 {
			return b.srv.MarkFromNetwork(ctx, it.Conv, it.Person, markState(state), it.Seq)
		}
	case StateFailed:
		if fail != nil {
			b.refused(ctx, it, fail)
		}
	}
	return nil
}

// earlyStatus is a status kept because it came before the answer to its
// send was recorded; settle applies it once that is.
type earlyStatus struct {
	To    string           `json:"to"`
	State string           `json:"state"`
	Fail  *connector.Error `json:"fail,omitempty"`
	At    int64            `json:"at"` // unix ms it came; prune forgets it after the outbox's keep
}

// park keeps the status state of the network's message id until its send
// is recorded, the most advanced one when several come.
func park(tx *bbolt.Tx, network, to, id, state string, fail *connector.Error, now int64) error {
	b := tx.Bucket(bucketEarly)
	k := sentKey(network, id)
	if v := b.Get(k); v != nil {
		var cur earlyStatus
		if json.Unmarshal(v, &cur) == nil && rank(state) <= rank(cur.State) {
			return nil
		}
	}
	return putJSON(b, k, earlyStatus{To: to, State: state, Fail: fail, At: now})
}

// unpark takes the status kept for the network's message id, if any.
func unpark(tx *bbolt.Tx, network, id string) (*earlyStatus, error) {
	b := tx.Bucket(bucketEarly)
	k := sentKey(network, id)
	v := b.Get(k)
	if v == nil {
		return nil, nil
	}
	var es earlyStatus
	err := json.Unmarshal(v, &es)
	if derr := b.Delete(k); derr != nil {
		return nil, derr
	}
	if err != nil {
		return nil, nil // unreadable: forgotten
	}
	return &es, nil
}

// adopt gives the network id id to the oldest item sent to to on network
// whose outcome is unknown, and takes it out of the queue.
func adopt(tx *bbolt.Tx, network, to, id string) (*item, error) {
	c := tx.Bucket(bucketQueue).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		it, err := getItem(tx, string(v))
		if err != nil {
			return nil, err
		}
		if it == nil || it.Network != network || it.To != to || it.State != StateUnknown {
			continue
		}
		it.State, it.ID, it.NextAt = StateSent, id, 0
		if err := tx.Bucket(bucketQueue).Delete(k); err != nil {
			return nil, err
		}
		if err := putJSON(tx.Bucket(bucketItems), []byte(it.Key), it); err != nil {
			return nil, err
		}
		return it, tx.Bucket(bucketSent).Put(sentKey(network, id), []byte(it.Key))
	}
	return nil, nil
}

// hostText queues a text from the host to a network account, outside any
// conversation (an answer to LINK, a form's question, a refusal). key
// makes it idempotent: a redelivered message gets no second answer.
func (b *Bridge) hostText(ctx context.Context, conn connector.Connection, to, person, key, text string) error {
	if b.optedOut(ctx, person, conn.Merchant) {
		b.met.sends.WithLabelValues(conn.Network, "withheld:opted_out", "0").Inc()
		return nil
	}
	return b.hostSend(conn, &item{Key: "host:" + key, Conn: conn.ID, Network: conn.Network, To: to, Person: person,
		App: conn.App, Merch: conn.Merchant, Host: &hostMsg{Text: text}})
}

// optedOut says whether person stopped merchant: the bridge's own
// messages (a form's question, a LINK answer, a refusal) are withheld.
// The answers to STOP, START and HELP are the consent rules' and go as
// the app conversation's messages. A failed check withholds nothing.
func (b *Bridge) optedOut(ctx context.Context, person, merchant string) bool {
	if b.cfg.Consent == nil || person == "" || merchant == "" {
		return false
	}
	out, err := b.cfg.Consent.OptedOut(ctx, person, merchant)
	if err != nil {
		b.log.Warn("bridge: reading the person's consent failed", "person", person, "merchant", merchant, "err", err)
		return false
	}
	return out
}

// hostSend queues a host item and wakes its sender.
func (b *Bridge) hostSend(conn connector.Connection, it *item) error {
	it.Created = b.cfg.Now().UnixMilli()
	var added bool
	err := b.commit.Do(func(tx *bbolt.Tx) error {
		var err error
		added, err = enqueue(tx, it)
		return err
	})
	if err == nil && added {
		b.wakeWorker(conn.ID)
	}
	return err
}

// prepare renders it for its network. An app's form starts its
// question-by-question exchange here, when it is its turn to go out.
func (b *Bridge) prepare(tx *bbolt.Tx, it *item) (Out, error) {
	if h := it.Host; h != nil {
		if o := h.Optin; o != nil && it.Network == connector.NetworkMessenger {
			return Out{Messenger: &messenger.Message{OptinRequest: &messenger.OptinRequest{Title: o.Title, Payload: o.Token}}, Text: o.Title}, nil
		}
		if len(h.Buttons) > 0 {
			return renderHost(it.Network, h.Text, h.Buttons), nil
		}
		return renderText(it.Network, h.Text), nil
	}
	if it.Msg == nil {
		return Out{}, errors.New("an outbox item with nothing to send")
	}
	if c := it.Msg.Card; c != nil && c.Form != nil {
		if _, err := Render(it.Network, *it.Msg); err != nil { // the reserved-id check
			return Out{}, err
		}
		f := newForm(it, c)
		if err := putJSON(tx.Bucket(bucketForms), []byte(it.Conv), f); err != nil {
			return Out{}, err
		}
		return renderText(it.Network, f.intro()+"\n\n"+f.question()), nil
	}
	return Render(it.Network, *it.Msg)
}

// client is the Send API client of one connection.
type client struct {
	key string // what it was made from: the token and URL may change
	wa  *whatsapp.Client
	ms  *messenger.Client
}

func (c *client) send(ctx context.Context, to string, out Out) (string, error) {
	if c.wa != nil {
		if out.WhatsApp == nil {
			return "", errors.New("bridge: a message rendered for another network")
		}
		return c.wa.Send(ctx, to, out.WhatsApp)
	}
	if out.Messenger == nil {
		return "", errors.New("bridge: a message rendered for another network")
	}
	return c.ms.Send(ctx, to, *out.Messenger)
}

// client returns the Send API client of conn, made again when its token
// or URL changed. The outbox retries itself: a client sends once.
func (b *Bridge) client(conn connector.Connection) (*client, error) {
	key := conn.Network + "\x00" + conn.Account + "\x00" + conn.BaseURL + "\x00" + conn.Secrets.AccessToken
	b.mu.Lock()
	c := b.clients[conn.ID]
	b.mu.Unlock()
	if c != nil && c.key == key {
		return c, nil
	}
	c = &client{key: key}
	var err error
	switch conn.Network {
	case connector.NetworkWhatsApp:
		c.wa, err = whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: conn.BaseURL, PhoneNumberID: conn.Account,
			Token: conn.Secrets.AccessToken, MaxAttempts: 1, HTTP: b.cfg.HTTP})
	case connector.NetworkMessenger, connector.NetworkInstagram:
		net := messenger.Messenger
		if conn.Network == connector.NetworkInstagram {
			net = messenger.Instagram
		}
		c.ms, err = messenger.NewClient(messenger.ClientConfig{Network: net, BaseURL: conn.BaseURL,
			Token: conn.Secrets.AccessToken, MaxAttempts: 1, HTTP: b.cfg.HTTP})
	default:
		err = fmt.Errorf("bridge: connection %s: network %q is not whatsapp, messenger or instagram", conn.ID, conn.Network)
	}
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.clients[conn.ID] = c
	b.mu.Unlock()
	return c, nil
}

// bucket is a token bucket: rate tokens a second, up to burst.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// wait takes a token, waiting for one; false when ctx ended.
func (l *bucket) wait(ctx context.Context) bool {
	for {
		l.mu.Lock()
		now := time.Now()
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		l.last = now
		if l.tokens >= 1 {
			l.tokens--
			l.mu.Unlock()
			return true
		}
		d := time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
		l.mu.Unlock()
		if !sleep(ctx, d) {
			return false
		}
	}
}

// pairLimiter is WhatsApp's pair rate: per connection and person, one
// message per interval after a burst.
type pairLimiter struct {
	mu       sync.Mutex
	interval time.Duration
	burst    float64
	pairs    map[string]*pairState
}

type pairState struct {
	tokens float64
	last   time.Time
}

func newPairLimiter(interval time.Duration, burst int) *pairLimiter {
	return &pairLimiter{interval: interval, burst: float64(burst), pairs: map[string]*pairState{}}
}

// take takes the pair's token, or returns how long until there is one.
func (p *pairLimiter) take(conn, to string, now time.Time) time.Duration {
	if p.interval <= 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := conn + "\x00" + to
	st := p.pairs[k]
	if st == nil {
		if len(p.pairs) > 100_000 { // forget full buckets
			for k, s := range p.pairs {
				if now.Sub(s.last) > time.Duration(p.burst)*p.interval {
					delete(p.pairs, k)
				}
			}
		}
		st = &pairState{tokens: p.burst, last: now}
		p.pairs[k] = st
	}
	st.tokens = min(p.burst, st.tokens+float64(now.Sub(st.last))/float64(p.interval))
	st.last = now
	if st.tokens >= 1 {
		st.tokens--
		return 0
	}
	return time.Duration((1 - st.tokens) * float64(p.interval))
}
