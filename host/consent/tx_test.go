package consent_test

import (
	"errors"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
)

// commitTx applies tx's effects in one store transaction, as the runtime
// commits an event.
func commitTx(db *bbolt.DB, tx *host.Tx) error {
	if err := db.Update(tx.Apply); err != nil {
		return err
	}
	tx.Committed()
	return nil
}

// Inside an event a one-time subscription is used up only when the event
// commits: a dropped event leaves it, a second message of the same event
// finds it used, and two events that both use it conflict at the commit.
func TestCheckTxSubscription(t *testing.T) {
	e := newEnv(t, consent.Config{})
	sub := e.subscribe("p_ann", "lunch", "table-ready")
	msg := func(id string) consent.Message {
		return consent.Message{Person: "p_ann", Business: "lunch", App: "lunch", Template: "table-ready", ID: id}
	}

	dropped := &host.Tx{}
	if _, err := e.svc.CheckTx(ctx, dropped, msg("m_0")); err != nil {
		t.Fatal(err)
	}
	if recs, _ := e.svc.Records(ctx, sub.Seq+1, 0); len(recs) != 0 {
		t.Fatalf("a staged message wrote %d records before its commit", len(recs))
	}

	first, second := &host.Tx{}, &host.Tx{}
	d, err := e.svc.CheckTx(ctx, first, msg("m_1"))
	if err != nil || d.Relies != sub.Seq {
		t.Fatalf("first: %+v %v", d, err)
	}
	if _, err := e.svc.CheckTx(ctx, first, msg("m_1b")); status(err) != host.StatusNotOptedIn {
		t.Fatalf("second message of the same event: %v, want not_opted_in", err)
	}
	if _, err := e.svc.CheckTx(ctx, second, msg("m_2")); err != nil {
		t.Fatalf("another event before the first committed: %v", err)
	}
	if err := commitTx(e.db, first); err != nil {
		t.Fatal(err)
	}
	if err := commitTx(e.db, second); !errors.Is(err, host.ErrTxConflict) {
		t.Fatalf("second event's commit: %v, want a conflict", err)
	}
	recs, _ := e.svc.Records(ctx, sub.Seq+1, 0)
	if len(recs) != 2 || recs[0].Kind != consent.KindConsumption || recs[1].Message != "m_1" {
		t.Fatalf("records: %+v", recs)
	}
	// Run again, the second event is refused.
	if _, err := e.svc.CheckTx(ctx, &host.Tx{}, msg("m_2")); status(err) != host.StatusNotOptedIn {
		t.Fatalf("second event run again: %v", err)
	}
}

// A keyword inside an event's transaction is decided at once and written
// only when the transaction commits: a dropped transaction leaves no
// record and no note that the message was seen; the committed one writes
// the record once; a second transaction for the same message decided
// before the first committed conflicts at its commit, and decided again
// it is a duplicate, with no confirmation to send.
func TestInboundTx(t *testing.T) {
	e := newEnv(t, consent.Config{})
	e.touch("p_ann", "lunch")
	in := consent.Inbound{Person: "p_ann", Business: "lunch", BusinessName: "Lunch", App: "app", Surface: "web",
		Conversation: "cv_web", Message: "m_stop", Text: " stop "}

	dropped := &host.Tx{}
	r, err := e.svc.InboundTx(ctx, dropped, in)
	if err != nil || r.Keyword != consent.KeywordStop || r.Text != consent.StopText("Lunch") || r.Duplicate {
		t.Fatalf("decided %+v, %v", r, err)
	}
	if recs, _ := e.svc.Records(ctx, 1, 0); len(recs) != 0 {
		t.Fatalf("a keyword not committed wrote %d records", len(recs))
	}
	if out, _ := e.svc.OptedOut(ctx, "p_ann", "lunch"); out {
		t.Fatal("a keyword not committed opted the person out")
	}

	first, second := &host.Tx{}, &host.Tx{}
	if _, err := e.svc.InboundTx(ctx, first, in); err != nil {
		t.Fatal(err)
	}
	if r, err := e.svc.InboundTx(ctx, second, in); err != nil || r.Duplicate {
		t.Fatalf("second decision before the first committed: %+v %v", r, err)
	}
	if err := commitTx(e.db, first); err != nil {
		t.Fatal(err)
	}
	if err := commitTx(e.db, second); !errors.Is(err, host.ErrTxConflict) {
		t.Fatalf("second commit: %v, want a conflict", err)
	}
	again := &host.Tx{}
	if r, err := e.svc.InboundTx(ctx, again, in); err != nil || !r.Duplicate || r.Text != "" {
		t.Fatalf("decided again: %+v %v, want a duplicate with nothing to send", r, err)
	}
	if err := commitTx(e.db, again); err != nil {
		t.Fatal(err)
	}
	recs, _ := e.svc.Records(ctx, 1, 0)
	if len(recs) != 1 || recs[0].Kind != consent.KindOptOut || recs[0].Message != "m_stop" {
		t.Fatalf("records %+v, want the one opt-out", recs)
	}
	if out, _ := e.svc.OptedOut(ctx, "p_ann", "lunch"); !out {
		t.Fatal("the committed STOP did not opt the person out")
	}

	// An ordinary message stages nothing: it only opens the window.
	plain := &host.Tx{}
	if r, err := e.svc.InboundTx(ctx, plain, consent.Inbound{Person: "p_bob", Business: "lunch", Text: "stop it"}); err != nil || r.Keyword != consent.KeywordNone {
		t.Fatalf("ordinary message: %+v %v", r, err)
	}
	if n := len(plain.Effects()); n != 0 {
		t.Fatalf("an ordinary message staged %d effects", n)
	}
}
