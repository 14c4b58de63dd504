package sched_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/runtime/sched"
)

// tracker counts the running jobs of each app and remembers the most seen
// at once.
type tracker struct {
	mu      sync.Mutex
	running map[string]int
	most    map[string]int
	order   []string
}

func newTracker() *tracker {
	return &tracker{running: map[string]int{}, most: map[string]int{}}
}

// job returns a job of app that records itself as name and runs until
// release is closed (or its context ends).
func (tr *tracker) job(app, name string, release <-chan struct{}) sched.Job {
	return func(ctx context.Context, _ func()) {
		tr.mu.Lock()
		tr.running[app]++
		tr.most[app] = max(tr.most[app], tr.running[app])
		tr.order = append(tr.order, name)
		tr.mu.Unlock()
		select {
		case <-release:
		case <-ctx.Done():
		}
		tr.mu.Lock()
		tr.running[app]--
		tr.mu.Unlock()
	}
}

func (tr *tracker) snapshot() (running, most map[string]int, order []string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	running, most = map[string]int{}, map[string]int{}
	for k, v := range tr.running {
		running[k] = v
	}
	for k, v := range tr.most {
		most[k] = v
	}
	return running, most, append([]string(nil), tr.order...)
}

// eventually waits until cond holds; the test fails with what after 30s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for give := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(give) {
			t.Fatalf("never happened: %s", what)
		}
	}
}

func closeAtEnd(t *testing.T, s *sched.Scheduler) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// A looping app fills its share and its queue; it is refused from then
// on, and a neighbour's jobs still run at once.
func TestBusyAppHoldsOnlyItsShare(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		workers, perApp, max int
	}{
		{"pool bounds the share", 16, 4, 4},
		{"workers bound the share", 3, 8, 1}, // 2 apps with work: 3/2 = 1 each
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sched.New(sched.Config{Workers: tc.workers, Queue: 8, PerApp: tc.perApp})
			closeAtEnd(t, s)
			tr := newTracker()
			loop := make(chan struct{}) // never closed: the loop's jobs end at Close
			// A neighbour job first, so that both apps have work from the start.
			calmGate := make(chan struct{})
			if err := s.Submit("calm", "c0", tr.job("calm", "calm-0", calmGate)); err != nil {
				t.Fatal(err)
			}
			refused := 0
			for i := range 200 {
				err := s.Submit("loop", fmt.Sprint("l", i), tr.job("loop", "loop", loop))
				if errors.Is(err, sched.ErrQueueFull) {
					refused++
				} else if err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, "the looping app fills its share", func() bool {
				return s.Stats("loop").Running == tc.max
			})
			for i := 0; ; i++ { // refill its queue behind the running ones
				err := s.Submit("loop", fmt.Sprint("m", i), tr.job("loop", "loop", loop))
				if errors.Is(err, sched.ErrQueueFull) {
					refused++
					break
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if st := s.Stats("loop"); st.Queued != 8 || refused == 0 || st.Refused != uint64(refused) {
				t.Fatalf("looping app: %+v after %d refusals; want 8 queued and every refusal counted", st, refused)
			}
			close(calmGate)
			// The neighbour's jobs run while the looping app's queue is full.
			for i := range 20 {
				ran := make(chan struct{})
				err := s.Submit("calm", fmt.Sprint("c", i), func(context.Context, func()) { close(ran) })
				if err != nil {
					t.Fatal(err)
				}
				select {
				case <-ran:
				case <-time.After(30 * time.Second):
					t.Fatalf("neighbour job %d never ran while the looping app held %+v", i, s.Stats("loop"))
				}
			}
			if err := s.Submit("loop", "more", tr.job("loop", "loop", loop)); !errors.Is(err, sched.ErrQueueFull) {
				t.Fatalf("the looping app's full queue took another job: %v", err)
			}
			if _, most, _ := tr.snapshot(); most["loop"] != tc.max {
				t.Fatalf("the looping app ran %d jobs at once; its share is %d", most["loop"], tc.max)
			}
		})
	}
}

