package bolt

import (
	"errors"
	"runtime"
	"sync"
	"weak"

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
	// MaxGroup bounds this Committer's jobs in one transaction (default
	// DefaultMaxGroup); the transaction may hold other Committers' jobs
	// too.
	MaxGroup int
}

// Committer runs write jobs in shared transactions. Every Committer of one
// database queues its jobs in that database's one queue, so that a group
// holds the jobs of every store writing to it (see the package
// documentation). It is safe for concurrent use; the zero value is not
// usable, call NewCommitter.
type Committer struct {
	db  *bbolt.DB
	cfg Config
	q   *queue

	closed bool           // guarded by q.mu
	active sync.WaitGroup // accepted jobs not yet finished

	pool sync.Pool // *job
}

// queue is the jobs waiting to commit to one database, from all its
// Committers.
type queue struct {
	mu      sync.Mutex
	pending []*job
	spare   []*job // a drained queue, reused as the next one
	running bool   // a leader is committing
}

// queues holds each open database's queue, without keeping the database
// alive: an entry goes once its database is unreachable.
var queues struct {
	sync.Mutex
	m map[weak.Pointer[bbolt.DB]]*queue
}

// queueOf returns db's queue.
func queueOf(db *bbolt.DB) *queue {
	k := weak.Make(db)
	queues.Lock()
	defer queues.Unlock()
	if q := queues.m[k]; q != nil {
		return q
	}
	if queues.m == nil {
		queues.m = map[weak.Pointer[bbolt.DB]]*queue{}
	}
	q := &queue{}
	queues.m[k] = q
	runtime.AddCleanup(db, func(k weak.Pointer[bbolt.DB]) {
		queues.Lock()
		delete(queues.m, k)
		queues.Unlock()
	}, k)
	return q
}

type job struct {
	c        *Committer
	fn       func(tx *bbolt.Tx) error
	then     func(error) // Go: called after the commit; nil for Do
	err      error
	finished bool          // set by the leader that committed it
	done     chan struct{} // Do: one token once committed
	promote  chan struct{} // Do: one token when the waiter must lead
}

// NewCommitter returns a Committer writing to db, sharing db's queue with
// the other Committers of db.
func NewCommitter(db *bbolt.DB, cfg Config) *Committer {
	if cfg.MaxGroup <= 0 {
		cfg.MaxGroup = DefaultMaxGroup
	}
	c := &Committer{db: db, cfg: cfg, q: queueOf(db)}
	c.pool.New = func() any { return &job{done: make(chan struct{}, 1), promote: make(chan struct{}, 1)} }
	return c
}

// Do runs fn in a write transaction, possibly shared with other callers'
// jobs, and returns once that transaction is committed (or fn's error).
// While it waits, its goroutine may lead the commits of other jobs of the
// database, and call their thens (see Go).
func (c *Committer) Do(fn func(tx *bbolt.Tx) error) error {
	j := c.pool.Get().(*job)
	j.c, j.fn = c, fn
	q := c.q
	q.mu.Lock()
	if !c.accept(j) {
		q.mu.Unlock()
		c.recycle(j)
		return ErrClosed
	}
	if q.running {
		q.mu.Unlock()
		select {
		case <-j.done:
			err := j.err
			c.recycle(j)
			return err
		case <-j.promote:
			q.mu.Lock()
		}
	} else {
		q.running = true
	}
	q.lead(j) // unlocks q.mu
	<-j.done  // its own commit left the token
	err := j.err
	c.recycle(j)
	return err
}

// Go queues fn to run in a write transaction and returns at once; then
// gets fn's outcome once that transaction is committed, on the goroutine
// that committed it, which may be a caller of Do on any Committer of the
// same database: then must not call Do on one of them, nor wait for
// anything that waits for a commit, and should be quick (the next group
// waits for it). Thens are called in queue order. then is not called when
// Go returns an error.
func (c *Committer) Go(fn func(tx *bbolt.Tx) error, then func(error)) error {
	j := c.pool.Get().(*job)
	j.c, j.fn, j.then = c, fn, then
	q := c.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if !c.accept(j) {
		c.recycle(j)
		return ErrClosed
	}
	if !q.running {
		q.running = true
		go q.leadAsync()
	}
	return nil
}

// Close refuses new jobs with ErrClosed and waits until every job accepted
// before is committed and its then called. The other Committers of the
// database go on.
func (c *Committer) Close() {
	c.q.mu.Lock()
	c.closed = true
	c.q.mu.Unlock()
	c.active.Wait()
}

// accept queues j unless the Committer is closed; q.mu is held.
func (c *Committer) accept(j *job) bool {
	if c.closed {
		return false
	}
	c.active.Add(1)
	c.q.pending = append(c.q.pending, j)
	return true
}

func (c *Committer) recycle(j *job) {
	*j = job{done: j.done, promote: j.promote}
	c.pool.Put(j)
}

// leadAsync leads for jobs queued by Go until the queue is empty.
func (q *queue) leadAsync() {
	q.mu.Lock()
	q.lead(nil)
}

// lead commits groups, holding q.mu between them, until own is finished
// (or, for own == nil, until the queue is empty), then hands the lead on.
// It returns with q.mu unlocked.
func (q *queue) lead(own *job) {
	for {
		if own != nil && own.finished {
			q.handOff()
			q.mu.Unlock()
			return
		}
		if len(q.pending) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		n := q.groupLen()
		var group []*job
		if n == len(q.pending) {
			group, q.pending, q.spare = q.pending, q.spare, nil
		} else {
			group = q.pending[:n:n]
			q.pending = q.pending[n:]
		}
		q.mu.Unlock()
		commit(group)
		finish(group)
		q.mu.Lock()
		if cap(group) > cap(q.spare) && len(group) == n {
			clear(group)
			q.spare = group[:0]
		}
	}
}

// groupLen is how many of the pending jobs the next group takes: all of
// them, in queue order, up to the first job whose Committer already has
// MaxGroup jobs in the group; q.mu is held.
func (q *queue) groupLen() int {
	type count struct {
		c *Committer
		n int
	}
	var counts [8]count // the stores of one database are few
	seen := counts[:0]
	for i, j := range q.pending {
		k := 0
		for k < len(seen) && seen[k].c != j.c {
			k++
		}
		if k == len(seen) {
			seen = append(seen, count{c: j.c})
		}
		if seen[k].n == j.c.cfg.MaxGroup {
			return i
		}
		seen[k].n++
	}
	return len(q.pending)
}

// handOff gives the lead to the oldest caller waiting in Do, or to a new
// goroutine when only Go's jobs wait, or ends it; q.mu is held.
func (q *queue) handOff() {
	for _, j := range q.pending {
		if j.then == nil {
			j.promote <- struct{}{}
			return
		}
	}
	if len(q.pending) > 0 {
		go q.leadAsync()
		return
	}
	q.running = false
}

// commit runs group in one transaction. A refused job wrote nothing, so the
// others carry on; any other failure rolls the group back and each job runs
// alone.
func commit(group []*job) {
	db := group[0].c.db
	if len(group) > 1 {
		err := db.Update(func(tx *bbolt.Tx) error {
			for _, j := range group {
				j.err = j.fn(tx)
				if j.err != nil && !j.c.refusal(j.err) {
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
		j.err = db.Update(j.fn)
	}
}

// finish tells each job of a committed group its outcome, in queue order.
// A Do job's token is the last the leader touches of it: its caller then
// recycles it.
func finish(group []*job) {
	for _, j := range group {
		c := j.c
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
