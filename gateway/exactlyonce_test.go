package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sched"
)

// crashPoint is where txApps stops an event's life, as a crash would.
type crashPoint int

const (
	noCrash              crashPoint = iota
	crashBeforeCommit               // the reply is staged; nothing is committed
	crashBeforeCommitted            // the reply and the consumption are committed; nobody was handed the reply
	crashBeforeDone                 // committed and fanned out; the gateway was not told the event ran
)

func (p crashPoint) String() string {
	return [...]string{"no crash", "before the commit", "between the commit and the fan-out", "after the fan-out"}[p]
}

// ran is an event txApps ran, and where it stopped.
type ran struct {
	ev      host.AppEvent
	stopped crashPoint
}

// txApps stands in for the runtime's commit: an app that answers a
// message event with "echo: <text>" staged through the server's Stage,
// whose effects (Apply) and the event's consumption (Consume) commit in
// one transaction, after which the Committed hooks run and the gateway is
// told the event ran. crash stops message events at a point of their life,
// as a crash of the process would.
type txApps struct {
	e     *env
	sched *sched.Scheduler
	crash crashPoint
	ran   chan ran
}

func newTxApps(e *env, crash crashPoint) *txApps {
	return &txApps{e: e, sched: sched.New(sched.Config{Workers: 4}), crash: crash, ran: make(chan ran, 16)}
}

func (a *txApps) Catalog(context.Context) ([]host.AppInfo, error) {
	return []host.AppInfo{{ID: "lunch", Name: "Lunch"}}, nil
}

func (a *txApps) Submit(app string, ev host.AppEvent, done func(error)) error {
	srv, db := a.e.srv, a.e.db // this process's
	return a.sched.Submit(app, ev.Conversation, func(ctx context.Context, _ func()) {
		var effects []host.Effect
		stop := noCrash
		if ev.Event.Type == host.EventMessage {
			eff, err := srv.Stage(ctx, host.Outgoing{App: host.AppRef{Merchant: "m", App: app, Version: "1"}, Conversation: ev.Conversation,
				Message: &host.Message{Text: "echo: " + ev.Event.Text}, ID: "msg_" + ev.Event.ID})
			if err != nil {
				a.e.t.Errorf("stage: %v", err)
				return
			}
			effects = append(effects, eff)
			stop = a.crash
		}
		if stop == crashBeforeCommit {
			a.ran <- ran{ev, stop}
			return
		}
		err := db.Update(func(tx *bbolt.Tx) error {
			for _, e := range effects {
				if err := e.Apply(tx); err != nil {
					return err
				}
			}
			if ev.Consume == nil {
				return nil
			}
			return ev.Consume(tx)
		})
		if err != nil {
			a.e.t.Errorf("commit: %v", err)
		}
		if stop == crashBeforeCommitted {
			a.ran <- ran{ev, stop}
			return
		}
		for _, e := range effects {
			e.Committed()
		}
		if stop == crashBeforeDone {
			a.ran <- ran{ev, stop}
			return
		}
		if done != nil {
			done(err)
		}
		a.ran <- ran{ev, noCrash}
	})
}

// next returns the next event the app ran.
func (a *txApps) next(t *testing.T) ran {
	t.Helper()
	select {
	case r := <-a.ran:
		return r
	case <-time.After(time.Minute):
		t.Fatal("the app got no event")
		return ran{}
	}
}

