package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/passerelle/passerelle/host/consent"
)

var cmdConsentVerify = command{"consent verify", "check the consent ledger's hash chain: [--data DIR]", runConsentVerify}

func runConsentVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passerelle consent verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr("PASSERELLE_DATA", "data"), "data directory of the server (env PASSERELLE_DATA)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: passerelle consent verify [--data DIR]")
		fmt.Fprintln(stderr, "Recomputes the consent ledger's hash chain and names the first record that was removed or edited.")
		fmt.Fprintln(stderr, "The store is opened read-only; stop the server first, or verify a copy of its data directory.")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Sprintf("unexpected argument %q; give the data directory with --data", pos[0])}
	}
	path := filepath.Join(*data, storeFile)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no store at %s (%v); give --data the server's data directory", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if errors.Is(err, bberrors.ErrTimeout) {
		return fmt.Errorf("%s is locked by another process (is passerelle serve running with this data directory?); stop it, or verify a copy", path)
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	head, err := consent.Verify(ctx, db)
	if err != nil {
		return err
	}
	if head.Seq == 0 {
		fmt.Fprintln(stdout, "consent ledger: empty")
		return nil
	}
	fmt.Fprintf(stdout, "consent ledger: %d records, chain intact, head %s\n", head.Seq, head)
	return nil
}

var cmdConsentAudience = command{"consent audience", "export your audience with its evidence: [--purpose P] [--json]", runConsentAudience}

// runConsentAudience prints the merchant's audience (GET
// /v1/consent/audience): one line per person, under the merchant's own
// id for them, or the whole export with its evidence with --json.
func runConsentAudience(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var purpose *string
	var asJSON *bool
	c, pos, err := publishFlags("consent audience", args, stderr, func(fs *flag.FlagSet) {
		purpose = fs.String("purpose", "", "only the people opted in to this purpose (default: every opt-in and unused subscription)")
		asJSON = fs.Bool("json", false, "print the export as JSON, with the evidence of every consent")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, "consent audience"); err != nil {
		return err
	}
	path := "/v1/consent/audience"
	if *purpose != "" {
		path += "?purpose=" + url.QueryEscape(*purpose)
	}
	var out struct {
		Merchant string           `json:"merchant"`
		Purpose  string           `json:"purpose,omitempty"`
		Members  []consent.Member `json:"members"`
	}
	if err := c.call(ctx, http.MethodGet, path, nil, &out); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(out.Members) == 0 {
		fmt.Fprintln(stdout, "nobody may be sent business-initiated messages yet: ask with consent.request_optin or consent.request_subscription")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PERSON\tOPT-INS\tSUBSCRIPTIONS\tSINCE")
	for _, m := range out.Members {
		var ins, subs []string
		var since time.Time
		for _, e := range append(append([]consent.Evidence(nil), m.OptIns...), m.Subscriptions...) {
			if since.IsZero() || e.Time.Before(since) {
				since = e.Time
			}
			if e.Purpose != "" {
				ins = append(ins, e.Purpose)
			} else {
				subs = append(subs, e.Template)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.ID, orDash(strings.Join(ins, ",")), orDash(strings.Join(subs, ",")), since.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}
