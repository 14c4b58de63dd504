package apps_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/sched"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// A looping app fills its queue and is refused, and holds no more than its
// share of the workers, while a neighbour's events run.
func TestSubmitKeepsALoopingAppToItsShare(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.upload(t, "m1", "calm", "1.0.0")
	wasm, err := os.ReadFile("testdata/guest.wasm")
	if err != nil {
		t.Fatal(err)
	}
	loop, err := wasmfile.EmbedManifest(wasm, &host.Manifest{ABI: "passerelle_v1", ID: "loop", Name: "Loop",
		Version: "1.0.0", Permissions: []host.Permission{host.PermChat}, Limits: host.Limits{EventTimeoutMS: 200}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.router.Upload(ctx, "m2", "m2", "loop", loop); err != nil {
		t.Fatal(err)
	}
	const workers, queue, perApp = 8, 4, 2
	r, err := apps.New(ctx, apps.Config{Registry: e.reg, Engine: e.eng, Identity: pseudonyms{}, Outbox: e.out,
		Workers: workers, Queue: queue, PerApp: perApp})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)

	// '~' makes the fixture loop until its deadline.
	refused := 0
	for i := 0; refused < 20; i++ {
		err := r.Submit("loop", host.AppEvent{Person: "p", Conversation: fmt.Sprint("l", i), Event: host.Event{Type: host.EventMessage, Text: "~"}}, nil)
		switch {
		case errors.Is(err, sched.ErrQueueFull):
			refused++
		case err != nil:
			t.Fatal(err)
		}
		if i > 1000 {
			t.Fatal("the looping app's queue never filled")
		}
	}
	for i := range 10 {
		done := make(chan error, 1)
		err := r.Submit("calm", host.AppEvent{Person: "p", Conversation: "c", Event: host.Event{Type: host.EventMessage, Text: fmt.Sprint("hi ", i)}},
			func(err error) { done <- err })
		if err != nil {
			t.Fatalf("neighbour event %d refused: %v", i, err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("neighbour event %d: %v", i, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("neighbour event %d never ran; the looping app: %+v", i, r.QueueStats("loop"))
		}
		if st := r.QueueStats("loop"); st.Running > perApp {
			t.Fatalf("the looping app runs %d events at once; its share is %d", st.Running, perApp)
		}
	}
	// Once an event ran into its deadline, the looping app runs one event
	// at a time.
	deadline := func() bool {
		for _, s := range e.reg.Stats("loop") {
			if s.Failures["deadline"] > 0 {
				return true
			}
		}
		return false
	}
	for give := time.Now().Add(30 * time.Second); !deadline() || r.QueueStats("loop").Running > 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(give) {
			t.Fatalf("the looping app still runs %+v after its events ran into their deadline", r.QueueStats("loop"))
		}
	}
	for range 20 {
		if st := r.QueueStats("loop"); st.Running > 1 {
			t.Fatalf("a slow app runs %d events at once", st.Running)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The refusals count in the looping app's figures and log.
	var got uint64
	for _, s := range e.reg.Stats("loop") {
		got += s.Failures[apps.KindQueueFull]
	}
	if got < uint64(refused) {
		t.Fatalf("figures count %d refused events, %d were refused", got, refused)
	}
	logs, _ := e.reg.Logs("loop", 0, 1000)
	found := false
	for _, l := range logs {
		found = found || l.Kind == apps.KindQueueFull
	}
	if !found {
		t.Fatalf("the app's log has no %s line: %+v", apps.KindQueueFull, logs)
	}
}
