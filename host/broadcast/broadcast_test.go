package broadcast_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/broadcast"
	"github.com/passerelle/passerelle/host/consent"
)

func news(id string) broadcast.Request {
	return broadcast.Request{ID: id, App: "shop", Purpose: "news", Message: text("The winter collection is in")}
}

// TestCreateIsIdempotent: an id sent again with the same content returns
// the broadcast already made, and sends nobody again; with other content
// it is a conflict that says what to do; another merchant's id is its own.
func TestCreateIsIdempotent(t *testing.T) {
	e := newEnv(t, consent.Config{})
	e.optIn("p1", "m1", "shop", "news")
	e.optIn("p2", "m2", "shop", "news")
	b, created, err := e.eng.Create(ctx, "m1", news("winter"))
	if err != nil || !created || b.Total != 1 || b.State != broadcast.StateRunning {
		t.Fatalf("create: %+v created=%v err=%v", b, created, err)
	}
	e.drain("m1", "winter")
	again, created, err := e.eng.Create(ctx, "m1", news("winter"))
	if err != nil || created || again.ID != "winter" || again.Sent != 1 || again.State != broadcast.StateDone {
		t.Fatalf("same again: %+v created=%v err=%v", again, created, err)
	}
	if got := e.box.sends; got != 1 {
		t.Fatalf("%d messages stored, want 1", got)
	}
	other := news("winter")
	other.Message = text("Something else")
	_, _, err = e.eng.Create(ctx, "m1", other)
	if !errors.Is(err, broadcast.ErrConflict) || host.StatusOf(err) != host.StatusConflict || !strings.Contains(err.Error(), "give a new broadcast its own id") {
		t.Fatalf("other content: %v", err)
	}
	b2, created, err := e.eng.Create(ctx, "m2", news("winter"))
	if err != nil || !created || b2.Merchant != "m2" || b2.Total != 1 {
		t.Fatalf("m2's own winter: %+v %v %v", b2, created, err)
	}
	if _, err := e.eng.Get(ctx, "m3", "winter"); !errors.Is(err, broadcast.ErrNotFound) {
		t.Fatalf("m3 reads m1's broadcast: %v", err)
	}
	if _, err := e.eng.Outcomes(ctx, "m3", "winter", 0, 0); !errors.Is(err, broadcast.ErrNotFound) {
		t.Fatalf("m3 reads m1's outcomes: %v", err)
	}
	list, err := e.eng.List(ctx, "m1")
	if err != nil || len(list) != 1 || list[0].ID != "winter" || list[0].Merchant != "m1" {
		t.Fatalf("m1's list: %+v %v", list, err)
	}
}

// TestCreateRefusesBadRequests: each malformed request is bad_request,
// names the field and writes nothing.
func TestCreateRefusesBadRequests(t *testing.T) {
	e := newEnv(t, consent.Config{})
	for _, tc := range []struct {
		name string
		edit func(*broadcast.Request)
		want string
	}{
		{"no id", func(r *broadcast.Request) { r.ID = "" }, `"id" must be 1 to 64`},
		{"id with a space", func(r *broadcast.Request) { r.ID = "a b" }, `may only hold`},
		{"long id", func(r *broadcast.Request) { r.ID = strings.Repeat("a", 65) }, `"id" must be 1 to 64`},
		{"no app", func(r *broadcast.Request) { r.App = "" }, `"app" is missing`},
		{"neither", func(r *broadcast.Request) { r.Purpose = "" }, `exactly one of "purpose"`},
		{"both", func(r *broadcast.Request) { r.Template = "drop" }, `exactly one of "purpose"`},
		{"bad purpose", func(r *broadcast.Request) { r.Purpose = "Big News" }, `purpose "Big News" must be`},
		{"empty message", func(r *broadcast.Request) { r.Message = host.Message{} }, `"message": chat: invalid message: message: empty`},
		{"asset image", func(r *broadcast.Request) {
			r.Message = host.Message{Card: &host.Card{Title: "x", Image: "asset:a.png"}}
		}, `card.image`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := news("x1")
			tc.edit(&r)
			_, _, err := e.eng.Create(ctx, "m1", r)
			if !errors.Is(err, broadcast.ErrInvalid) || host.StatusOf(err) != host.StatusBadRequest || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want bad_request saying %q", err, tc.want)
			}
		})
	}
	if list, _ := e.eng.List(ctx, "m1"); len(list) != 0 {
		t.Fatalf("refused requests left broadcasts: %+v", list)
	}
}

