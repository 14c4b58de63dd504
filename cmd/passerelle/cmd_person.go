package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/runtime/registry"
	"github.com/passerelle/passerelle/runtime/replay"
)

// The operator's commands for a person's data, on the server's data
// directory (the server stopped).
var (
	cmdPersonForget = command{"person forget", "remove a person's recorded events, on their deletion request: PERSON [--data DIR]", runPersonForget}
	cmdPersonRevoke = command{"person revoke", "withdraw a scope a person granted an app and redact it from recordings: PERSON APP SCOPE [--data DIR]", runPersonRevoke}
)

// personFlags parses --data and the positional arguments of a person command.
func personFlags(name, usage string, args []string, stderr io.Writer, n int) (string, []string, error) {
	fs := flag.NewFlagSet("passerelle "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr("PASSERELLE_DATA", "data"), "data directory of the server (env PASSERELLE_DATA); stop the server first")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", nil, err
	}
	if len(pos) != n {
		return "", nil, usageError{"usage: passerelle " + name + " " + usage}
	}
	return *data, pos, nil
}

func runPersonForget(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	data, pos, err := personFlags("person forget", "PERSON [--data DIR]", args, stderr, 1)
	if err != nil {
		return err
	}
	db, err := openStore(data, time.Second)
	if err != nil {
		return err
	}
	defer db.Close()
	rec, err := replay.Open(db, replay.Config{})
	if err != nil {
		return err
	}
	n, err := rec.Forget(pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed %d recorded events of %s\n", n, pos[0])
	return nil
}

func runPersonRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	data, pos, err := personFlags("person revoke", "PERSON APP SCOPE [--data DIR]", args, stderr, 3)
	if err != nil {
		return err
	}
	person, appID, scope := pos[0], pos[1], identity.Scope(pos[2])
	if scope != identity.ScopeProfile && scope != identity.ScopePhone {
		return usageError{fmt.Sprintf("unknown scope %q; use %s or %s", scope, identity.ScopeProfile, identity.ScopePhone)}
	}
	db, err := openStore(data, time.Second)
	if err != nil {
		return err
	}
	defer db.Close()
	reg, err := registry.Open(db, registry.Options{})
	if err != nil {
		return err
	}
	a, err := reg.App(appID)
	if err != nil {
		return err
	}
	ids, err := identity.Open(db, identity.Config{Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	if err := ids.Revoke(ctx, person, host.AppRef{Merchant: a.Merchant, App: a.ID}, scope); err != nil {
		return err
	}
	rec, err := replay.Open(db, replay.Config{})
	if err != nil {
		return err
	}
	// identity.profile answers carry both scopes' fields: redact them either way.
	n, err := rec.RedactProfile(person, a.Merchant, a.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s withdrew %s from %s; %d recorded events redacted\n", person, scope, a.ID, n)
	return nil
}
