package replay

import (
	"sync"

	"go.etcd.io/bbolt"
)

// asyncQueue is the length of the queue of records waiting for the
// writer (Config.Async); a record that finds it full is written by its
// event's goroutine instead.
const asyncQueue = 4096

// writer writes queued records in batches, one store transaction per
// batch, off the events' path.
type writer struct {
	s      *Store
	q      chan *Record
	mu     sync.RWMutex // held shared by enqueue, alone by close
	closed bool
	done   chan struct{}
	errs   func(error)
}

func (s *Store) startWriter() {
	w := &writer{s: s, q: make(chan *Record, asyncQueue), done: make(chan struct{}), errs: s.cfg.Errors}
	s.w = w
	go w.loop()
}

func (w *writer) loop() {
	defer close(w.done)
	batch := make([]*Record, 0, 256)
	for r := range w.q {
		batch = append(batch[:0], r)
	more:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-w.q:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		w.write(batch)
	}
}

func (w *writer) write(batch []*Record) {
	err := w.s.db.Update(func(tx *bbolt.Tx) error {
		for _, r := range batch {
			if err := w.s.put(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && w.errs != nil {
		w.errs(err)
	}
}

// enqueue hands rec to the writer, or writes it at once when the queue is
// full or the store closed.
func (w *writer) enqueue(rec *Record) {
	w.mu.RLock()
	if !w.closed {
		select {
		case w.q <- rec:
			w.mu.RUnlock()
			return
		default:
		}
	}
	w.mu.RUnlock()
	w.write([]*Record{rec})
}

func (w *writer) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	close(w.q)
	w.mu.Unlock()
	<-w.done
}
