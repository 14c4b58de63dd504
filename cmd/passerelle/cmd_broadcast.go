package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/broadcast"
)

// gatewaySender is how the broadcast engine reaches people: through the
// gateway, once the platform has started it.
type gatewaySender struct{ p *platform }

func (s gatewaySender) Conversation(ctx context.Context, app host.AppRef, person string) (string, error) {
	return s.p.gateway.AppConversation(ctx, app, person)
}

func (s gatewaySender) Send(ctx context.Context, out host.Outgoing) error {
	return s.p.gateway.Emit(ctx, out)
}

func (s gatewaySender) Sent(ctx context.Context, out host.Outgoing, since time.Time) (bool, error) {
	return s.p.gateway.Stored(ctx, out, since)
}

var cmdBroadcastSend = command{"broadcast send", "message everyone opted in: --id ID --app APP --purpose P|--template T --text TEXT|--message FILE [--wait]", runBroadcastSend}

// runBroadcastSend makes a broadcast (POST /v1/broadcasts) and, with
// --wait, follows it to its end.
func runBroadcastSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var id, app, purpose, template, text, file *string
	var wait *bool
	c, pos, err := publishFlags("broadcast send", args, stderr, func(fs *flag.FlagSet) {
		id = fs.String("id", "", "your id for the broadcast, e.g. winter-sale-2026; sending the same id again sends nobody twice")
		app = fs.String("app", "", "the app the message comes from")
		purpose = fs.String("purpose", "", "send to the people opted in to this purpose")
		template = fs.String("template", "", "or: to the people holding a one-time subscription to this template (it uses it)")
		text = fs.String("text", "", "the message's text")
		file = fs.String("message", "", "or: a JSON file holding the message ({\"text\":...} or {\"card\":{...}}); - reads standard input")
		wait = fs.Bool("wait", false, "follow the broadcast until everyone has an outcome")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, "broadcast send --id ID --app APP --purpose P --text TEXT"); err != nil {
		return err
	}
	req := broadcast.Request{ID: *id, App: *app, Purpose: *purpose, Template: *template}
	switch {
	case *id == "" || *app == "":
		return usageError{"give --id (your name for the broadcast) and --app (the app it speaks as)"}
	case (*purpose == "") == (*template == ""):
		return usageError{"give --purpose (people opted in to it) or --template (people holding a subscription to it), one of them"}
	case (*text == "") == (*file == ""):
		return usageError{"give the message with --text, or as JSON with --message FILE, one of them"}
	case *text != "":
		req.Message.Text = *text
	default:
		var data []byte
		if *file == "-" {
			data, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		} else {
			data, err = os.ReadFile(*file)
		}
		if err != nil {
			return fmt.Errorf("read the message: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req.Message); err != nil {
			return fmt.Errorf("%s is not a message such as {\"text\":\"hi\"} or {\"card\":{\"title\":...}}: %w", *file, err)
		}
	}
	var b broadcast.Broadcast
	if err := c.call(ctx, http.MethodPost, "/v1/broadcasts", req, &b); err != nil {
		return err
	}
	if b.Created.IsZero() {
		return fmt.Errorf("unexpected answer from the server: no broadcast")
	}
	fmt.Fprintf(stdout, "broadcast %s to %d people (%s)\n", b.ID, b.Total, audienceOf(b))
	if !*wait {
		printProgress(stdout, b)
		return nil
	}
	last := ""
	for {
		line := progressLine(b)
		if line != last {
			fmt.Fprintln(stdout, line)
			last = line
		}
		if b.State == broadcast.StateDone {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped following; the broadcast goes on: passerelle broadcast status %s", b.ID)
		case <-time.After(300 * time.Millisecond):
		}
		if err := c.call(ctx, http.MethodGet, "/v1/broadcasts/"+url.PathEscape(b.ID), nil, &b); err != nil {
			return err
		}
	}
}

func audienceOf(b broadcast.Broadcast) string {
	if b.Purpose != "" {
		return "opted in to " + b.Purpose
	}
	return "subscribed to " + b.Template
}

// progressLine is one line of a broadcast's progress.
func progressLine(b broadcast.Broadcast) string {
	line := fmt.Sprintf("%s: %d of %d sent, %d skipped", b.State, b.Sent, b.Total, b.Skipped)
	var reasons []string
	for r, n := range b.ByReason {
		if n > 0 {
			reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
		}
	}
	sort.Strings(reasons)
	if len(reasons) > 0 {
		line += " (" + strings.Join(reasons, ", ") + ")"
	}
	return line
}

func printProgress(w io.Writer, b broadcast.Broadcast) { fmt.Fprintln(w, progressLine(b)) }

var cmdBroadcastStatus = command{"broadcast status", "list your broadcasts, or one's progress: [ID] [--json]", runBroadcastStatus}

// runBroadcastStatus lists the merchant's broadcasts (GET /v1/broadcasts),
// or shows one (GET /v1/broadcasts/{id}).
func runBroadcastStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var asJSON *bool
	c, pos, err := publishFlags("broadcast status", args, stderr, func(fs *flag.FlagSet) {
		asJSON = fs.Bool("json", false, "print the answer as JSON")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 1, "broadcast status [ID]"); err != nil {
		return err
	}
	if len(pos) == 1 {
		var b broadcast.Broadcast
		if err := c.call(ctx, http.MethodGet, "/v1/broadcasts/"+url.PathEscape(pos[0]), nil, &b); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, b)
		}
		fmt.Fprintf(stdout, "broadcast %s from %s to the people %s, made %s\n", b.ID, b.App, audienceOf(b), b.Created.UTC().Format(time.RFC3339))
		printProgress(stdout, b)
		return nil
	}
	var out struct {
		Broadcasts []broadcast.Broadcast `json:"broadcasts"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/broadcasts", nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, out)
	}
	if len(out.Broadcasts) == 0 {
		fmt.Fprintln(stdout, "no broadcasts yet: make one with passerelle broadcast send")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAPP\tAUDIENCE\tSTATE\tSENT\tSKIPPED\tTOTAL\tMADE")
	for _, b := range out.Broadcasts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", b.ID, b.App, audienceOf(b), b.State, b.Sent, b.Skipped, b.Total, b.Created.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

var cmdBroadcastOutcomes = command{"broadcast outcomes", "each person's outcome of a broadcast: ID [--json]", runBroadcastOutcomes}

// runBroadcastOutcomes prints every person's outcome
// (GET /v1/broadcasts/{id}/outcomes, page after page), under the app's id
// for them.
func runBroadcastOutcomes(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var asJSON *bool
	c, pos, err := publishFlags("broadcast outcomes", args, stderr, func(fs *flag.FlagSet) {
		asJSON = fs.Bool("json", false, "print the outcomes as JSON")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "broadcast outcomes ID"); err != nil {
		return err
	}
	var all []broadcast.Outcome
	for after := 0; ; {
		var page struct {
			Next     int                 `json:"next"`
			Outcomes []broadcast.Outcome `json:"outcomes"`
		}
		if err := c.call(ctx, http.MethodGet, fmt.Sprintf("/v1/broadcasts/%s/outcomes?after=%d", url.PathEscape(pos[0]), after), nil, &page); err != nil {
			return err
		}
		all = append(all, page.Outcomes...)
		if len(page.Outcomes) == 0 || page.Next <= after {
			break
		}
		after = page.Next
	}
	if *asJSON {
		if all == nil {
			all = []broadcast.Outcome{}
		}
		return printJSON(stdout, all)
	}
	if len(all) == 0 {
		fmt.Fprintln(stdout, "nobody was in this broadcast's audience")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PERSON\tOUTCOME\tREASON\tMESSAGE\tRECORD")
	for _, o := range all {
		rec := "-"
		if o.Record != 0 {
			rec = fmt.Sprint(o.Record)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.ID, o.State, orDash(string(o.Reason)), orDash(o.Message), rec)
	}
	return tw.Flush()
}
