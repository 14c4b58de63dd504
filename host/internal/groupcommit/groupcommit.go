// Package groupcommit groups concurrent bbolt writes into shared
// transactions, so that durability costs one fsync per group instead of one
// per operation, and adds no delay when there is no concurrency (unlike
// bbolt's Batch, which waits MaxBatchDelay for company).
//
// # How a group forms
//
// The first caller to find no commit running becomes the leader and commits
// everything queued, round after round, at most MaxGroup jobs per
// transaction. Once its own job is done it hands the lead to the oldest
// waiting job, so no caller commits for others forever.
//
// # Rules for jobs
//
// A job may run more than once (a group that fails is retried one job at a
// time), so it must only write through tx and must reset any result it
// captures at its start. A job that refuses with one of the Committer's
// refusal errors must do so before writing anything: a refusal does not roll
// back the rest of the group. Any other error rolls the whole group back,
// and every job of it then runs again in a transaction of its own, so one
// job's failure never fails another.
package groupcommit

import (
	"errors"
	"sync"

	"go.etcd.io/bbolt"
)

// MaxGroup is the largest number of jobs committed in one transaction.
const MaxGroup = 256

// Committer runs write jobs in shared transactions. It is safe for
// concurrent use; the zero value is not usable, call New.
type Committer struct {
	db       *bbolt.DB
	refusals []error

	mu      sync.Mutex
	pending []*job
	running bool
}

type job struct {
	fn      func(tx *bbolt.Tx) error
	err     error
	done    chan struct{}
	promote chan struct{}
}

// New returns a Committer writing to db. refusals are the errors (matched
// with errors.Is) a job returns before it writes anything, such as "not
// found" or "insufficient funds": they fail that job only.
func New(db *bbolt.DB, refusals ...error) *Committer {
	return &Committer{db: db, refusals: refusals}
}

// Do runs fn in a write transaction, possibly shared with other callers'
// jobs, and returns once that transaction is committed (or fn's error).
func (c *Committer) Do(fn func(tx *bbolt.Tx) error) error {
	j := &job{fn: fn, done: make(chan struct{}), promote: make(chan struct{}, 1)}
	c.mu.Lock()
	c.pending = append(c.pending, j)
	if c.running {
		c.mu.Unlock()
		select {
		case <-j.done:
			return j.err
		case <-j.promote:
			c.mu.Lock()
		}
	} else {
		c.running = true
	}
	// Leader, holding c.mu.
	for {
		if j.isDone() {
			if len(c.pending) > 0 {
				c.pending[0].promote <- struct{}{}
			} else {
				c.running = false
			}
			c.mu.Unlock()
			return j.err
		}
		group := c.pending
		if len(group) > MaxGroup {
			group = group[:MaxGroup]
		}
		c.pending = c.pending[len(group):]
		c.mu.Unlock()
		c.commit(group)
		c.mu.Lock()
	}
}

func (j *job) isDone() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
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
			for _, j := range group {
				close(j.done)
			}
			return
		}
	}
	for _, j := range group {
		j.err = c.db.Update(j.fn)
		close(j.done)
	}
}

// refusal reports whether err is one of the refusals a job returns before
// writing anything.
func (c *Committer) refusal(err error) bool {
	for _, r := range c.refusals {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}
