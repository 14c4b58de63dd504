package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/services"
	"github.com/passerelle/passerelle/runtime/appbuild"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// The merchant's local app tools: build a module from a Go app directory and
// check a module against ABI passerelle_v1 (sdk/ABI.md).

var (
	cmdAppBuild = command{"app build", "build a Go mini-app to wasm with its manifest: DIR [-o FILE]", runAppBuild}
	cmdAppCheck = command{"app check", "check a module against ABI passerelle_v1 (FILE.wasm)", runAppCheck}
)

// parseInterspersed parses fs from args allowing flags before and after the
// positional arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func runAppBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passerelle app build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output file (default: DIR/../<id>.wasm)")
	module := fs.String("wasm", "", "embed the manifest into this already-built module instead of running `go build` (for apps written in other languages)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: passerelle app build [-o FILE] [-wasm MODULE] DIR")
		fmt.Fprintln(stderr, "Builds the Go mini-app in DIR for GOOS=wasip1 GOARCH=wasm as a reactor, embeds DIR/manifest.json and checks the result.")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give exactly one app directory, e.g. passerelle app build miniapps/echo"}
	}
	dir := pos[0]
	b, err := appbuild.Build(ctx, dir, *module, stderr)
	if err != nil {
		return err
	}
	dst := *out
	if dst == "" {
		dst = filepath.Join(filepath.Dir(filepath.Clean(dir)), b.Manifest.ID+".wasm")
	}
	report, err := checkModule(ctx, b.Wasm)
	if err != nil {
		return err
	}
	if len(report.Violations) > 0 {
		printViolations(stdout, dst, report.Violations)
		return fmt.Errorf("%s breaks %d ABI rule(s); nothing was written", dir, len(report.Violations))
	}
	if err := writeFileAtomic(dst, b.Wasm); err != nil {
		return err
	}
	size := fmt.Sprintf("%.1f MiB", float64(len(b.Wasm))/(1<<20))
	if len(b.Wasm) < 1<<20 { // a C module is tens of KB
		size = fmt.Sprintf("%d KiB", (len(b.Wasm)+1023)>>10)
	}
	fmt.Fprintf(stdout, "built %s: %s %s, %s, permissions %s\n", dst, b.Manifest.ID, b.Manifest.Version,
		size, permList(b.Manifest.Permissions))
	return nil
}

// writeFileAtomic writes data to dst through a temporary file renamed into
// place, so that no reader ever sees half a file.
func writeFileAtomic(dst string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(dst), ".passerelle-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func runAppCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passerelle app check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: passerelle app check [-json] FILE.wasm")
		fmt.Fprintln(stderr, "Checks a module against ABI passerelle_v1 without running it; exits 1 if it breaks a rule.")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give exactly one module, e.g. passerelle app check miniapps/echo.wasm"}
	}
	wasm, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	report, err := checkModule(ctx, wasm)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else if len(report.Violations) > 0 {
		printViolations(stdout, pos[0], report.Violations)
	} else {
		m := report.Manifest
		fmt.Fprintf(stdout, "%s: ok, ABI passerelle_v1\n", pos[0])
		fmt.Fprintf(stdout, "  app:         %s %s (%s)\n", m.ID, m.Version, m.Name)
		fmt.Fprintf(stdout, "  permissions: %s\n", permList(m.Permissions))
		for _, line := range groupImports(report.Imports) {
			fmt.Fprintf(stdout, "  imports:     %s\n", line)
		}
		fmt.Fprintf(stdout, "  exports:     %s\n", strings.Join(report.Exports, ", "))
	}
	if n := len(report.Violations); n > 0 {
		return fmt.Errorf("%s breaks %d rule(s)", pos[0], n)
	}
	return nil
}

// checkModule runs the sandbox's conformance check against the operations
// the platform serves: the real host services, opened on a throwaway store
// (Check never runs the module, so they serve nothing).
func checkModule(ctx context.Context, wasm []byte) (*sandbox.Report, error) {
	dir, err := os.MkdirTemp("", "passerelle-check-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	db, err := bbolt.Open(filepath.Join(dir, "check.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	svc, err := services.Open(db, services.Config{})
	if err != nil {
		return nil, err
	}
	defer svc.Close()
	eng, err := sandbox.New(ctx, sandbox.Config{CacheDir: appbuild.CompileCacheDir(), Funcs: svc.Funcs(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer eng.Close(ctx)
	return eng.Check(ctx, wasm)
}

// groupImports turns "module.name" entries into one line per module:
// "passerelle_v1: chat_send, event_read".
func groupImports(imports []string) []string {
	var order []string
	names := map[string][]string{}
	for _, imp := range imports {
		mod, name, ok := strings.Cut(imp, ".")
		if !ok {
			mod, name = imp, ""
		}
		if _, seen := names[mod]; !seen {
			order = append(order, mod)
		}
		if name != "" && !slices.Contains(names[mod], name) {
			names[mod] = append(names[mod], name)
		}
	}
	lines := make([]string, len(order))
	for i, mod := range order {
		ns := names[mod]
		slices.Sort(ns)
		lines[i] = mod + ": " + strings.Join(ns, ", ")
	}
	return lines
}

func printViolations(w io.Writer, file string, vs []sandbox.Violation) {
	fmt.Fprintf(w, "%s: %d problem(s)\n", file, len(vs))
	for _, v := range vs {
		fmt.Fprintf(w, "[%s] %s\n  problem: %s\n  fix:     %s\n", v.Rule, v.Where, v.Problem, v.Fix)
	}
}

func permList(ps []host.Permission) string {
	if len(ps) == 0 {
		return "(none)"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}
