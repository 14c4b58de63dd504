package sched_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/runtime/sched"
)

// Many submitters, honest apps and slow ones, conversations shared by
// several submitters: every accepted job runs once, jobs of one key in
// order and never two at once, no app above its share, no more slow jobs
// than slow slots.
func TestHammer(t *testing.T) {
	const (
		workers, perApp, slots = 6, 3, 2
		submitters, each       = 8, 300
	)
	apps := []string{"calm1", "calm2", "calm3", "loop1", "loop2"}
	slowApp := func(app string) bool { return app[:4] == "loop" }
	s := sched.New(sched.Config{Workers: workers, Queue: 20, PerApp: perApp, Slow: slowApp, SlowSlots: slots})
	closeAtEnd(t, s)

	var (
		mu        sync.Mutex
		running   = map[string]int{}
		slow      int
		keyBusy   = map[string]bool{}
		lastOfKey = map[string]int{}
		ran       = map[string]bool{}
		accepted  = map[string]bool{}
		wg        sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
	}
	var sub sync.WaitGroup
	for g := range submitters {
		sub.Add(1)
		go func() {
			defer sub.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range each {
				app := apps[rng.IntN(len(apps))]
				key := fmt.Sprint(app, "/c", rng.IntN(4))
				id := fmt.Sprint(g, ".", i)
				seq := g*each + i // increases per submitter; checked per (key, submitter)
				order := key + "#" + fmt.Sprint(g)
				d := time.Duration(rng.IntN(200)) * time.Microsecond
				if slowApp(app) {
					d *= 5
				}
				wg.Add(1)
				mu.Lock() // the lock makes Submit's order the order recorded
				err := s.Submit(app, key, func(context.Context, func()) {
					defer wg.Done()
					mu.Lock()
					running[app]++
					if slowApp(app) {
						slow++
						if slow > slots || running[app] > 1 {
							fail("slow jobs: %d at once (%s runs %d)", slow, app, running[app])
						}
					}
					if running[app] > perApp {
						fail("%s runs %d jobs at once, share %d", app, running[app], perApp)
					}
					if keyBusy[key] {
						fail("two jobs of %s at once", key)
					}
					keyBusy[key] = true
					if last, ok := lastOfKey[order]; ok && last > seq {
						fail("%s ran job %d after %d", key, seq, last)
					}
					lastOfKey[order] = seq
					if ran[id] {
						fail("job %s ran twice", id)
					}
					ran[id] = true
					mu.Unlock()
					time.Sleep(d)
					mu.Lock()
					running[app]--
					if slowApp(app) {
						slow--
					}
					keyBusy[key] = false
					mu.Unlock()
				})
				if err == nil {
					accepted[id] = true
				}
				mu.Unlock()
				if errors.Is(err, sched.ErrQueueFull) {
					wg.Done()
					time.Sleep(100 * time.Microsecond)
				} else if err != nil {
					wg.Done()
					fail("submit: %v", err)
				}
			}
		}()
	}
	sub.Wait()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(ran) != len(accepted) || len(accepted) == 0 {
		t.Fatalf("%d jobs ran of %d accepted", len(ran), len(accepted))
	}
	t.Logf("%d of %d jobs accepted", len(accepted), submitters*each)
}
