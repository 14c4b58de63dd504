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
	"github.com/passerelle/passerelle/host/identity"
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

// TestConsentAudienceCLI: on a running server, `passerelle consent
// audience` prints the merchant's audience under its own ids, with the
// evidence under --json, and never another merchant's people.
func TestConsentAudienceCLI(t *testing.T) {
	ctx := context.Background()
	p := testPlatform(t)
	ana, err := p.svc.Identity.CreatePerson(ctx, "Ana", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []consent.Grant{
		{Person: ana.ID, Business: "bistro", Template: "order-ready", Prompt: consent.SubscriptionPrompt("Bistro", "your order is ready")},
		{Person: ana.ID, Business: "other", Purpose: "updates", Prompt: consent.OptInPrompt("Other", "updates")},
	} {
		record := p.svc.Consent.OptIn
		if g.Template != "" {
			record = p.svc.Consent.Subscribe
		}
		if _, err := record(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := p.svc.Identity.Issue("bistro", identity.RoleMerchant, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	server := "http://" + p.listener.Addr().String()
	union := p.svc.Identity.UnionID("bistro", ana.ID)
	code, out, errOut := runCLI("consent", "audience", "--server", server, "--token", tok)
	if code != 0 || !strings.Contains(out, union) || !strings.Contains(out, "order-ready") || strings.Contains(out, ana.ID) {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI("consent", "audience", "--json", "--server", server, "--token", tok)
	if code != 0 || !strings.Contains(out, "your order is ready") || strings.Contains(out, "updates") {
		t.Fatalf("--json: exit %d:\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI("consent", "audience", "--purpose", "Not Valid", "--server", server, "--token", tok); code == 0 || !strings.Contains(errOut, "purpose") {
		t.Fatalf("a bad purpose: exit %d: %s", code, errOut)
	}
}
