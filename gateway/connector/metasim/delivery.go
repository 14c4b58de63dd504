package metasim

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"
)

// DeliveryConfig is how the simulator posts webhooks, in Meta's manner.
// The zero value takes the defaults.
type DeliveryConfig struct {
	// Retry is the first wait before a notification the webhook did not
	// answer with 200 is posted again; each wait doubles, up to RetryMax,
	// for RetryFor after the first attempt, then the notification is
	// dropped. Meta retries for up to 7 days with decreasing frequency;
	// the simulator compresses that schedule. Defaults: 1s, 30s, 10m.
	Retry, RetryMax, RetryFor time.Duration
	// Duplicates is the share (0 to 1) of notifications the webhook took
	// that are posted a second time, as Meta sometimes does.
	Duplicates float64
	// Batch gathers the entries for one webhook that fall due within this
	// time into one notification, as Meta batches them (0: each alone).
	Batch time.Duration
	// Timeout bounds one POST (10s if 0).
	Timeout time.Duration
	HTTP    *http.Client // a fresh client if nil
}

// Attempt is one POST of a notification to a webhook.
type Attempt struct {
	URL       string
	Body      []byte
	Signature string // the X-Hub-Signature-256 sent
	Status    int    // 0 when no answer came
	Err       string // why no answer came
	Try       int    // 1 for the first post of a notification
	Duplicate bool   // a deliberate second post of a notification taken
	GaveUp    bool   // the last try: the notification is dropped
	Time      time.Time
}

// maxAttempts is how many attempts the simulator remembers.
const maxAttempts = 1000

type delivery struct {
	acc     Account
	entries []Entry
	body    []byte // fixed at the first post: a redelivery posts the same bytes
	due     time.Time
	first   time.Time
	try     int
	dup     bool
	onPost  []func() // run once, at the first post
}

func (x *delivery) key() string { return string(x.acc.Network) + " " + x.acc.WebhookURL }

