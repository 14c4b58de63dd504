package kv

import (
	"errors"
	"sync"

	"go.etcd.io/bbolt"
)

// committer groups concurrent writes into shared bbolt transactions (the
// same design as host/pay's) so that durability costs one fsync per group,
// not per operation, and adds no delay
// when there is no concurrency (unlike bbolt's Batch, which waits
// MaxBatchDelay for company).
//
// The first caller to find no commit running becomes the leader and commits
// everything queued, round after round. Once its own job is done it hands the
// lead to the oldest waiting job, so no caller commits for others forever.
// Job functions may run more than once (a group that fails is retried one
// job at a time), so they must only write through tx and must reset any
// result they capture at their start. A job that refuses with one of the
// package's sentinel errors must do so before writing anything.
type committer struct {
	db      *bbolt.DB
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

const maxGroup = 256

func (c *committer) do(fn func(tx *bbolt.Tx) error) error {
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
		if len(group) > maxGroup {
			group = group[:maxGroup]
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

// commit runs group in one transaction. A job refused with one of the
// package's sentinel errors wrote nothing (every job checks before it
// writes), so the others carry on; any other failure rolls the group back
// and each job runs alone, so that one job's error does not fail the others.
func (c *committer) commit(group []*job) {
	if len(group) > 1 {
		err := c.db.Update(func(tx *bbolt.Tx) error {
			for _, j := range group {
				j.err = j.fn(tx)
				if j.err != nil && !refusal(j.err) {
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

// refusal reports whether err is a refusal returned before the job wrote
// anything.
func refusal(err error) bool {
	return errors.Is(err, ErrQuota) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound)
}
