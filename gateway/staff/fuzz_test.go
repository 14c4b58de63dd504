package staff_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/passerelle/passerelle/gateway/staff"
)

// FuzzCredentials feeds what a browser or an attacker may send (a
// sign-in code, a refresh cookie, an access cookie) to the store: none
// opens a session unless it is one the store issued, and none panics.
func FuzzCredentials(f *testing.F) {
	ctx := context.Background()
	s, _, _, _ := open(f)
	_, l, err := s.Add(ctx, "bistro", "Alice")
	if err != nil {
		f.Fatal(err)
	}
	se, err := s.SignIn(ctx, l.Code)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"", ".", "si_", se.Access, se.Refresh, se.ID + ".", se.Access + "x",
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", se.Refresh[:len(se.Refresh)-1]} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if m, _, err := s.Verify(v); err == nil && v != se.Access {
			t.Fatalf("Verify(%q) opened %+v", v, m)
		} else if err != nil && !errors.Is(err, staff.ErrSession) {
			t.Fatalf("Verify(%q): %v, not ErrSession", v, err)
		}
		if _, err := s.SignIn(ctx, v); err == nil {
			t.Fatalf("SignIn(%q) opened a session", v)
		}
		if v != se.Refresh {
			if _, err := s.Refresh(ctx, v); err == nil {
				t.Fatalf("Refresh(%q) opened a session", v)
			}
		}
	})
}

// TestRemoveWhileVerifying hammers Verify from several goroutines while
// the member is removed: after Remove returns, no Verify succeeds (run
// with -race).
func TestRemoveWhileVerifying(t *testing.T) {
	ctx := context.Background()
	s, _, _, _ := open(t)
	m, l, _ := s.Add(ctx, "bistro", "Alice")
	se, err := s.SignIn(ctx, l.Code)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		removed bool
		late    int
	)
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				after := removed
				mu.Unlock()
				if _, _, err := s.Verify(se.Access); err == nil && after {
					mu.Lock()
					late++
					mu.Unlock()
				}
			}
		}()
	}
	if _, err := s.Remove(ctx, "bistro", m.ID); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	removed = true
	mu.Unlock()
	for range 1000 {
		if _, _, err := s.Verify(se.Access); err == nil {
			t.Fatal("verified after Remove returned")
		}
	}
	close(stop)
	wg.Wait()
	if late != 0 {
		t.Fatalf("%d verifications succeeded after Remove returned", late)
	}
}
