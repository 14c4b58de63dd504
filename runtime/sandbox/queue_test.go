package sandbox_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// slowStore is an Outbox that queues messages and stores each only when
// the test releases it.
type slowStore struct {
	release chan error
	mu      sync.Mutex
	queued  []host.Outgoing
}

func (s *slowStore) Emit(context.Context, host.Outgoing) error {
	return errors.New("slowStore: everything should be queued")
}

func (s *slowStore) Queue(_ context.Context, out host.Outgoing) (func() error, error) {
	s.mu.Lock()
	s.queued = append(s.queued, out)
	s.mu.Unlock()
	return func() error { return <-s.release }, nil
}

func TestQueuedMessagesDoNotHoldTheInstance(t *testing.T) {
	e, _ := newEngine(t, func(c *sandbox.Config) { c.PoolSize = 1 })
	a := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	ctx := context.Background()
	st := &slowStore{release: make(chan error, 2)}

	first := make(chan error, 1)
	go func() {
		_, err := a.Dispatch(ctx, event(st))
		first <- err
	}()
	// The second event needs the pool's only instance. It can run only if
	// the first event gave the instance back while its message waits for
	// the store; and it returns only once its own message is stored.
	second := make(chan error, 1)
	go func() {
		_, err := a.Dispatch(ctx, event(st))
		second <- err
	}()
	for give := time.Now().Add(30 * time.Second); ; {
		if time.Now().After(give) {
			t.Fatal("the second event never ran: the instance stays held while the first event's message is stored")
		}
		st.mu.Lock()
		n := len(st.queued)
		st.mu.Unlock()
		if n == 2 {
			break
		}
		select {
		case err := <-first:
			t.Fatalf("the first event returned (%v) before its message was stored", err)
		case err := <-second:
			t.Fatalf("the second event returned (%v) before its message was stored", err)
		case <-time.After(time.Millisecond):
		}
	}
	st.release <- nil
	st.release <- errors.New("disk full")
	errs := []error{<-first, <-second}
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			if !containsDiskFull(err) {
				t.Errorf("failed event: %v, want the store's error", err)
			}
		}
	}
	if failed != 1 {
		t.Fatalf("events returned %v; want exactly one failure, from the store", errs)
	}
	if st := a.Stats(); st.Busy != 0 || st.Idle != 1 {
		t.Fatalf("pool after both events: %+v, want the one instance idle", st)
	}
}

func containsDiskFull(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "disk full" {
			return true
		}
	}
	return false
}