// deliverer posts notifications on its own goroutine, retrying and
// batching as configured. It posts one notification at a time per
// webhook, so a webhook sees them in the order they fell due, except
// where retries reorder them, as with Meta.
type deliverer struct {
	cfg  DeliveryConfig
	http *http.Client
	rand func() float64

	mu       sync.Mutex
	queues   map[string][]*delivery // per webhook, by due time
	queued   int
	busy     map[string]bool
	attempts []Attempt
	changed  chan struct{} // closed and replaced on every change

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newDeliverer(cfg DeliveryConfig) *deliverer {
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 30 * time.Second
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = 10 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	c := cfg.HTTP
	if c == nil {
		c = &http.Client{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &deliverer{cfg: cfg, http: c, rand: rand.Float64, busy: map[string]bool{}, queues: map[string][]*delivery{}, changed: make(chan struct{}),
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
	d.wg.Add(1)
	go d.run()
	return d
}

// enqueue schedules e for acc's webhook at due; onPost runs when it is
// first posted (even when no webhook is configured).
func (d *deliverer) enqueue(acc Account, e Entry, due time.Time, onPost func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	due = due.Add(d.cfg.Batch)
	x := &delivery{acc: acc, entries: []Entry{e}, due: due}
	if onPost != nil {
		x.onPost = append(x.onPost, onPost)
	}
	if d.cfg.Batch > 0 {
		q := d.queues[x.key()]
		for i := len(q) - 1; i >= 0 && !q[i].due.Before(due.Add(-d.cfg.Batch)); i-- {
			if p := q[i]; p.body == nil && p.acc.AppSecret == acc.AppSecret {
				p.entries = append(p.entries, e)
				p.onPost = append(p.onPost, x.onPost...)
				d.changedLocked()
				return
			}
		}
	}
	d.push(x)
	d.changedLocked()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// enqueueRaw schedules a notification body as it is, now.
func (d *deliverer) enqueueRaw(acc Account, body []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	d.push(&delivery{acc: acc, body: body, due: now, first: now})
	d.changedLocked()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// push puts x in its webhook's queue, after those due no later (d.mu
// held).
func (d *deliverer) push(x *delivery) {
	k := x.key()
	q := d.queues[k]
	i := sort.Search(len(q), func(i int) bool { return q[i].due.After(x.due) })
	q = append(q, nil)
	copy(q[i+1:], q[i:])
	q[i] = x
	d.queues[k] = q
	d.queued++
}

func (d *deliverer) changedLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

func (d *deliverer) run() {
	defer d.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		next := d.start()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		t.Reset(wait)
		select {
		case <-d.ctx.Done():
			return
		case <-d.wake:
		case <-t.C:
		}
	}
}

// start posts, for each webhook with no post in flight, its first
// notification if it is due, and returns when the next one falls due
// (zero when none waits on time).
func (d *deliverer) start() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	var next time.Time
	for k, q := range d.queues {
		if d.busy[k] {
			continue // the post in flight wakes the loop
		}
		if x := q[0]; x.due.After(now) {
			if next.IsZero() || x.due.Before(next) {
				next = x.due
			}
			continue
		}
		x := q[0]
		q[0] = nil
		if len(q) == 1 {
			delete(d.queues, k)
		} else {
			d.queues[k] = q[1:]
		}
		d.queued--
		d.busy[k] = true
		d.wg.Add(1)
		go d.post(x)
	}
	return next
}

func (d *deliverer) post(x *delivery) {
	defer d.wg.Done()
	for _, f := range x.onPost {
		f()
	}
	x.onPost = nil
	if x.body == nil {
		x.body = Notification(x.entries...)
		x.first = time.Now()
	}
	x.try++
	a := Attempt{URL: x.acc.WebhookURL, Body: x.body, Try: x.try, Duplicate: x.dup, Time: time.Now()}
	if x.acc.WebhookURL != "" {
		a.Signature = Sign([]byte(x.acc.AppSecret), x.body)
		ctx, cancel := context.WithTimeout(d.ctx, d.cfg.Timeout)
		a.Status, a.Err = deliver(ctx, d.http, x.acc.WebhookURL, x.acc.AppSecret, x.body)
		cancel()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.busy, x.key())
	now := time.Now()
	switch {
	case x.acc.WebhookURL == "":
		// Nowhere to post: the entries only update the phone pages.
	case a.Status == http.StatusOK:
		if !x.dup && d.cfg.Duplicates > 0 && d.rand() < d.cfg.Duplicates {
			d.push(&delivery{acc: x.acc, body: x.body, due: now, first: now, dup: true})
		}
	default:
		wait := d.cfg.Retry
		for i := 1; i < x.try && wait < d.cfg.RetryMax; i++ {
			wait *= 2
		}
		wait = min(wait, d.cfg.RetryMax)
		if now.Add(wait).Sub(x.first) > d.cfg.RetryFor {
			a.GaveUp = true
		} else {
			x.due = now.Add(wait)
			d.push(x)
		}
	}
	if x.acc.WebhookURL != "" {
		d.attempts = append(d.attempts, a)
		if len(d.attempts) >= 2*maxAttempts {
			// Trimmed by halves: no copy per post.
			d.attempts = append([]Attempt(nil), d.attempts[len(d.attempts)-maxAttempts:]...)
		}
	}
	d.changedLocked()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func deliver(ctx context.Context, c *http.Client, url, secret string, body []byte) (int, string) {
	status, err := Deliver(ctx, c, url, []byte(secret), body)
	if err != nil {
		return 0, err.Error()
	}
	return status, ""
}

// Attempts returns the posts made so far, oldest first (the last 1000).
func (d *deliverer) Attempts() []Attempt {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Attempt(nil), d.attempts[max(0, len(d.attempts)-maxAttempts):]...)
}

// flush waits until nothing is queued or in flight, or ctx ends.
func (d *deliverer) flush(ctx context.Context) error {
	for {
		d.mu.Lock()
		idle := d.queued == 0 && len(d.busy) == 0
		ch := d.changed
		d.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

func (d *deliverer) close() {
	d.cancel()
	d.wg.Wait()
}
