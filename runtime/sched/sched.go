package sched

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
)

// Errors of Submit.
var (
	ErrQueueFull = errors.New("sched: the app has too many events waiting")
	ErrClosed    = errors.New("sched: closed")
)

// Defaults of Config.
const (
	DefaultWorkers = 256
	QueueRounds    = 64 // the default Queue is this many times PerApp
	DefaultPerApp  = 4
)

// Config configures a Scheduler.
type Config struct {
	Workers int // jobs running at once, all apps together (default DefaultWorkers)
	// Queue is the most jobs waiting per app; more are refused with
	// ErrQueueFull. Default QueueRounds*PerApp: room for a burst from many
	// people at once, bounded so that a looping app's backlog is refused
	// instead of growing.
	Queue int
	// PerApp is the most jobs of one app running at once, usually the
	// app's instance pool size (default DefaultPerApp). When apps compete
	// for the workers, each gets at most Workers divided by the number of
	// apps with work (at least 1).
	PerApp int
	// Slow, when set, reports whether app's jobs spin past their deadline
	// (the router says so after an event stopped at its deadline). A slow
	// app runs one job at a time, and all slow apps together at most
	// SlowSlots (default GOMAXPROCS-1, at least 1): guest code holds its
	// processor until it returns, so spinning guests must leave one to the
	// other apps and the server. Slow is called with the scheduler's lock
	// held; it must be quick and must not call the Scheduler.
	Slow      func(app string) bool
	SlowSlots int
	Logger    *slog.Logger
}

// Job is one unit of work of one app. ctx is cancelled when the Scheduler
// closes. A job that is done with what its app's share bounds (the guest
// has run; what is left is waiting for the store) calls release: the app
// may then start another job while this one finishes. The job's key stays
// taken until it returns. release may be called more than once, or not at
// all; a job of a slow app keeps its share until it returns.
type Job func(ctx context.Context, release func())

// Stats are the figures of one app.
type Stats struct {
	Queued  int    // waiting
	Running int    // running now
	Refused uint64 // refused with ErrQueueFull since the app last had no work
}

// Scheduler runs the jobs of many apps on a fixed set of workers, fairly:
// see the package documentation. It is safe for concurrent use.
type Scheduler struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context // given to jobs; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // workers

	mu      sync.Mutex
	cond    sync.Cond // signalled when ring gains an app or the scheduler closes
	closed  bool
	apps    map[string]*appQueue
	ring    []*appQueue // apps that may start a job, in turn order
	active  int         // apps with queued or running jobs (len(apps))
	unkeyed uint64      // makes a key for jobs without one
	slow    int         // jobs of slow apps running
	parked  []*appQueue // slow apps waiting for a slow slot
}

// appQueue is the work of one app: a FIFO per key, and the keys whose
// next job may start, in turn order.
type appQueue struct {
	name    string
	queued  int
	running int
	refused uint64
	inRing  bool
	parked  bool // in Scheduler.parked, out of the ring
	keys    map[string]*keyQueue
	ready   []*keyQueue // keys with jobs and none running
}

// keyQueue is the jobs of one key (a conversation): they run one at a
// time, in order.
type keyQueue struct {
	key     string
	jobs    []Job
	running bool
	slow    bool // the running job holds a slow slot
}

// New starts a Scheduler's workers. Close stops them.
func New(cfg Config) *Scheduler {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.PerApp <= 0 {
		cfg.PerApp = DefaultPerApp
	}
	if cfg.Queue <= 0 {
		cfg.Queue = QueueRounds * cfg.PerApp
	}
	if cfg.SlowSlots <= 0 {
		cfg.SlowSlots = max(1, runtime.GOMAXPROCS(0)-1)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, apps: map[string]*appQueue{}}
	s.cond.L = &s.mu
	s.wg.Add(cfg.Workers)
	for range cfg.Workers {
		go s.worker()
	}
	return s
}

// Submit queues job for app and returns at once. Jobs with the same
// non-empty key run one at a time, in the order they were submitted; jobs
// without a key have no order. When app already has Config.Queue jobs
// waiting, job is refused with ErrQueueFull; once closed, with ErrClosed.
func (s *Scheduler) Submit(app, key string, job Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	a := s.apps[app]
	if a == nil {
		a = &appQueue{name: app, keys: map[string]*keyQueue{}}
		s.apps[app] = a
		s.active = len(s.apps)
	}
	if a.queued >= s.cfg.Queue {
		a.refused++
		return fmt.Errorf("%w: %d events of %s are waiting", ErrQueueFull, a.queued, app)
	}
	if key == "" {
		s.unkeyed++
		key = "\x00" + strconv.FormatUint(s.unkeyed, 36)
	}
	k := a.keys[key]
	if k == nil {
		k = &keyQueue{key: key}
		a.keys[key] = k
	}
	k.jobs = append(k.jobs, job)
	a.queued++
	if !k.running && len(k.jobs) == 1 {
		a.ready = append(a.ready, k)
	}
	s.offer(a)
	return nil
}

