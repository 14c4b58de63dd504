package consent_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host/consent"
)

// fillLedger writes a few records of every kind; the opt-in of p_bob to
// "marketing" carries the answer id "ans-edit-me".
func fillLedger(t *testing.T, e *env) (edited uint64) {
	t.Helper()
	e.optIn("p_ann", "shop", "updates")
	e.subscribe("p_ann", "lunch", "table-ready")
	r, err := e.svc.OptIn(ctx, consent.Grant{Person: "p_bob", Business: "shop", Purpose: "marketing", Prompt: consent.OptInPrompt("Shop", "marketing"), Answer: "ans-edit-me"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Check(ctx, consent.Message{Person: "p_ann", Business: "lunch", Template: "table-ready"}); err != nil {
		t.Fatal(err)
	}
	e.say("p_ann", "shop", "web", "STOP")
	e.say("p_ann", "shop", "web", "START")
	return r.Seq
}

func TestLedgerChain(t *testing.T) {
	e := newEnv(t, consent.Config{})
	fillLedger(t, e)
	head, err := e.svc.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := e.svc.Records(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	kinds := make([]string, len(recs))
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i+1, r.Seq)
		}
		kinds[i] = string(r.Kind)
	}
	if got, want := strings.Join(kinds, " "), "grant subscription grant consumption send opt_out opt_in"; got != want {
		t.Errorf("kinds %q, want %q", got, want)
	}
	if head.Seq != uint64(len(recs)) {
		t.Errorf("head %s, want seq %d", head, len(recs))
	}
	if h, _ := e.svc.Head(ctx); h != head {
		t.Errorf("Head %s, Verify %s", h, head)
	}
	if recs[0].SeenHash == "" || recs[0].Seen == "" {
		t.Errorf("a grant keeps what the person saw and its hash: %+v", recs[0])
	}
}

// TestLedgerEditedInTheFile edits a record's bytes in the bbolt file, as
// someone with the disk but not the code would, and expects Verify to name
// that record.
func TestLedgerEditedInTheFile(t *testing.T) {
	e := newEnv(t, consent.Config{})
	edited := fillLedger(t, e)
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(data, []byte("ans-edit-me")); n == 0 {
		t.Fatal("the record's answer id is not in the file")
	}
	data = bytes.ReplaceAll(data, []byte("ans-edit-me"), []byte("ans-edit-ME"))
	if err := os.WriteFile(e.path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	e.open()
	_, err = e.svc.Verify(ctx)
	var be *consent.BrokenError
	if !errors.As(err, &be) || !errors.Is(err, consent.ErrBroken) {
		t.Fatalf("Verify after the edit: %v, want a *BrokenError", err)
	}
	if be.Seq != edited || !strings.Contains(be.Reason, "does not match its contents") {
		t.Fatalf("Verify names record %d (%s), want %d", be.Seq, be.Reason, edited)
	}
}

func TestLedgerRecordsRemoved(t *testing.T) {
	cases := []struct {
		name   string
		remove func(n uint64) uint64 // which record to delete, given the last
		want   func(n uint64) uint64 // which record Verify names
		says   string
	}{
		{"from the middle", func(n uint64) uint64 { return 3 }, func(uint64) uint64 { return 3 }, "missing"},
		{"the last", func(n uint64) uint64 { return n }, func(n uint64) uint64 { return n }, "head says"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, consent.Config{})
			fillLedger(t, e)
			head, err := e.svc.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			err = e.db.Update(func(tx *bbolt.Tx) error {
				var k [8]byte
				binary.BigEndian.PutUint64(k[:], tc.remove(head.Seq))
				return tx.Bucket([]byte("consent.ledger")).Delete(k[:])
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = consent.Verify(ctx, e.db)
			var be *consent.BrokenError
			if !errors.As(err, &be) || be.Seq != tc.want(head.Seq) || !strings.Contains(be.Reason, tc.says) {
				t.Fatalf("Verify: %v, want record %d named (%s)", err, tc.want(head.Seq), tc.says)
			}
		})
	}
}

func TestVerifyWithoutLedger(t *testing.T) {
	e := newEnv(t, consent.Config{})
	head, err := consent.Verify(ctx, e.db)
	if err != nil || head.Seq != 0 {
		t.Fatalf("an empty ledger: %s, %v", head, err)
	}
}
