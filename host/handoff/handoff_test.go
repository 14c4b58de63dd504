package handoff_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/handoff"
)

var app = host.AppRef{Merchant: "shop", App: "support", Version: "1.0.0"}

type pseudonyms struct{}

func (pseudonyms) OpenID(ref host.AppRef, person string) string { return "o_" + ref.App + "_" + person }

// notices records what the service hands to Notify.
type notices struct {
	mu  sync.Mutex
	got []handoff.Notice
}

func (n *notices) push(_ context.Context, x handoff.Notice) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, x)
}

func (n *notices) take() []handoff.Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.got
	n.got = nil
	return out
}

func openDB(t *testing.T, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newService(t *testing.T) (*handoff.Service, *notices, *bbolt.DB) {
	t.Helper()
	db := openDB(t, filepath.Join(t.TempDir(), "h.db"))
	t.Cleanup(func() { db.Close() })
	n := &notices{}
	s, err := handoff.Open(db, handoff.Config{Notify: n.push, Pseudonyms: pseudonyms{}})
	if err != nil {
		t.Fatal(err)
	}
	return s, n, db
}

func start(t *testing.T, s *handoff.Service, conv string) handoff.Handoff {
	t.Helper()
	b, err := s.Start(context.Background(), app, conv, "p_ana", "messenger", handoff.Request{Reason: "asked for a person",
		Summary: "parcel late", Fields: map[string]string{"order": "42"}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Already {
		t.Fatalf("a first handoff of %s is Already", conv)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	return b.Handoff
}

func holds(t *testing.T, s *handoff.Service, conv string) bool {
	t.Helper()
	ok, err := s.Holds(context.Background(), conv)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestLifecycle walks one handoff from waiting to taken to returned and
// checks what holds the conversation, what the app is told and what is
// refused at each step.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	s, n, _ := newService(t)
	if holds(t, s, "c1") {
		t.Fatal("a conversation never handed off is held")
	}
	h := start(t, s, "c1")
	if h.Status != handoff.StatusWaiting || h.User != "o_support_p_ana" || h.Person != "p_ana" || h.Fields["order"] != "42" || !strings.HasPrefix(h.ID, "ho_") {
		t.Fatalf("started %+v", h)
	}
	if !holds(t, s, "c1") || holds(t, s, "c2") {
		t.Fatal("the handed-off conversation, and only it, must be held")
	}
	if got := n.take(); len(got) != 0 {
		t.Fatalf("starting a handoff told the app %+v; it made the handoff itself", got)
	}

	// Handing off again answers the open handoff.
	again, err := s.Start(ctx, app, "c1", "p_ana", "messenger", handoff.Request{Reason: "again"})
	if err != nil || !again.Already || again.Handoff.ID != h.ID || again.Handoff.Reason != "asked for a person" {
		t.Fatalf("second Start: %+v, %v", again, err)
	}
	if err := again.Commit(); err != nil {
		t.Fatal(err)
	}

	// Taking it tells the app once per agent.
	taken, err := s.Take(ctx, "shop", h.ID, "Sam")
	if err != nil || taken.Status != handoff.StatusTaken || taken.Agent != "Sam" || taken.Taken == 0 {
		t.Fatalf("Take: %+v, %v", taken, err)
	}
	if _, err := s.Take(ctx, "shop", h.ID, "Sam"); err != nil {
		t.Fatal(err)
	}
	got := n.take()
	if len(got) != 1 || got[0].Event.Type != host.EventHandoff || got[0].Event.Handoff.Agent != "Sam" || got[0].Event.Handoff.Status != "taken" ||
		got[0].Handoff.Person != "p_ana" || got[0].Handoff.Conversation != "c1" {
		t.Fatalf("notices after two takes by Sam: %+v", got)
	}
	if _, err := s.Take(ctx, "shop", h.ID, "Lea"); err != nil {
		t.Fatal(err)
	}
	if got := n.take(); len(got) != 1 || got[0].Event.Handoff.Agent != "Lea" {
		t.Fatalf("a take by another agent: %+v", got)
	}

	// Another merchant sees nothing of it and changes nothing.
	for _, err := range []error{
		func() error { _, err := s.Get(ctx, "rival", h.ID); return err }(),
		func() error { _, err := s.Take(ctx, "rival", h.ID, "Eve"); return err }(),
		func() error { _, err := s.Return(ctx, "rival", h.ID, "Eve", ""); return err }(),
	} {
		if !errors.Is(err, handoff.ErrNotFound) {
			t.Fatalf("another merchant: %v, want ErrNotFound", err)
		}
	}
	if list, _ := s.List(ctx, "rival", false, 0); len(list) != 0 {
		t.Fatalf("another merchant lists %+v", list)
	}

	// Handing back frees the conversation and tells the app with the note.
	back, err := s.Return(ctx, "shop", h.ID, "Lea", "refund sent")
	if err != nil || back.Status != handoff.StatusReturned || back.Note != "refund sent" || back.Open() {
		t.Fatalf("Return: %+v, %v", back, err)
	}
	if holds(t, s, "c1") {
		t.Fatal("a returned conversation is still held")
	}
	got = n.take()
	if len(got) != 1 || got[0].Event.Type != host.EventHandback || got[0].Event.Handoff.Note != "refund sent" || got[0].Event.Handoff.Status != "returned" {
		t.Fatalf("notices after the handback: %+v", got)
	}
	for _, err := range []error{
		func() error { _, err := s.Take(ctx, "shop", h.ID, "Sam"); return err }(),
		func() error { _, err := s.Return(ctx, "shop", h.ID, "Sam", ""); return err }(),
	} {
		if !errors.Is(err, handoff.ErrReturned) || host.StatusOf(err) != host.StatusConflict {
			t.Fatalf("after the handback: %v, want ErrReturned", err)
		}
	}

	// A new handoff of the same conversation is a new one.
	h2 := start(t, s, "c1")
	if h2.ID == h.ID || !holds(t, s, "c1") {
		t.Fatalf("a handoff after the handback: %+v", h2)
	}
	open, _ := s.List(ctx, "shop", true, 0)
	all, _ := s.List(ctx, "shop", false, 0)
	if len(open) != 1 || open[0].ID != h2.ID || len(all) != 2 || all[0].ID != h2.ID || all[1].ID != h.ID {
		t.Fatalf("open %+v, all %+v: want the new one open, both newest first", open, all)
	}
}

func TestRequestValidate(t *testing.T) {
	many := map[string]string{}
	for i := range handoff.MaxFields + 1 {
		many[fmt.Sprint("f", i)] = "v"
	}
	tests := []struct {
		name string
		r    handoff.Request
		want string // in the error; "" for none
	}{
		{"ok", handoff.Request{Reason: "refund", Summary: "s", Fields: map[string]string{"order": "42"}}, ""},
		{"no reason", handoff.Request{Summary: "s"}, "reason: empty"},
		{"blank reason", handoff.Request{Reason: "  "}, "reason: empty"},
		{"long reason", handoff.Request{Reason: strings.Repeat("é", handoff.MaxReason+1)}, "reason: 201 characters, at most 200"},
		{"long summary", handoff.Request{Reason: "r", Summary: strings.Repeat("x", handoff.MaxSummary+1)}, "summary:"},
		{"bad utf-8", handoff.Request{Reason: "\xff"}, "not valid UTF-8"},
		{"too many fields", handoff.Request{Reason: "r", Fields: many}, "at most 20"},
		{"empty field name", handoff.Request{Reason: "r", Fields: map[string]string{"": "v"}}, "fields: the name"},
		{"long field value", handoff.Request{Reason: "r", Fields: map[string]string{"k": strings.Repeat("x", handoff.MaxFieldValue+1)}}, "fields.k:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || host.StatusOf(err) != host.StatusBadRequest {
				t.Fatalf("Validate: %v, want bad_request containing %q", err, tt.want)
			}
		})
	}
}

func TestAgentAndNoteChecked(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	h := start(t, s, "c1")
	if _, err := s.Take(ctx, "shop", h.ID, ""); host.StatusOf(err) != host.StatusBadRequest || !strings.Contains(err.Error(), "display name") {
		t.Fatalf("Take without an agent: %v", err)
	}
	if _, err := s.Return(ctx, "shop", h.ID, "Sam", strings.Repeat("x", handoff.MaxNote+1)); host.StatusOf(err) != host.StatusBadRequest {
		t.Fatalf("a note too long: %v", err)
	}
	if !holds(t, s, "c1") {
		t.Fatal("a refused handback freed the conversation")
	}
}

// TestRestart: the open handoffs hold their conversations after a
// restart, and the events the app was not given are handed over again,
// in order, until their delivery ended.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "h.db")
	db := openDB(t, path)
	n := &notices{}
	s, err := handoff.Open(db, handoff.Config{Notify: n.push})
	if err != nil {
		t.Fatal(err)
	}
	h1, h2 := start(t, s, "c1"), start(t, s, "c2")
	if _, err := s.Take(ctx, "shop", h1.ID, "Sam"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Return(ctx, "shop", h1.ID, "Sam", "done"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(ctx, "shop", h2.ID, "Lea"); err != nil {
		t.Fatal(err)
	}
	got := n.take()
	if len(got) != 3 {
		t.Fatalf("%d notices, want 3", len(got))
	}
	got[2].Done(ctx, nil) // h2's handoff event was delivered; h1's two were not
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	got[0].Done(canceled, errors.New("stopping")) // the process stopped during its delivery: kept
	db.Close()

	db = openDB(t, path)
	defer db.Close()
	s, err = handoff.Open(db, handoff.Config{Notify: n.push})
	if err != nil {
		t.Fatal(err)
	}
	if holds(t, s, "c1") || !holds(t, s, "c2") {
		t.Fatal("after a restart only the open handoff holds its conversation")
	}
	if err := s.Redeliver(ctx); err != nil {
		t.Fatal(err)
	}
	got = n.take()
	if len(got) != 2 || got[0].Event.Type != host.EventHandoff || got[1].Event.Type != host.EventHandback || got[0].Handoff.ID != h1.ID {
		t.Fatalf("redelivered %+v, want h1's handoff then handback", got)
	}
	for _, x := range got {
		x.Done(ctx, nil)
	}
	if err := s.Redeliver(ctx); err != nil {
		t.Fatal(err)
	}
	if got := n.take(); len(got) != 0 {
		t.Fatalf("delivered events came back: %+v", got)
	}
}

// TestApplyInEventTransaction: a handoff staged in an event's transaction
// holds nothing until committed, and a concurrent one of the same
// conversation is refused as a conflict, so the event runs again.
func TestApplyInEventTransaction(t *testing.T) {
	ctx := context.Background()
	s, _, db := newService(t)
	r := handoff.Request{Reason: "r"}
	a, err := s.Start(ctx, app, "c1", "p_ana", "web", r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Start(ctx, app, "c1", "p_ana", "web", r)
	if err != nil {
		t.Fatal(err)
	}
	if holds(t, s, "c1") {
		t.Fatal("a handoff not yet committed holds its conversation")
	}
	if err := db.Update(a.Apply); err != nil {
		t.Fatal(err)
	}
	a.Committed()
	if err := db.Update(b.Apply); !errors.Is(err, host.ErrTxConflict) {
		t.Fatalf("the second handoff of c1: %v, want ErrTxConflict", err)
	}
	if list, _ := s.List(ctx, "shop", false, 0); len(list) != 1 || list[0].ID != a.Handoff.ID {
		t.Fatalf("handoffs %+v, want only the first", list)
	}
}

// TestWait: Wait returns once the merchant's inbox changed (a handoff, a
// held message), not for another merchant's changes, and at ctx's end.
func TestWait(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	v0 := s.Wait(short, "shop", ^uint64(0))
	if v := s.Wait(short, "shop", v0); v != v0 {
		t.Fatalf("Wait with no change: %d, want %d", v, v0)
	}
	done := make(chan uint64)
	go func() { done <- s.Wait(ctx, "shop", v0) }()
	s.Changed("rival")
	start(t, s, "c1")
	v1 := <-done
	if v1 == v0 {
		t.Fatal("Wait returned without a change")
	}
	go func() { done <- s.Wait(ctx, "shop", v1) }()
	holds(t, s, "c1") // a person's message held in an open handoff
	if v2 := <-done; v2 == v1 {
		t.Fatal("a held message is no change")
	}
}

// TestConcurrent hammers one service from many goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	s, n, _ := newService(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			conv := fmt.Sprint("c", i)
			b, err := s.Start(ctx, app, conv, "p_ana", "web", handoff.Request{Reason: "r"})
			if err == nil {
				err = b.Commit()
			}
			if err != nil {
				t.Error(err)
				return
			}
			h := b.Handoff
			for range 20 {
				if _, err := s.Holds(ctx, conv); err != nil {
					t.Error(err)
				}
			}
			if _, err := s.Take(ctx, "shop", h.ID, "Sam"); err != nil {
				t.Error(err)
			}
			if _, err := s.Return(ctx, "shop", h.ID, "Sam", "ok"); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
			defer cancel()
			s.Wait(wctx, "shop", 0)
			if _, err := s.List(ctx, "shop", true, 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := n.take(); len(got) != 16 {
		t.Fatalf("%d notices, want 16", len(got))
	}
	if open, _ := s.List(ctx, "shop", true, 0); len(open) != 0 {
		t.Fatalf("open after every handback: %+v", open)
	}
}

// BenchmarkHolds is the check the router makes before every person's
// message to an app, among 10,000 open handoffs: "no" for a conversation
// not handed off, "yes" for one that is (which also counts a change of
// the merchant's inbox).
func BenchmarkHolds(b *testing.B) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "h.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := handoff.Open(db, handoff.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range 10_000 {
		bg, err := s.Start(ctx, app, fmt.Sprint("c", i), "p", "web", handoff.Request{Reason: "r"})
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Update(bg.Apply); err != nil {
			b.Fatal(err)
		}
		bg.Committed()
	}
	for _, tt := range []struct{ name, conv string }{{"no", "elsewhere"}, {"yes", "c42"}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Holds(ctx, tt.conv); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// commitTx applies tx's effects in one store transaction and then runs
// their Committed hooks, as the runtime commits an event.
func commitTx(db *bbolt.DB, tx *host.Tx) error {
	if err := db.Update(tx.Apply); err != nil {
		return err
	}
	tx.Committed()
	return nil
}

// TestHoldsTx: a held event's transaction checks, when it commits, that
// the handoff is still open (one handed back meanwhile is a conflict, so
// the event is decided again) and counts as a change of the inbox only
// once committed; a conversation not handed off stages nothing.
func TestHoldsTx(t *testing.T) {
	ctx := context.Background()
	s, _, db := newService(t)
	version := func() uint64 { return s.Wait(ctx, "shop", ^uint64(0)) }
	h := start(t, s, "c1")

	free := &host.Tx{}
	if held, err := s.HoldsTx(ctx, free, "c2"); held || err != nil || len(free.Effects()) != 0 {
		t.Fatalf("c2: held %v, %v, %d effects", held, err, len(free.Effects()))
	}

	kept := &host.Tx{}
	before := version()
	if held, err := s.HoldsTx(ctx, kept, "c1"); !held || err != nil {
		t.Fatalf("c1: held %v, %v", held, err)
	}
	if version() != before {
		t.Fatal("the inbox changed before the held event committed")
	}
	if err := commitTx(db, kept); err != nil {
		t.Fatal(err)
	}
	if version() == before {
		t.Fatal("the committed held event did not change the inbox")
	}

	late := &host.Tx{}
	if held, _ := s.HoldsTx(ctx, late, "c1"); !held {
		t.Fatal("c1 not held")
	}
	if _, err := s.Return(ctx, "shop", h.ID, "Sam", "done"); err != nil {
		t.Fatal(err)
	}
	if err := commitTx(db, late); !errors.Is(err, host.ErrTxConflict) {
		t.Fatalf("held across a handback: %v, want a conflict", err)
	}
	if held, _ := s.HoldsTx(ctx, &host.Tx{}, "c1"); held {
		t.Fatal("decided again after the handback, the event is still held")
	}
}

// TestMembersClaimAnswerAndHandBack checks that the handoff records which
// member of staff has it and who answered in it, that two members of the
// same name are told apart by their ids, and that the app's events name
// the member.
func TestMembersClaimAnswerAndHandBack(t *testing.T) {
	ctx := context.Background()
	s, n, _ := newService(t)
	h := start(t, s, "c1")
	alice := handoff.Agent{ID: "st_alice", Name: "Alice"}
	bob := handoff.Agent{ID: "st_bob", Name: "Bob"}

	got, err := s.TakeAs(ctx, "shop", h.ID, alice)
	if err != nil || got.Agent != "Alice" || got.AgentID != "st_alice" || got.Status != handoff.StatusTaken {
		t.Fatalf("TakeAs: %+v %v", got, err)
	}
	steps := []struct {
		who    handoff.Agent
		answer bool
		events int
	}{
		{alice, true, 0}, // Alice answers her own
		{alice, true, 0}, // again: listed once
		{handoff.Agent{ID: "st_al2", Name: "Alice"}, false, 1}, // another Alice takes over: an event
		{bob, false, 1},
		{bob, true, 0},
	}
	for i, st := range steps {
		if st.answer {
			got, err = s.Answered(ctx, "shop", h.ID, st.who)
		} else {
			got, err = s.TakeAs(ctx, "shop", h.ID, st.who)
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if evs := n.take(); len(evs) != st.events+boolInt(i == 0) {
			t.Fatalf("step %d: %d events, want %d", i, len(evs), st.events+boolInt(i == 0))
		}
	}
	if got.AgentID != "st_bob" || len(got.Answered) != 2 || got.Answered[0] != alice || got.Answered[1] != bob {
		t.Fatalf("after the steps: %+v", got)
	}
	if _, err := s.Answered(ctx, "rival", h.ID, bob); !errors.Is(err, handoff.ErrNotFound) {
		t.Fatalf("another merchant's Answered: %v", err)
	}
	back, err := s.ReturnAs(ctx, "shop", h.ID, bob, "refund sent")
	if err != nil || back.AgentID != "st_bob" || back.Agent != "Bob" || back.Status != handoff.StatusReturned {
		t.Fatalf("ReturnAs: %+v %v", back, err)
	}
	evs := n.take()
	if len(evs) != 1 || evs[0].Event.Type != host.EventHandback || evs[0].Event.Handoff.Agent != "Bob" || evs[0].Event.Handoff.Note != "refund sent" {
		t.Fatalf("handback event: %+v", evs)
	}
	if again, err := s.Get(ctx, "shop", h.ID); err != nil || len(again.Answered) != 2 {
		t.Fatalf("stored: %+v %v", again, err)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
