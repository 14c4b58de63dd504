package gateway

import (
	"fmt"
	"sync"

	"go.etcd.io/bbolt"
)

// maxCommit bounds the messages written by one transaction.
const maxCommit = 8192

// commits is the group commit of messages: appends wait in a queue; one
// goroutine takes the whole queue when the previous commit returned and
// writes it in one transaction. There is no timer: a lone message is
// committed at once, and under load a batch is whatever arrived during the
// previous commit. An append returns only after its transaction is
// committed (and, unless the DB was opened with NoSync, on disk).
type commits struct {
	db      *bbolt.DB
	wake    chan struct{} // one token: the queue has requests
	quit    chan struct{}
	stopped chan struct{}
	once    sync.Once
	pool    sync.Pool // *appendReq

	mu     sync.Mutex
	queue  []*appendReq
	closed bool
}

type appendReq struct {
	conv string
	rec  []byte // msgRecord as JSON
	seq  uint64
	err  error
	done chan struct{}
	then func(seq uint64, err error) // appendThen: called instead of done
}

func (c *commits) start(db *bbolt.DB) {
	c.db = db
	c.wake = make(chan struct{}, 1)
	c.quit = make(chan struct{})
	c.stopped = make(chan struct{})
	c.pool.New = func() any { return &appendReq{done: make(chan struct{}, 1)} }
	go c.loop()
}

// stop ends the loop once the requests it has are committed; appends after
// that fail with ErrClosed.
func (c *commits) stop() {
	c.once.Do(func() { close(c.quit) })
	<-c.stopped
}

// append stores rec as the next message of conv and returns its seq.
func (c *commits) append(conv string, rec []byte) (uint64, error) {
	r := c.pool.Get().(*appendReq)
	r.conv, r.rec = conv, rec
	if err := c.enqueue(r); err != nil {
		return 0, err
	}
	<-r.done // the loop answers every queued request
	seq, err := r.seq, r.err
	c.recycle(r)
	return seq, err
}

// appendThen queues rec as the next message of conv and returns at once;
// then gets its seq or error after the commit, on a goroutine of its own
// per batch, in queue order. then is not called when appendThen fails.
func (c *commits) appendThen(conv string, rec []byte, then func(seq uint64, err error)) error {
	r := c.pool.Get().(*appendReq)
	r.conv, r.rec, r.then = conv, rec, then
	return c.enqueue(r)
}

func (c *commits) enqueue(r *appendReq) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.recycle(r)
		return ErrClosed
	}
	c.queue = append(c.queue, r)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default: // the loop is already woken
	}
	return nil
}

func (c *commits) recycle(r *appendReq) {
	*r = appendReq{done: r.done}
	c.pool.Put(r)
}

func (c *commits) loop() {
	defer close(c.stopped)
	var batch, spare []*appendReq // the queue and the slice it is swapped with
	for {
		stopping := false
		select {
		case <-c.wake:
		case <-c.quit:
			stopping = true
		}
		c.mu.Lock()
		batch, c.queue = c.queue, spare
		c.closed = stopping
		c.mu.Unlock()
		for i := 0; i < len(batch); i += maxCommit {
			part := batch[i:min(i+maxCommit, len(batch))]
			c.commit(part)
			var later []*appendReq
			for _, r := range part {
				if r.then != nil {
					later = append(later, r)
					continue
				}
				r.done <- struct{}{}
			}
			if len(later) > 0 {
				go c.finish(later)
			}
		}
		clear(batch)
		spare = batch[:0]
		if stopping {
			return
		}
	}
}

// commit writes batch in one transaction. A message for a conversation that
// does not exist fails alone; any other error fails the whole batch.
func (c *commits) commit(batch []*appendReq) {
	err := c.db.Update(func(tx *bbolt.Tx) error {
		convs := tx.Bucket(bucketConvs)
		for _, r := range batch {
			r.seq, r.err = 0, nil
			if convs.Get([]byte(r.conv)) == nil {
				r.err = fmt.Errorf("conversation %q: %w", r.conv, ErrNotFound)
				continue
			}
			seq := lastSeq(tx, r.conv) + 1
			if _, err := putMessage(tx, r.conv, seq, r.rec); err != nil {
				return err
			}
			r.seq = seq
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("gateway: store messages: %w", err)
		for _, r := range batch {
			r.seq, r.err = 0, err
		}
	}
}

// finish calls the thens of committed appendThen requests, in order, away
// from the loop so that the next commit does not wait for them.
func (c *commits) finish(rs []*appendReq) {
	for _, r := range rs {
		r.then(r.seq, r.err)
		c.recycle(r)
	}
}