// TestBroadcastReachesTheAudienceOnly: the people opted in to the purpose
// get the message, each with a send record in the ledger relying on their
// opt-in; people opted in to another purpose, another merchant's, and
// people who sent STOP are not in the snapshot at all.
func TestBroadcastReachesTheAudienceOnly(t *testing.T) {
	e := newEnv(t, consent.Config{})
	grants := map[string]consent.Record{"p1": e.optIn("p1", "m1", "shop", "news"), "p2": e.optIn("p2", "m1", "other", "news")}
	e.optIn("p3", "m1", "shop", "offers")
	e.optIn("p4", "m2", "shop", "news")
	e.optIn("p5", "m1", "shop", "news")
	e.say("p5", "m1", "STOP")
	e.say("p1", "m1", "hello") // an open window: still a business-initiated send, recorded

	if _, _, err := e.eng.Create(ctx, "m1", news("w")); err != nil {
		t.Fatal(err)
	}
	b := e.drain("m1", "w")
	if b.Total != 2 || b.Sent != 2 || b.Skipped != 0 {
		t.Fatalf("progress %+v, want 2 of 2 sent", b)
	}
	got := e.box.stored(t)
	want := map[string][]string{"p1": {broadcast.MessageID("m1", "w", "p1")}, "p2": {broadcast.MessageID("m1", "w", "p2")}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	outs, err := e.eng.Outcomes(ctx, "m1", "w", 0, 0)
	if err != nil || len(outs) != 2 {
		t.Fatalf("outcomes %+v %v", outs, err)
	}
	recs, err := e.svc.Records(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		p := personOf(o.ID)
		if o.ID != "o-shop-"+p || o.State != "sent" || o.Message != broadcast.MessageID("m1", "w", p) || o.Relies != grants[p].Seq {
			t.Fatalf("outcome %+v", o)
		}
		r := recs[o.Record-1]
		if r.Kind != consent.KindSend || r.Person != p || r.Message != o.Message || r.Purpose != "news" || r.App != "shop" || r.Relies != grants[p].Seq {
			t.Fatalf("ledger record %d of %s: %+v", o.Record, p, r)
		}
	}
	// p2 opted in through another app: the message goes to p2's conversation with the broadcasting app.
	if c := recs[outs[1].Record-1].Conversation; c != "a-shop-p2" {
		t.Fatalf("p2's message went to %q, want a-shop-p2", c)
	}
}

// TestStopWhileRunning: a STOP that arrives while the broadcast runs skips
// that person with opted_out; withdrawing the purpose skips with
// not_opted_in; a template broadcast uses each subscription once.
func TestStopWhileRunning(t *testing.T) {
	e := newEnv(t, consent.Config{})
	for _, p := range []string{"p1", "p2", "p3", "p4"} {
		e.optIn(p, "m1", "shop", "news")
	}
	if _, _, err := e.eng.Create(ctx, "m1", news("w")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.eng.Step(ctx, "m1", "w"); err != nil {
		t.Fatal(err)
	}
	e.say("p2", "m1", "stop")
	if _, err := e.svc.Revoke(ctx, "p3", "m1", "news", "consent screen"); err != nil {
		t.Fatal(err)
	}
	b := e.drain("m1", "w")
	if b.Sent != 2 || b.Skipped != 2 || b.ByReason[broadcast.ReasonOptedOut] != 1 || b.ByReason[broadcast.ReasonNotOptedIn] != 1 {
		t.Fatalf("progress %+v", b)
	}
	got := e.box.stored(t)
	if len(got["p2"]) != 0 || len(got["p3"]) != 0 || len(got["p1"]) != 1 || len(got["p4"]) != 1 {
		t.Fatalf("stored %v", got)
	}
	outs, _ := e.eng.Outcomes(ctx, "m1", "w", 1, 2)
	if len(outs) != 2 || outs[0].Reason != broadcast.ReasonOptedOut || outs[1].Reason != broadcast.ReasonNotOptedIn || outs[0].Message != "" {
		t.Fatalf("outcomes 1..2: %+v", outs)
	}

	e.subscribe("p1", "m1", "shop", "drop")
	drop := broadcast.Request{ID: "d1", App: "shop", Template: "drop", Message: text("Your table is ready")}
	if _, _, err := e.eng.Create(ctx, "m1", drop); err != nil {
		t.Fatal(err)
	}
	if b := e.drain("m1", "d1"); b.Sent != 1 {
		t.Fatalf("template broadcast: %+v", b)
	}
	drop.ID = "d2"
	if b, _, err := e.eng.Create(ctx, "m1", drop); err != nil || b.Total != 0 || b.State != broadcast.StateDone {
		t.Fatalf("the subscription was used: %+v %v", b, err)
	}
}

// TestPacesUnderTheSecondLimit: the business's per-second limit makes the
// broadcast wait, not skip; the per-person daily limit skips with
// rate_limited.
func TestPacesUnderTheSecondLimit(t *testing.T) {
	e := newEnv(t, consent.Config{Limits: consent.Limits{PerBusinessSecond: 2, PerPersonDay: 1}})
	for i := range 5 {
		e.optIn(fmt.Sprintf("p%d", i), "m1", "shop", "news")
	}
	if _, _, err := e.eng.Create(ctx, "m1", news("w")); err != nil {
		t.Fatal(err)
	}
	waits := 0
	for {
		b, wait, err := e.eng.Step(ctx, "m1", "w")
		if err != nil {
			t.Fatal(err)
		}
		if wait > 0 {
			waits++
			if wait > time.Second {
				t.Fatalf("wait %v, more than a second", wait)
			}
			e.clk.Add(wait)
		}
		if b.State == broadcast.StateDone {
			if b.Sent != 5 || waits != 2 {
				t.Fatalf("%+v after %d waits; want 5 sent after 2", b, waits)
			}
			break
		}
	}
	if _, _, err := e.eng.Create(ctx, "m1", news("again")); err != nil {
		t.Fatal(err)
	}
	if b := e.drain("m1", "again"); b.Sent != 0 || b.ByReason[broadcast.ReasonRateLimited] != 5 {
		t.Fatalf("second broadcast of the day: %+v", b)
	}
}

// TestRestartBetweenSendAndOutcome: a process that stopped after the
// message was stored and before its outcome was recorded does not send it
// again; one that stopped before storing it sends it once; one that
// stopped after the check and before anything else sends it once,
// without a second ledger record; a STOP during the outage wins.
func TestRestartBetweenSendAndOutcome(t *testing.T) {
	e := newEnv(t, consent.Config{})
	for _, p := range []string{"p1", "p2", "p3", "p4"} {
		e.optIn(p, "m1", "shop", "news")
	}
	if _, _, err := e.eng.Create(ctx, "m1", news("w")); err != nil {
		t.Fatal(err)
	}
	e.box.crash = "after"
	if _, _, err := e.eng.Step(ctx, "m1", "w"); !errors.Is(err, errCrash) {
		t.Fatalf("p1: %v", err)
	}
	e.restart()
	if b, _, err := e.eng.Step(ctx, "m1", "w"); err != nil || b.Sent != 1 {
		t.Fatalf("p1 after restart: %+v %v", b, err)
	}
	e.box.crash = "before"
	if _, _, err := e.eng.Step(ctx, "m1", "w"); !errors.Is(err, errCrash) {
		t.Fatalf("p2: %v", err)
	}
	e.restart()
	// p3's check was made, then the process stopped.
	if _, err := e.svc.Check(ctx, consent.Message{Person: "p3", Business: "m1", App: "shop", Purpose: "news",
		ID: broadcast.MessageID("m1", "w", "p3"), Initiated: true}); err != nil {
		t.Fatal(err)
	}
	e.box.crash = "after" // p2 this time: stored, then stopped; p4 sends STOP meanwhile
	if _, _, err := e.eng.Step(ctx, "m1", "w"); !errors.Is(err, errCrash) {
		t.Fatalf("p2 again: %v", err)
	}
	e.restart()
	e.say("p2", "m1", "STOP")
	e.say("p4", "m1", "STOP")
	b := e.drain("m1", "w")
	if b.Sent != 3 || b.ByReason[broadcast.ReasonOptedOut] != 1 {
		t.Fatalf("progress %+v; want p1, p2 (stored before its STOP), p3 sent, p4 opted out", b)
	}
	if len(e.box.twice) != 0 {
		t.Fatalf("stored twice: %v", e.box.twice)
	}
	got := e.box.stored(t)
	if len(got["p1"]) != 1 || len(got["p2"]) != 1 || len(got["p3"]) != 1 || len(got["p4"]) != 0 {
		t.Fatalf("stored %v", got)
	}
	sends := 0
	recs, _ := e.svc.Records(ctx, 1, 0)
	for _, r := range recs {
		if r.Kind == consent.KindSend {
			sends++
		}
	}
	if sends != 3 {
		t.Fatalf("%d send records, want 3 (one per person sent, none twice)", sends)
	}
}

// TestUndeliverable: a conversation that refuses the message skips its
// person with undeliverable; the others go on.
func TestUndeliverable(t *testing.T) {
	e := newEnv(t, consent.Config{})
	e.optIn("p1", "m1", "shop", "news")
	e.optIn("p2", "m1", "shop", "news")
	e.box.refuse = map[string]bool{"a-shop-p1": true}
	if _, _, err := e.eng.Create(ctx, "m1", news("w")); err != nil {
		t.Fatal(err)
	}
	if b := e.drain("m1", "w"); b.Sent != 1 || b.ByReason[broadcast.ReasonUndeliverable] != 1 {
		t.Fatalf("%+v", b)
	}
}

// TestRunnerResumesAtStart: a broadcast made before a restart is finished
// by the runner of the next process, without a call.
func TestRunnerResumesAtStart(t *testing.T) {
	e := newEnv(t, consent.Config{})
	for i := range 20 {
		e.optIn(fmt.Sprintf("p%02d", i), "m1", "shop", "news")
	}
	if _, _, err := e.eng.Create(ctx, "m1", news("w")); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, _, err := e.eng.Step(ctx, "m1", "w"); err != nil {
			t.Fatal(err)
		}
	}
	e.restart()
	if n, err := e.eng.Running(ctx); err != nil || n != 1 {
		t.Fatalf("running after restart: %d %v", n, err)
	}
	e.eng.Start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := e.eng.Get(ctx, "m1", "w")
		if err != nil {
			t.Fatal(err)
		}
		if b.State == broadcast.StateDone {
			if b.Sent != 20 || len(e.box.twice) != 0 {
				t.Fatalf("%+v, twice %v", b, e.box.twice)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the runner did not finish: %+v", b)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n, _ := e.eng.Running(ctx); n != 0 {
		t.Fatalf("%d still running", n)
	}
	// A broadcast made while the runner runs is sent without a call too.
	if _, _, err := e.eng.Create(ctx, "m1", news("w2")); err != nil {
		t.Fatal(err)
	}
	for {
		b, _ := e.eng.Get(ctx, "m1", "w2")
		if b.State == broadcast.StateDone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the runner did not take the new broadcast: %+v", b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
