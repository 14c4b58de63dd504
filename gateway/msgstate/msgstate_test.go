package msgstate_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/msgstate"
	"github.com/passerelle/passerelle/host"
)

func open(t *testing.T) *msgstate.Store {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "s.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := msgstate.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestMoves: states only move forward, failed is final, a state reached
// past one that never came implies it in the figures but not in the
// history.
func TestMoves(t *testing.T) {
	for _, tc := range []struct {
		name    string
		states  []string
		moved   []bool
		reached [][]string // of each move that moved
		final   string
		history []string
	}{
		{"in order", []string{"sent", "delivered", "read"}, []bool{true, true, true},
			[][]string{{"sent"}, {"delivered"}, {"read"}}, "read", []string{"sent", "delivered", "read"}},
		{"read first", []string{"sent", "read", "delivered"}, []bool{true, true, false},
			[][]string{{"sent"}, {"delivered", "read"}}, "read", []string{"sent", "read"}},
		{"redelivered", []string{"delivered", "delivered", "sent", "delivered"}, []bool{true, false, false, false},
			[][]string{{"sent", "delivered"}}, "delivered", []string{"delivered"}},
		{"failed is final", []string{"sent", "failed", "read", "delivered"}, []bool{true, true, false, false},
			[][]string{{"sent"}, {"failed"}}, "failed", []string{"sent", "failed"}},
		{"failed at once", []string{"failed", "failed"}, []bool{true, false},
			[][]string{{"sent", "failed"}}, "failed", []string{"failed"}},
		{"failed after read", []string{"read", "failed"}, []bool{true, true},
			[][]string{{"sent", "delivered", "read"}, {"failed"}}, "failed", []string{"read", "failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			var reached [][]string
			for i, st := range tc.states {
				c, err := s.Record(context.Background(), msgstate.Move{Message: "msg_1", App: "shop", Surface: "whatsapp", State: st, At: time.Now()}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if c.Moved != tc.moved[i] {
					t.Fatalf("move %d to %s: moved %v, want %v", i, st, c.Moved, tc.moved[i])
				}
				if c.Moved {
					reached = append(reached, c.Reached)
				}
			}
			if !slices.EqualFunc(reached, tc.reached, slices.Equal) {
				t.Fatalf("reached %v, want %v", reached, tc.reached)
			}
			m, err := s.Get(context.Background(), "shop", "msg_1")
			if err != nil {
				t.Fatal(err)
			}
			var hist []string
			for _, e := range m.History {
				hist = append(hist, e.State)
			}
			if m.State != tc.final || !slices.Equal(hist, tc.history) {
				t.Fatalf("state %s history %v, want %s %v", m.State, hist, tc.final, tc.history)
			}
		})
	}
}

// TestRecordWith: what the caller writes with a move commits with it, and
// a failure of either keeps neither.
func TestRecordWith(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	boom := errors.New("boom")
	mv := msgstate.Move{Message: "msg_1", App: "shop", Surface: "web", State: host.StateRead, At: time.Now()}
	if _, err := s.Record(ctx, mv, func(*bbolt.Tx, msgstate.Change) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	if _, err := s.Get(ctx, "shop", "msg_1"); !errors.Is(err, msgstate.ErrNotFound) {
		t.Fatalf("a move whose with failed is kept: %v", err)
	}
	if figs, _ := s.Figures(ctx, "shop"); len(figs) != 0 {
		t.Fatalf("figures of a failed move: %+v", figs)
	}
	calls := 0
	if _, err := s.Record(ctx, mv, func(*bbolt.Tx, msgstate.Change) error { calls++; return nil }); err != nil || calls != 1 {
		t.Fatalf("err %v, with called %d times", err, calls)
	}
	if _, err := s.Record(ctx, mv, func(*bbolt.Tx, msgstate.Change) error { calls++; return nil }); err != nil || calls != 1 {
		t.Fatalf("a move that moved nothing called with (err %v, %d calls)", err, calls)
	}
}

// TestBadMoves: a move without a message or app, or to an unknown state,
// is refused; another app's message is not found.
func TestBadMoves(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, mv := range []msgstate.Move{
		{App: "shop", State: "read"},
		{Message: "msg_1", State: "read"},
		{Message: "msg_1", App: "shop", State: "seen"},
	} {
		if _, err := s.Record(ctx, mv, nil); err == nil {
			t.Errorf("move %+v accepted", mv)
		}
	}
	if _, err := s.Record(ctx, msgstate.Move{Message: "msg_1", App: "shop", Surface: "web", State: "sent", At: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "ride", "msg_1"); !errors.Is(err, msgstate.ErrNotFound) {
		t.Fatalf("another app's message: %v", err)
	}
}

// TestFiguresAndPrune: figures count by surface, state and failure code;
// Prune forgets old messages and keeps the figures.
func TestFiguresAndPrune(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	old, now := time.Now().Add(-40*24*time.Hour), time.Now()
	for _, mv := range []msgstate.Move{
		{Message: "msg_1", App: "shop", Surface: "whatsapp", State: "sent", At: old},
		{Message: "msg_2", App: "shop", Surface: "whatsapp", State: "failed", Code: "window_closed", NetworkCode: 131047, At: now},
		{Message: "msg_3", App: "shop", Surface: "whatsapp", State: "failed", Code: "opted_out", At: now},
		{Message: "msg_4", App: "shop", Surface: "web", State: "read", At: now},
		{Message: "msg_5", App: "shopping", Surface: "web", State: "read", At: now},
	} {
		if _, err := s.Record(ctx, mv, nil); err != nil {
			t.Fatal(err)
		}
	}
	figs, err := s.Figures(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	want := []msgstate.Figure{
		{Surface: "web", State: "sent", Count: 1}, {Surface: "web", State: "delivered", Count: 1}, {Surface: "web", State: "read", Count: 1},
		{Surface: "whatsapp", State: "sent", Count: 3},
		{Surface: "whatsapp", State: "failed", Code: "opted_out", Count: 1}, {Surface: "whatsapp", State: "failed", Code: "window_closed", Count: 1},
	}
	if !slices.Equal(figs, want) {
		t.Fatalf("figures %+v\nwant %+v", figs, want)
	}
	n, err := s.Prune(ctx, now.Add(-30*24*time.Hour), 100)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want 1", n, err)
	}
	if _, err := s.Get(ctx, "shop", "msg_1"); !errors.Is(err, msgstate.ErrNotFound) {
		t.Fatalf("an old message is kept: %v", err)
	}
	if _, err := s.Get(ctx, "shop", "msg_2"); err != nil {
		t.Fatalf("a recent message is forgotten: %v", err)
	}
	if again, _ := s.Figures(ctx, "shop"); !slices.Equal(again, want) {
		t.Fatalf("figures after the prune %+v", again)
	}
}
