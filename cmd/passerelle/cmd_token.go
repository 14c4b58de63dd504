package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/passerelle/passerelle/host/identity"
)

var cmdToken = command{"token", "issue a sign-in token: person NAME [--surface web] | merchant ID | operator NAME", runToken}

// storeFile is the bbolt file inside the data directory.
const storeFile = "passerelle.db"

// openStore opens the data directory's bbolt file, waiting at most timeout
// for another process to release it.
func openStore(dir string, timeout time.Duration) (*bbolt.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, storeFile)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout})
	if errors.Is(err, bberrors.ErrTimeout) {
		return nil, fmt.Errorf("%s is locked by another process (is passerelle serve running with this data directory?); stop it and retry", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passerelle token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr("PASSERELLE_DATA", "data"), "data directory of the server (env PASSERELLE_DATA)")
	surface := fs.String("surface", "web", "surface of the person's account (web, whatsapp, messenger, instagram)")
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime of the token")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: passerelle token [--data DIR] person NAME [--surface web] [--ttl 24h]")
		fmt.Fprintln(stderr, "       passerelle token [--data DIR] merchant ID [--ttl 24h]")
		fmt.Fprintln(stderr, "       passerelle token [--data DIR] operator NAME [--ttl 24h]")
		fmt.Fprintln(stderr, "Prints a sign-in token, creating the person (by surface account NAME) or the merchant if absent.")
		fmt.Fprintln(stderr, "The server must be stopped: the store is opened directly.")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{"give a kind and a name, e.g. passerelle token person alice"}
	}
	kind, name := pos[0], pos[1]
	if kind != identity.RolePerson && kind != identity.RoleMerchant && kind != identity.RoleOperator {
		return usageError{fmt.Sprintf("unknown kind %q; use person, merchant or operator", kind)}
	}
	db, err := openStore(*data, time.Second)
	if err != nil {
		return err
	}
	defer db.Close()
	ids, err := identity.Open(db, identity.Config{Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	subject, created := name, false
	switch kind {
	case identity.RolePerson:
		p, c, err := ids.EnsurePerson(ctx, identity.Account{Surface: *surface, External: name}, name)
		if err != nil {
			return err
		}
		subject, created = p.ID, c
	case identity.RoleMerchant:
		_, c, err := ids.EnsureMerchant(ctx, name, name)
		if err != nil {
			return err
		}
		created = c
	}
	tok, err := ids.Issue(subject, kind, *ttl)
	if err != nil {
		return err
	}
	state := "existing"
	if created {
		state = "created"
	}
	fmt.Fprintf(stderr, "%s %s (%s), token valid for %s\n", kind, subject, state, *ttl)
	fmt.Fprintln(stdout, tok)
	return nil
}
