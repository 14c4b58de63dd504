package bolt

import (
	"errors"
	"sync"

	"go.etcd.io/bbolt"
)

// ErrClosed is returned by Do and Go after Close.
var ErrClosed = errors.New("bolt: the committer is closed")

// DefaultMaxGroup is the largest number of jobs committed in one
// transaction when Config.MaxGroup is 0.
const DefaultMaxGroup = 256

// Config says how a Committer groups jobs.
type Config struct {
	// Refusals are the errors (matched with errors.Is) a job returns before
	// it writes anything, such as "not found" or "insufficient funds": they
	// fail that job only.
	Refusals []error
	// MaxGroup bounds the jobs of one transaction (default DefaultMaxGroup).
	MaxGroup int
}

// Committer runs write jobs in shared transactions. It is safe for
// concurrent use; the zero value is not usable, call NewCommitter.
type Committer struct {
	db  *bbolt.DB
	cfg Config

	mu      sync.Mutex
	pending []*job
	spare   []*job // a drained queue, reused as the next one
	running bool   // a leader is committing
	closed  bool
	active  sync.WaitGroup // accepted jobs not yet finished, and the leaders Go starts

	pool sync.Pool // *job
}

type job struct {
	fn       func(tx *bbolt.Tx) error
	then     func(error) // Go: called after the commit; nil for Do
	err      error
	finished bool          // set by the leader that committed it
	done     chan struct{} // Do: one token once committed
	promote  chan struct{} // Do: one token when the waiter must lead
}

// NewCommitter returns a Committer writing to db.
func NewCommitter(db *bbolt.DB, cfg Config) *Committer {
	if cfg.MaxGroup <= 0 {
		cfg.MaxGroup = DefaultMaxGroup
	}
	c := &Committer{db: db, cfg: cfg}
	c.pool.New = func() any { return &job{done: make(chan struct{}, 1), promote: make(chan struct{}, 1)} }
	return c
}

// Do runs fn in a write transaction, possibly shared with other callers'
// jobs, and returns once that transaction is committed (or fn's error).
func (c *Committer) Do(fn func(tx *bbolt.Tx) error) error {
	j := c.pool.Get().(*job)
	j.fn = fn
	c.mu.Lock()
	if !c.accept(j) {
		c.mu.Unlock()
		c.recycle(j)
		return ErrClosed
	}
	if c.running {
		c.mu.Unlock()
		select {
		case <-j.done:
			err := j.err
			c.recycle(j)
			return err
		case <-j.promote:
			c.mu.Lock()
		}
	} else {
		c.running = true
	}
	c.lead(j) // unlocks c.mu
	<-j.done  // its own commit left the token
	err := j.err
	c.recycle(j)
	return err
}

// Go queues fn to run in a write transaction and returns at once; then
// gets fn's outcome once that transaction is committed, on the goroutine
// that committed it (then must not call Do on this Committer, and should
// be quick: the next group waits for it). Thens are called in queue order.
// then is not called when Go returns an error.
func (c *Committer) Go(fn func(tx *bbolt.Tx) error, then func(error)) error {
	j := c.pool.Get().(*job)
	j.fn, j.then = fn, then
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.accept(j) {
		c.recycle(j)
		return ErrClosed
	}
	if !c.running {
		c.running = true
		c.active.Add(1)
		go c.leadAsync()
	}
	return nil
}

// Close refuses new jobs with ErrClosed and waits until every job accepted
// before is committed and its then called.
func (c *Committer) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.active.Wait()
}

// accept queues j unless the Committer is closed; c.mu is held.
func (c *Committer) accept(j *job) bool {
	if c.closed {
		return false
	}
	c.active.Add(1)
	c.pending = append(c.pending, j)
	return true
}

func (c *Committer) recycle(j *job) {
	*j = job{done: j.done, promote: j.promote}
	c.pool.Put(j)
}

// leadAsync leads for jobs queued by Go until the queue is empty.
func (c *Committer) leadAsync() {
	defer c.active.Done()
	c.mu.Lock()
	c.lead(nil)
}

// lead commits groups, holding c.mu between them, until own is finished
// (or, for own == nil, until the queue is empty), then hands the lead on.
// It returns with c.mu unlocked.
func (c *Committer) lead(own *job) {
	for {
		if own != nil && own.finished {
			c.handOff()
			c.mu.Unlock()
			return
		}
		if len(c.pending) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		var group []*job
		if len(c.pending) <= c.cfg.MaxGroup {
			group, c.pending, c.spare = c.pending, c.spare, nil
		} else {
			group = c.pending[:c.cfg.MaxGroup:c.cfg.MaxGroup]
			c.pending = c.pending[c.cfg.MaxGroup:]
		}
		c.mu.Unlock()
		c.commit(group)
		c.finish(group)
		c.mu.Lock()
		if cap(group) > cap(c.spare) && len(group) <= c.cfg.MaxGroup {
			clear(group)
			c.spare = group[:0]
		}
	}
}

// handOff gives the lead to the oldest caller waiting in Do, or to a new
// goroutine when only Go's jobs wait, or ends it; c.mu is held.
func (c *Committer) handOff() {
	for _, j := range c.pending {
		if j.then == nil {
			j.promote <- struct{}{}
			return
		}
	}
	if len(c.pending) > 0 {
		c.active.Add(1)
		go c.leadAsync()
		return
	}
	c.running = false
}

// commit runs group in one transaction. A refused job wrote nothing, so the
// others carry on; any other failure rolls the group back and each job runs
// alone.
func (c *Committer) commit(group []*job) {
	if len(group) > 1 {
		err := c.db.Update(func(tx *bbolt.Tx) error {
			for _, j := range group {
				j.err = j.fn(tx)
				if j.err != nil && !c.refusal(j.err) {
					return j.err
				}
			}
			return nil
		})
		if err == nil {
			return
		}
	}
	for _, j := range group {
		j.err = c.db.Update(j.fn)
	}
}

// finish tells each job of a committed group its outcome, in queue order.
// A Do job's token is the last the leader touches of it: its caller then
// recycles it.
func (c *Committer) finish(group []*job) {
	for _, j := range group {
		if j.then != nil {
			j.then(j.err)
			c.recycle(j)
		} else {
			j.finished = true
			j.done <- struct{}{}
		}
		c.active.Done()
	}
}

// refusal reports whether err is one of the refusals a job returns before
// writing anything.
func (c *Committer) refusal(err error) bool {
	for _, r := range c.cfg.Refusals {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}
