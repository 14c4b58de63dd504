package bridge

import (
	"context"
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
	conn string
	wake chan struct{}
	lim  *bucket
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

// run is the sender of one connection. An item waiting for a retry holds
// back the later items to the same person, so that a person reads the
// messages in order; an item whose outcome is unknown does not (it has
// probably gone).
func (b *Bridge) run(w *worker) {
	for {
		var items []*item
		if err := b.cfg.DB.View(func(tx *bbolt.Tx) error {
			var err error
			items, err = queued(tx, w.conn, 256)
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
		sent := 0
		for _, it := range items {
			if b.ctx.Err() != nil {
				return
			}
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
			if it.Network == connector.NetworkWhatsApp {
				if d := b.pairs.take(w.conn, it.To, now); d > 0 {
					later(now.Add(d))
					held[it.To] = true
					continue
				}
			}
			if !w.lim.wait(b.ctx) {
				return
			}
			b.send(b.ctx, it)
			sent++
		}
		if sent > 0 {
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

// send sends one item and records the outcome.
func (b *Bridge) send(ctx context.Context, it *item) {
	conn, err := b.cfg.Connections.Get(ctx, it.Conn)
	if err != nil {
		if errors.Is(err, connector.ErrNoConnection) {
			b.fail(ctx, it, &connector.Error{Network: it.Network, Class: connector.ClassAuth, Message: "the connection was removed; nothing can be sent through it"})
			return
		}
		b.retry(it, err)
		return
	}
	out, err := b.prepare(it)
	if err != nil {
		b.fail(ctx, it, &connector.Error{Network: it.Network, Class: connector.ClassInvalid, Message: err.Error()})
		return
	}
	c, err := b.client(conn)
	if err != nil {
		b.fail(ctx, it, &connector.Error{Network: it.Network, Class: connector.ClassAuth, Message: err.Error()})
		return
	}
	it.State = StateSending
	it.Attempts++
	if err := b.put(it, nil); err != nil {
		b.log.Error("bridge: outbox write failed", "key", it.Key, "err", err)
		return
	}
	id, err := c.send(ctx, it.To, out)
	if err == nil {
		b.sent(it, id)
		return
	}
	var ce *connector.Error
	var wl *whatsapp.LimitError
	var ml *messenger.LimitError
	switch {
	case errors.As(err, &wl) || errors.As(err, &ml):
		b.fail(ctx, it, &connector.Error{Network: it.Network, Class: connector.ClassInvalid, Message: err.Error()})
	case errors.As(err, &ce) && ce.Retry():
		b.met.retries.WithLabelValues(it.Network, string(ce.Class)).Inc()
		if it.Attempts >= b.cfg.MaxAttempts {
			b.fail(ctx, it, ce)
			return
		}
		b.retry(it, ce)
	case errors.As(err, &ce) && ce.Class == connector.ClassUnknown:
		// The network may have the message: wait for its status before
		// any resend.
		b.met.sends.WithLabelValues(it.Network, "unknown", "0").Inc()
		it.State, it.Error = StateUnknown, ce.Error()
		it.NextAt = b.cfg.Now().Add(b.cfg.UnknownWait).UnixMilli()
		if err := b.put(it, nil); err != nil {
			b.log.Error("bridge: outbox write failed", "key", it.Key, "err", err)
		}
	case errors.As(err, &ce):
		b.fail(ctx, it, ce)
	case ctx.Err() != nil:
		// Stopping: the request was cut short; the outcome is unknown.
		it.State, it.NextAt = StateUnknown, b.cfg.Now().Add(b.cfg.UnknownWait).UnixMilli()
		_ = b.put(it, nil)
	default:
		b.retry(it, err)
	}
}

// retry puts it back in the queue after a doubling backoff.
func (b *Bridge) retry(it *item, cause error) {
	d := b.cfg.Backoff << min(max(it.Attempts-1, 0), 6)
	it.State, it.Error = StateQueued, cause.Error()
	it.NextAt = b.cfg.Now().Add(min(d, time.Minute)).UnixMilli()
	if err := b.put(it, nil); err != nil {
		b.log.Error("bridge: outbox write failed", "key", it.Key, "err", err)
	}
}

// put writes it; with more, in the same transaction.
func (b *Bridge) put(it *item, more func(tx *bbolt.Tx) error) error {
	return b.cfg.DB.Update(func(tx *bbolt.Tx) error {
		if err := putJSON(tx.Bucket(bucketItems), []byte(it.Key), it); err != nil {
			return err
		}
		if more != nil {
			return more(tx)
		}
		return nil
	})
}

// sent records that the network took it under id.
func (b *Bridge) sent(it *item, id string) {
	it.State, it.ID, it.Error, it.NextAt = StateSent, id, "", 0
	now := b.cfg.Now().UnixMilli()
	err := b.put(it, func(tx *bbolt.Tx) error {
		if err := dequeue(tx, it); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSent).Put(sentKey(it.Network, id), []byte(it.Key)); err != nil {
			return err
		}
		if it.Conv == "" || it.Seq == 0 {
			return nil
		}
		r, err := getRoute(tx, it.Conv)
		if err != nil || r == nil {
			return err
		}
		if it.Seq > r.LastSeq {
			r.LastSeq, r.LastAt = it.Seq, now
		}
		return putJSON(tx.Bucket(bucketRoutes), []byte(r.Conv), r)
	})
	if err != nil {
		b.log.Error("bridge: outbox write failed after a send", "key", it.Key, "id", id, "err", err)
	}
	b.met.sends.WithLabelValues(it.Network, "sent", "0").Inc()
}

// fail records that it will not be sent, and acts on why: the app's log
// gets the code; a person who stopped the business is opted out of it.
func (b *Bridge) fail(ctx context.Context, it *item, e *connector.Error) {
	it.State, it.Class, it.Code, it.Error, it.NextAt = StateFailed, string(e.Class), e.Code, e.Error(), 0
	if err := b.put(it, func(tx *bbolt.Tx) error { return dequeue(tx, it) }); err != nil {
		b.log.Error("bridge: outbox write failed", "key", it.Key, "err", err)
	}
	b.refused(ctx, it, e)
}

// refused acts on a network's refusal of it (at send or in a status).
func (b *Bridge) refused(ctx context.Context, it *item, e *connector.Error) {
	b.met.sends.WithLabelValues(it.Network, "failed:"+string(e.Class), strconv.Itoa(e.Code)).Inc()
	b.log.Warn("bridge: message refused", "key", it.Key, "network", it.Network, "class", e.Class, "code", e.Code, "err", e.Message)
	ref := host.AppRef{Merchant: it.Merch, App: it.App}
	var code, msg string
	switch e.Class {
	case connector.ClassWindowClosed:
		code = "window_closed"
		msg = fmt.Sprintf("message %s not sent on %s: the person last wrote more than 24 hours ago (code %d); only a template or an opted-in purpose may reach them now (chat.notify)", it.Key, it.Network, e.Code)
	case connector.ClassConsent:
		code = "opted_out"
		msg = fmt.Sprintf("message %s not sent on %s: the person stopped messages from this business on the network (code %d); they are opted out everywhere until they send START", it.Key, it.Network, e.Code)
		if b.cfg.Consent != nil && it.Person != "" && it.Merch != "" {
			if _, err := b.cfg.Consent.Revoke(ctx, it.Person, it.Merch, "", it.Network); err != nil {
				b.log.Error("bridge: recording a network's opt-out failed", "person", it.Person, "merchant", it.Merch, "err", err)
			}
		}
	case connector.ClassUndeliverable:
		code = "undeliverable"
		msg = fmt.Sprintf("message %s not delivered on %s: the person cannot receive it (code %d: %s)", it.Key, it.Network, e.Code, e.Message)
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
	var moved bool
	err := b.cfg.DB.Update(func(tx *bbolt.Tx) error {
		it, moved = nil, false
		key := tx.Bucket(bucketSent).Get(sentKey(network, id))
		if key == nil {
			adopted, err := adopt(tx, network, to, id)
			if err != nil || adopted == nil {
				return err
			}
			key = []byte(adopted.Key)
		}
		cur, err := getItem(tx, string(key))
		if err != nil || cur == nil {
			return err
		}
		it = cur
		if rank(state) <= rank(it.State) {
			return nil
		}
		it.State, moved = state, true
		if fail != nil {
			it.Class, it.Code, it.Error = string(fail.Class), fail.Code, fail.Error()
		}
		return putJSON(tx.Bucket(bucketItems), key, it)
	})
	if err != nil || it == nil || !moved {
		return err
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
	return b.hostSend(conn, &item{Key: "host:" + key, Conn: conn.ID, Network: conn.Network, To: to, Person: person,
		App: conn.App, Merch: conn.Merchant, Host: &hostMsg{Text: text}})
}

// hostSend queues a host item and wakes its sender.
func (b *Bridge) hostSend(conn connector.Connection, it *item) error {
	it.Created = b.cfg.Now().UnixMilli()
	var added bool
	err := b.cfg.DB.Update(func(tx *bbolt.Tx) error {
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
func (b *Bridge) prepare(it *item) (Out, error) {
	if h := it.Host; h != nil {
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
		if err := b.cfg.DB.Update(func(tx *bbolt.Tx) error { return putJSON(tx.Bucket(bucketForms), []byte(it.Conv), f) }); err != nil {
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
