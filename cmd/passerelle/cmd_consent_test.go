package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host/consent"
)

func TestConsentVerify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, storeFile)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := consent.Open(db, consent.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, answer := range []string{"ans-one", "ans-two", "ans-three"} {
		if _, err := svc.OptIn(ctx, consent.Grant{Person: "p_ann", Business: "shop", Purpose: "updates",
			Prompt: consent.OptInPrompt("Shop", "updates"), Answer: answer}); err != nil {
			t.Fatalf("grant %d: %v", i, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	verify := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, append([]string{"consent", "verify"}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}

	if code, out, errOut := verify("--data", dir); code != 0 || !strings.Contains(out, "3 records, chain intact") {
		t.Fatalf("an intact ledger: exit %d, %q %q", code, out, errOut)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("ans-two")) {
		t.Fatal("the record is not in the file")
	}
	if err := os.WriteFile(path, bytes.ReplaceAll(data, []byte("ans-two"), []byte("ans-TWO")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := verify("--data", dir); code != 1 || !strings.Contains(errOut, "record 2 is broken") {
		t.Fatalf("an edited record: exit %d, %q %q; want exit 1 naming record 2", code, out, errOut)
	}

	if code, _, errOut := verify("--data", t.TempDir()); code != 1 || !strings.Contains(errOut, "no store at") {
		t.Errorf("a directory without a store: exit %d, %q", code, errOut)
	}
	if code, _, _ := verify("extra"); code != 2 {
		t.Errorf("an extra argument: exit %d, want 2", code)
	}
}