// When every worker is wanted, each app with work gets an equal share.
func TestCompetingAppsShareTheWorkers(t *testing.T) {
	s := sched.New(sched.Config{Workers: 4, Queue: 16, PerApp: 4})
	closeAtEnd(t, s)
	tr := newTracker()
	release := make(chan struct{})
	apps := []string{"a", "b", "c", "d"}
	for i := range 8 {
		for _, app := range apps {
			if err := s.Submit(app, fmt.Sprint(app, i), tr.job(app, app, release)); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, "all four workers busy", func() bool {
		n := 0
		for _, app := range apps {
			n += s.Stats(app).Running
		}
		return n == 4
	})
	running, most, _ := tr.snapshot()
	for _, app := range apps {
		if running[app] != 1 || most[app] > 2 {
			// most may be 2 only if a's second job started before b had work;
			// every app submitted before any ran beyond the first.
			t.Errorf("app %s runs %d (most %d) of 4 workers shared by 4 apps; want 1", app, running[app], most[app])
		}
	}
	close(release)
	eventually(t, "every job done", func() bool {
		for _, app := range apps {
			if st := s.Stats(app); st.Queued+st.Running > 0 {
				return false
			}
		}
		return true
	})
}

// The jobs of one key run one at a time, in order, even when the app may
// run several at once.
func TestJobsOfOneKeyKeepTheirOrder(t *testing.T) {
	s := sched.New(sched.Config{Workers: 8, Queue: 64, PerApp: 4})
	closeAtEnd(t, s)
	var (
		mu      sync.Mutex
		got     = map[string][]int{}
		running = map[string]bool{}
		overlap bool
		wg      sync.WaitGroup
	)
	for i := range 60 {
		conv := fmt.Sprint("conv", i%3)
		wg.Add(1)
		err := s.Submit("app", conv, func(context.Context, func()) {
			defer wg.Done()
			mu.Lock()
			if running[conv] {
				overlap = true
			}
			running[conv] = true
			got[conv] = append(got[conv], i)
			mu.Unlock()
			time.Sleep(100 * time.Microsecond) // let another job of conv try to start
			mu.Lock()
			running[conv] = false
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if overlap {
		t.Error("two jobs of one conversation ran at once")
	}
	for conv, seq := range got {
		for j := 1; j < len(seq); j++ {
			if seq[j] < seq[j-1] {
				t.Fatalf("%s ran its jobs in the order %v", conv, seq)
			}
		}
	}
}

// Apps take turns: a job of an app with one event does not wait behind
// every queued event of another app.
func TestAppsTakeTurns(t *testing.T) {
	s := sched.New(sched.Config{Workers: 1, Queue: 16, PerApp: 1})
	closeAtEnd(t, s)
	tr := newTracker()
	gate := make(chan struct{})
	open := make(chan struct{})
	close(open)
	if err := s.Submit("first", "", tr.job("first", "first", gate)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the worker busy", func() bool { return s.Stats("first").Running == 1 })
	for i := range 10 {
		if err := s.Submit("busy", fmt.Sprint(i), tr.job("busy", "busy", open)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Submit("calm", "", tr.job("calm", "calm", open)); err != nil {
		t.Fatal(err)
	}
	close(gate)
	eventually(t, "every job done", func() bool {
		_, _, order := tr.snapshot()
		return len(order) == 12
	})
	_, _, order := tr.snapshot()
	if order[1] != "calm" && order[2] != "calm" {
		t.Fatalf("the calm app's one job ran as %v: it waited behind the busy app's queue", order)
	}
}

// Close drops what waits, cancels what runs, and refuses what comes after.
func TestCloseStopsTheWorkers(t *testing.T) {
	s := sched.New(sched.Config{Workers: 2, Queue: 8, PerApp: 1})
	never := make(chan struct{})
	started := make(chan struct{}, 1)
	cancelled := make(chan struct{})
	ranLate := make(chan struct{}, 8)
	err := s.Submit("app", "a", func(ctx context.Context, _ func()) {
		started <- struct{}{}
		select {
		case <-ctx.Done():
			close(cancelled)
		case <-never:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	for range 5 {
		if err := s.Submit("app", "b", func(context.Context, func()) { ranLate <- struct{}{} }); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cancelled:
	default:
		t.Fatal("Close returned before the running job saw its context end")
	}
	if len(ranLate) != 0 {
		t.Fatalf("%d waiting jobs ran after Close", len(ranLate))
	}
	if err := s.Submit("app", "c", func(context.Context, func()) {}); !errors.Is(err, sched.ErrClosed) {
		t.Fatalf("Submit after Close: %v, want ErrClosed", err)
	}
}

// Apps whose jobs spin past their deadline run one job at a time, and all
// of them together hold at most SlowSlots workers; the others run beside.
func TestSlowAppsShareTheSlowSlots(t *testing.T) {
	var slowMu sync.Mutex
	slowApps := map[string]bool{"loop1": true, "loop2": true}
	s := sched.New(sched.Config{Workers: 8, Queue: 8, PerApp: 4, SlowSlots: 1,
		Slow: func(app string) bool { slowMu.Lock(); defer slowMu.Unlock(); return slowApps[app] }})
	closeAtEnd(t, s)
	tr := newTracker()
	gates := map[string]chan struct{}{"loop1": make(chan struct{}), "loop2": make(chan struct{})}
	for i := range 4 {
		for _, app := range []string{"loop1", "loop2"} {
			if err := s.Submit(app, fmt.Sprint(app, i), tr.job(app, app, gates[app])); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, "one slow job running", func() bool { return s.Stats("loop1").Running+s.Stats("loop2").Running == 1 })
	for i := range 10 {
		ran := make(chan struct{})
		if err := s.Submit("calm", fmt.Sprint(i), func(context.Context, func()) { close(ran) }); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ran:
		case <-time.After(30 * time.Second):
			t.Fatalf("calm job %d never ran beside the slow apps", i)
		}
	}
	if n := s.Stats("loop1").Running + s.Stats("loop2").Running; n != 1 {
		t.Fatalf("%d slow jobs run at once; SlowSlots is 1", n)
	}
	// Both slow apps take turns at the one slot as their jobs end.
	close(gates["loop1"])
	close(gates["loop2"])
	eventually(t, "every slow job done", func() bool {
		return s.Stats("loop1").Queued+s.Stats("loop1").Running+s.Stats("loop2").Queued+s.Stats("loop2").Running == 0
	})
	if _, most, order := tr.snapshot(); most["loop1"] != 1 || most["loop2"] != 1 || len(order) != 8 {
		t.Fatalf("slow apps ran at most %v at once, %d jobs; want 1 each, 8 jobs", most, len(order))
	}
	// Once no longer slow, an app gets its pool's share again.
	slowMu.Lock()
	slowApps["loop1"] = false
	slowMu.Unlock()
	never := make(chan struct{})
	for i := range 4 {
		if err := s.Submit("loop1", fmt.Sprint("again", i), tr.job("loop1", "loop1", never)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "loop1 back to 4 at once", func() bool { return s.Stats("loop1").Running == 4 })
}

// A job that released its share (its guest has run; it waits for the
// store) lets its app start another job at once, but keeps its key: the
// next job of the same conversation waits until it returns.
func TestReleaseFreesTheShareNotTheKey(t *testing.T) {
	s := sched.New(sched.Config{Workers: 4, Queue: 8, PerApp: 1})
	closeAtEnd(t, s)
	released, finish := make(chan struct{}), make(chan struct{})
	if err := s.Submit("app", "c1", func(_ context.Context, release func()) {
		release()
		release() // a second call changes nothing
		close(released)
		<-finish
	}); err != nil {
		t.Fatal(err)
	}
	<-released
	other, same := make(chan struct{}), make(chan struct{})
	if err := s.Submit("app", "c1", func(context.Context, func()) { close(same) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Submit("app", "c2", func(context.Context, func()) { close(other) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-other: // PerApp is 1, but the first job gave its share back
	case <-time.After(30 * time.Second):
		t.Fatal("a job of another conversation did not start after the first released its share")
	}
	select {
	case <-same:
		t.Fatal("the conversation's next job started before the first returned")
	default:
	}
	close(finish)
	select {
	case <-same:
	case <-time.After(30 * time.Second):
		t.Fatal("the conversation's next job never started")
	}
	eventually(t, "no job running or queued", func() bool {
		st := s.Stats("app")
		return st.Running == 0 && st.Queued == 0
	})
}
