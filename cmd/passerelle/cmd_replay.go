package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/services"
	"github.com/passerelle/passerelle/runtime/appbuild"
	"github.com/passerelle/passerelle/runtime/apps"
	"github.com/passerelle/passerelle/runtime/replay"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// cmdAppReplay replays recorded events against a version (/v1/apps/{app}/replay).
var cmdAppReplay = command{"app replay", "replay recorded events against a version: APP --version V | --wasm FILE [--last N | --session CONV | --from T --to T] [--accept op,...]", runAppReplay}

// replayFlags are the flags of app replay that select events and accepted operations.
type replayFlags struct {
	version, from, to, session, accept, wasm *string
	last                                     *int
	asJSON                                   *bool
}

func runAppReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f replayFlags
	c, pos, err := publishFlags("app replay", args, stderr, func(fs *flag.FlagSet) {
		f.version = fs.String("version", "", "the version to replay against (required)")
		f.from = fs.String("from", "", "replay events from this time on (RFC 3339: 2026-01-02T15:04:05Z)")
		f.to = fs.String("to", "", "replay events before this time (RFC 3339)")
		f.session = fs.String("session", "", "replay the events of this conversation only")
		f.last = fs.Int("last", 0, "replay the last N events only (of those the other flags select)")
		f.accept = fs.String("accept", "", "operations whose differences are accepted, comma-separated (chat.send,kv.set; on_event for the status)")
		f.asJSON = fs.Bool("json", false, "print the report as JSON")
		f.wasm = fs.String("wasm", "", "replay on this machine against this module file (the server only sends the recorded events)")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "app replay APP --version V | --wasm FILE [--last N | --session CONV | --from T --to T] [--accept op,...]"); err != nil {
		return err
	}
	if *f.wasm != "" {
		return replayLocal(ctx, c, pos[0], &f, stdout)
	}
	if *f.version == "" {
		return usageError{"name the version to replay against with --version, or a module file with --wasm"}
	}
	req := map[string]any{"version": *f.version, "from": *f.from, "to": *f.to, "session": *f.session, "last": *f.last,
		"accept": splitOps(*f.accept)}
	var out struct {
		Report  json.RawMessage `json:"report"`
		Refused bool            `json:"refused"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(pos[0])+"/replay", req, &out); err != nil {
		return err
	}
	if *f.asJSON {
		_, err := fmt.Fprintf(stdout, "%s\n", out.Report)
		return err
	}
	var rep replay.Report
	if err := json.Unmarshal(out.Report, &rep); err != nil {
		return fmt.Errorf("unexpected report from the server: %w", err)
	}
	return printReplay(stdout, &rep)
}

// replayLocal fetches the recorded events f selects
// (/v1/apps/{app}/recordings) and replays them here against the module
// in f.wasm, in a sandbox offering the platform's operations (the real
// host services on a throwaway store, never called: every answer comes
// from the recording).
func replayLocal(ctx context.Context, c *apiClient, appID string, f *replayFlags, stdout io.Writer) error {
	wasm, err := os.ReadFile(*f.wasm)
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"from": *f.from, "to": *f.to, "session": *f.session} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *f.last != 0 {
		q.Set("last", strconv.Itoa(*f.last))
	}
	var out struct {
		Records []replay.Record `json:"records"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(appID)+"/recordings?"+q.Encode(), nil, &out); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "passerelle-replay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := bbolt.Open(filepath.Join(dir, "replay.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := services.Open(db, services.Config{})
	if err != nil {
		return err
	}
	defer svc.Close()
	eng, err := sandbox.New(ctx, sandbox.Config{CacheDir: appbuild.CompileCacheDir(), Funcs: svc.Funcs(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer eng.Close(ctx)
	sa, err := eng.Load(ctx, host.AppRef{App: appID, Version: *f.version}, wasm)
	if err != nil {
		return fmt.Errorf("load %s: %w", *f.wasm, err)
	}
	if id := sa.Manifest().ID; id != appID {
		return fmt.Errorf("%s is app %q, not %q; replay it against that app's recordings", *f.wasm, id, appID)
	}
	rep := replay.Run(ctx, apps.ReplayRunner(sa), out.Records, splitOps(*f.accept))
	rep.App = appID
	if *f.asJSON {
		return json.NewEncoder(stdout).Encode(&rep)
	}
	return printReplay(stdout, &rep)
}

// splitOps splits a comma-separated list of operations.
func splitOps(s string) []string {
	var out []string
	for op := range strings.SplitSeq(s, ",") {
		if op = strings.TrimSpace(op); op != "" {
			out = append(out, op)
		}
	}
	return out
}

// printReplay prints a replay report: a line per event, then for each
// divergence the first differing call as recorded and as replayed, one
// above the other, and a summary.
func printReplay(w io.Writer, rep *replay.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tTIME\tTYPE\tRECORDED BY\tCONVERSATION\tOUTCOME")
	for _, e := range rep.Events {
		outcome := string(e.Outcome)
		if d := e.Divergence; d != nil {
			outcome += fmt.Sprintf(" at call %d (%s)", d.Index, d.Op)
			if d.Accepted {
				outcome += ", accepted"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Event, e.Clock.Local().Format("2006-01-02 15:04:05"), e.Type, e.Version, orDash(e.Conversation), outcome)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range rep.Events {
		switch {
		case e.Outcome == replay.Trapped:
			fmt.Fprintf(w, "\n%s trapped: %s\n", e.Event, e.Failure)
		case e.Divergence != nil:
			d := e.Divergence
			fmt.Fprintf(w, "\n%s diverged at call %d:\n", e.Event, d.Index)
			if d.Op == replay.OpStatus {
				fmt.Fprintf(w, "  recorded  on_event returned %d\n  replayed  on_event returned %d\n", e.RecordedStatus, e.ReplayedStatus)
				continue
			}
			fmt.Fprintf(w, "  recorded  %s\n  replayed  %s\n", callText(d.Recorded), callText(d.Replayed))
		}
	}
	fmt.Fprintf(w, "\n%d events against %s: %d same, %d diverged (%d accepted), %d trapped\n",
		len(rep.Events), rep.Version, rep.Same, rep.Diverged, rep.Accepted, rep.Trapped)
	if rep.Refused() {
		fmt.Fprintln(w, "a promotion with --replay-last would be refused")
	}
	return nil
}

func callText(c *replay.Call) string {
	if c == nil {
		return "(no call)"
	}
	return fmt.Sprintf("%s %s -> %s %s", c.Op, c.Request, c.Status, c.Response)
}

// printRefusal prints the report that came with a refused promotion.
func printRefusal(w io.Writer, err error) {
	var ae *apiError
	if !errors.As(err, &ae) || len(ae.Report) == 0 {
		return
	}
	var rep replay.Report
	if json.Unmarshal(ae.Report, &rep) == nil {
		printReplay(w, &rep)
	}
}
