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
	return db.Update(func(btx *bbolt.Tx) error {
		for _, e := range tx.Effects() {
			if e.Apply != nil {
				if err := e.Apply(btx); err != nil {
					return err
				}
			}
		}
		return nil
	})
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
