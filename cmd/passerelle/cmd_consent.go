package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