// crash stops the process where it is (the server and the stores, if not
// stopped yet, and the database are closed, whatever the apps' workers
// were doing); then they are opened again on the same file with apps, and
// the server resumes.
// It returns how many kept events Resume handed on.
func (e *env) crash(apps gateway.Apps) int {
	e.t.Helper()
	e.stop()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.db = openDB(e.t, e.dir)
	e.start(func(c *gateway.Config) { c.Apps = apps })
	n, err := e.srv.Resume(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// texts returns the messages of conv in the store, "seq:text".
func (e *env) texts(conv string) []string {
	e.t.Helper()
	msgs, err := e.log.Range(context.Background(), conv, 0, 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, fmt.Sprint(m.Seq, ":", m.Msg.Text))
	}
	return out
}

// msgTexts returns the texts of the msg frames among frames, "seq:text".
func msgTexts(frames []map[string]any) []string {
	var out []string
	for _, f := range frames {
		if f["type"] == "msg" {
			out = append(out, fmt.Sprint(f["seq"], ":", f["message"].(map[string]any)["text"]))
		}
	}
	return out
}

// A person's message to an app, and the app's reply, across a crash at
// each point of the event's life: the app runs the event again after a
// crash before its commit, and never after; the person gets one reply
// either way, live or replayed by seq when reconnecting, and sees nothing
// of an event that did not commit.
func TestAppEventExactlyOnceAcrossACrash(t *testing.T) {
	tests := []struct {
		crash     crashPoint
		resumed   int  // events Resume hands to the app again
		liveReply bool // the person got the reply before the crash
	}{
		{crashBeforeCommit, 1, false},
		{crashBeforeCommitted, 0, false},
		{crashBeforeDone, 0, true},
		{noCrash, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.crash.String(), func(t *testing.T) {
			e := newEnv(t, nil)
			apps := newTxApps(e, tc.crash)
			e.stop()
			e.start(func(c *gateway.Config) { c.Apps = apps })
			t.Cleanup(func() { apps.sched.Close(context.Background()) })

			alice, _ := e.connect("alice", "web", nil)
			conv := alice.request(map[string]any{"type": "open", "id": "o1", "app": "lunch"})["conv"].(string)
			if r := apps.next(t); r.ev.Event.Type != host.EventOpen {
				t.Fatalf("first event %q, want open", r.ev.Event.Type)
			}
			ack := alice.request(map[string]any{"type": "send", "id": "m1", "conv": conv, "text": "hello"})
			if ack["type"] != "ack" || ack["seq"] != 1.0 {
				t.Fatalf("send: %v", ack)
			}
			first := apps.next(t)
			if first.ev.Event.Type != host.EventMessage || first.ev.Event.Text != "hello" || first.stopped != tc.crash {
				t.Fatalf("the app ran %+v, stopped %v", first.ev.Event, first.stopped)
			}
			if tc.liveReply {
				if got := msgTexts([]map[string]any{alice.until("msg")}); fmt.Sprint(got) != "[2:echo: hello]" {
					t.Fatalf("live reply %v", got)
				}
			}

			// The crash. The frames alice got until her connection closed
			// hold no reply of an event that did not commit.
			apps.sched.Close(context.Background())
			apps2 := newTxApps(e, noCrash)
			t.Cleanup(func() { apps2.sched.Close(context.Background()) })
			var before []map[string]any
			e.stop() // closes alice's connection; what was sent before is read below
			for {
				var f map[string]any
				_ = alice.ws.SetReadDeadline(time.Now().Add(time.Minute))
				if err := alice.ws.ReadJSON(&f); err != nil {
					break
				}
				before = append(before, f)
			}
			if got := msgTexts(before); len(got) != 0 {
				t.Fatalf("alice was sent %v before the crash, after the reply's turn", got)
			}
			if n := e.crash(apps2); n != tc.resumed {
				t.Fatalf("Resume handed on %d events, want %d", n, tc.resumed)
			}
			if tc.resumed == 1 {
				again := apps2.next(t)
				if again.ev.Event.ID != first.ev.Event.ID || again.ev.Event.Text != "hello" || again.ev.Person != "alice" ||
					again.ev.Conversation != conv || again.ev.Consume == nil {
					t.Fatalf("resumed event %+v (person %q, conv %q), want event %s again", again.ev.Event, again.ev.Person, again.ev.Conversation, first.ev.Event.ID)
				}
			}

			// Alice reconnects, having seen her own message.
			alice, frames := e.connect("alice", "web", map[string]uint64{conv: 1})
			replayed := msgTexts(frames)
			if fmt.Sprint(replayed) != "[2:echo: hello]" {
				t.Fatalf("replayed %v, want the reply once", replayed)
			}
			// Another message: its reply comes after anything the app would
			// still run of the first, on the conversation's one queue.
			alice.request(map[string]any{"type": "send", "id": "m2", "conv": conv, "text": "again"})
			if r := apps2.next(t); r.ev.Event.Text != "again" {
				t.Fatalf("after the restart the app ran %q, want only again", r.ev.Event.Text)
			}
			if got := msgTexts([]map[string]any{alice.until("msg")}); fmt.Sprint(got) != "[4:echo: again]" {
				t.Fatalf("reply after the restart %v", got)
			}
			if got, want := fmt.Sprint(e.texts(conv)), "[1:hello 2:echo: hello 3:again 4:echo: again]"; got != want {
				t.Fatalf("stored %s, want %s", got, want)
			}
			if kept, err := e.evs.List(context.Background()); err != nil || len(kept) != 0 {
				t.Fatalf("events still kept: %+v %v", kept, err)
			}
		})
	}
}