// limit is how many jobs of app a may run at once now.
func (s *Scheduler) limit(a *appQueue) int {
	if s.isSlow(a) {
		return 1
	}
	return min(s.cfg.PerApp, max(1, s.cfg.Workers/max(1, s.active)))
}

func (s *Scheduler) isSlow(a *appQueue) bool { return s.cfg.Slow != nil && s.cfg.Slow(a.name) }

// offer puts a in the ring if it may start a job and is not there.
func (s *Scheduler) offer(a *appQueue) {
	if a.inRing || a.parked || len(a.ready) == 0 || a.running >= s.limit(a) {
		return
	}
	a.inRing = true
	s.ring = append(s.ring, a)
	s.cond.Signal()
}

// next takes the next job to run, round-robin over the apps in the ring
// and over the ready keys of the app. It returns nil when none may start.
func (s *Scheduler) next() (*appQueue, *keyQueue, Job) {
	for len(s.ring) > 0 {
		a := s.ring[0]
		s.ring[0] = nil
		s.ring = s.ring[1:]
		a.inRing = false
		if len(a.ready) == 0 || a.running >= s.limit(a) {
			continue // offered again when one of its jobs ends
		}
		slow := s.isSlow(a)
		if slow && s.slow >= s.cfg.SlowSlots {
			a.parked = true // offered again when a slow job ends
			s.parked = append(s.parked, a)
			continue
		}
		k := a.ready[0]
		a.ready[0] = nil
		a.ready = a.ready[1:]
		job := k.jobs[0]
		k.jobs[0] = nil
		k.jobs = k.jobs[1:]
		k.running, k.slow = true, slow
		if slow {
			s.slow++
		}
		a.queued--
		a.running++
		s.offer(a) // to the back of the ring: the other apps go first
		return a, k, job
	}
	return nil, nil, nil
}

// finish records that a job of key k of app a ended (its share was given
// back already).
func (s *Scheduler) finish(a *appQueue, k *keyQueue) {
	k.running = false
	if k.slow {
		k.slow = false
		s.slow--
		parked := s.parked
		s.parked = nil
		for _, p := range parked {
			p.parked = false
			s.offer(p)
		}
	}
	if len(k.jobs) > 0 {
		a.ready = append(a.ready, k)
	} else {
		delete(a.keys, k.key)
	}
	if a.queued == 0 && a.running == 0 && len(a.keys) == 0 {
		delete(s.apps, a.name)
		s.active = len(s.apps)
		return
	}
	s.offer(a)
}

func (s *Scheduler) worker() {
	defer s.wg.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		a, k, job := s.next()
		if job == nil {
			if s.closed {
				return
			}
			s.cond.Wait()
			continue
		}
		if len(s.ring) > 0 {
			s.cond.Signal() // another worker can start the next one
		}
		released := false
		release := func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if released || k.slow {
				return
			}
			released = true
			a.running--
			s.offer(a)
		}
		s.mu.Unlock()
		s.run(a.name, job, release)
		s.mu.Lock()
		if !released {
			a.running--
		}
		released = true
		s.finish(a, k)
	}
}

// run runs job; a panic in it is logged, and the worker goes on.
func (s *Scheduler) run(app string, job Job, release func()) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("sched: job panicked", "app", app, "panic", p)
		}
	}()
	job(s.ctx, release)
}

// Stats returns app's figures.
func (s *Scheduler) Stats(app string) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[app]
	if a == nil {
		return Stats{}
	}
	return Stats{Queued: a.queued, Running: a.running, Refused: a.refused}
}

// Close refuses new jobs, drops the waiting ones (logged per app),
// cancels the context of the running ones and waits, until ctx is done,
// for them to return and the workers to stop.
func (s *Scheduler) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, a := range s.apps {
		if a.queued > 0 {
			s.log.Warn("sched: events dropped at shutdown", "app", a.name, "dropped", a.queued)
		}
		for _, k := range a.keys {
			k.jobs = nil
		}
		a.queued, a.ready, a.inRing = 0, nil, false
	}
	s.ring, s.parked = nil, nil
	s.cond.Broadcast()
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sched: close: %w", ctx.Err())
	}
}
