package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/bridge"
	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/handoff"
)

// inboxConversations is the merchant inbox's view of the conversations
// (api.Conversations): the gateway's, which starts after the API.
type inboxConversations struct{ p *platform }

func (c inboxConversations) Messages(ctx context.Context, conversation string, after uint64, limit int) ([]convlog.Message, error) {
	return c.p.gateway.Messages(ctx, conversation, after, limit)
}

func (c inboxConversations) Emit(ctx context.Context, out host.Outgoing) error {
	return c.p.gateway.Emit(ctx, out)
}

// answeredElsewhere opens a handoff for a conversation in which the
// business answered the person from another tool (Meta's own inbox), so
// that the app stops answering over a person of the business: it gets a
// handoff event (taken by "Messenger inbox"), the person's next messages
// wait in the merchant inbox, and a member of staff hands the
// conversation back. A conversation already handed off stays as it is.
func (p *platform) answeredElsewhere(ctx context.Context, e bridge.Elsewhere) error {
	if held, err := p.svc.Handoffs.Holds(ctx, e.Conv); err != nil || held {
		return err
	}
	a, err := p.registry.App(e.App.App)
	if err != nil {
		return err
	}
	tool := map[string]string{"messenger": "Messenger", "instagram": "Instagram"}[e.Network] + " inbox"
	ref := host.AppRef{Merchant: a.Merchant, App: a.ID, Version: a.Live}
	b, err := p.svc.Handoffs.Start(ctx, ref, e.Conv, e.Person, e.Network, handoff.Request{
		Reason:  "answered from " + tool,
		Summary: "Someone of the business answered the person from " + tool + ": \"" + clip(e.Text, 300) + "\". The app holds back until the conversation is handed back.",
	})
	if err != nil || b.Already {
		return err
	}
	if err := b.Commit(); err != nil {
		return err
	}
	_, err = p.svc.Handoffs.TakeAs(ctx, a.Merchant, b.Handoff.ID, handoff.Agent{Name: tool})
	return err
}

// clip shortens s to at most n characters.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// The merchant inbox's commands: thin clients of /v1/handoffs
// (gateway/api/API.md), for staff who answer from a terminal.
var (
	cmdInboxList     = command{"inbox list", "list the conversations your apps handed to your team: [--all]", runInboxList}
	cmdInboxShow     = command{"inbox show", "print a handed-off conversation with its context: ID", runInboxShow}
	cmdInboxReply    = command{"inbox reply", "answer the person in a handed-off conversation: ID TEXT --agent NAME", runInboxReply}
	cmdInboxHandback = command{"inbox handback", "hand a conversation back to its app: ID [--note TEXT] --agent NAME", runInboxHandback}
)

// handoffView is a handoff as /v1/handoffs answers it.
type handoffView struct {
	ID           string            `json:"id"`
	App          string            `json:"app"`
	Conversation string            `json:"conversation"`
	User         string            `json:"user"`
	Surface      string            `json:"surface"`
	Reason       string            `json:"reason"`
	Summary      string            `json:"summary"`
	Fields       map[string]string `json:"fields"`
	Status       string            `json:"status"`
	Agent        string            `json:"agent"`
	Note         string            `json:"note"`
	Created      int64             `json:"created"`
}

func (h handoffView) state() string {
	switch h.Status {
	case "taken":
		return "with " + h.Agent
	case "returned":
		return "handed back by " + h.Agent
	}
	return h.Status
}

func millis(ms int64) string { return time.UnixMilli(ms).Local().Format("2006-01-02 15:04") }

func runInboxList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var all *bool
	c, pos, err := publishFlags("inbox list", args, stderr, func(fs *flag.FlagSet) {
		all = fs.Bool("all", false, "list the conversations handed back too")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, "inbox list [--all]"); err != nil {
		return err
	}
	path := "/v1/handoffs"
	if *all {
		path += "?status=all"
	}
	var out struct {
		Handoffs []handoffView `json:"handoffs"`
	}
	if err := c.call(ctx, http.MethodGet, path, nil, &out); err != nil {
		return err
	}
	if len(out.Handoffs) == 0 {
		fmt.Fprintln(stdout, "no conversation is waiting for your team")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HANDOFF\tAPP\tSURFACE\tSTATE\tSINCE\tREASON")
	for _, h := range out.Handoffs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.App, orDash(h.Surface), h.state(), millis(h.Created), h.Reason)
	}
	return tw.Flush()
}

func runInboxShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, pos, err := publishFlags("inbox show", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "inbox show ID"); err != nil {
		return err
	}
	var out struct {
		Handoff  handoffView `json:"handoff"`
		Messages []struct {
			Time    int64        `json:"time"`
			From    string       `json:"from"`
			Agent   string       `json:"agent"`
			Message host.Message `json:"message"`
		} `json:"messages"`
		AnswerUntil int64 `json:"answer_until"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/handoffs/"+url.PathEscape(pos[0]), nil, &out); err != nil {
		return err
	}
	h := out.Handoff
	fmt.Fprintf(stdout, "%s: %s on %s, %s since %s\n", h.ID, h.App, orDash(h.Surface), h.state(), millis(h.Created))
	fmt.Fprintf(stdout, "reason:  %s\n", h.Reason)
	if h.Summary != "" {
		fmt.Fprintf(stdout, "summary: %s\n", h.Summary)
	}
	keys := make([]string, 0, len(h.Fields))
	for k := range h.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "%s: %s\n", k, h.Fields[k])
	}
	fmt.Fprintf(stdout, "person:  %s\n", h.User)
	if out.AnswerUntil != 0 {
		fmt.Fprintf(stdout, "answer until %s (%s takes a person's answers for 7 days after the last message)\n", millis(out.AnswerUntil), h.Surface)
	}
	if h.Note != "" {
		fmt.Fprintf(stdout, "note:    %s\n", h.Note)
	}
	fmt.Fprintln(stdout)
	for _, m := range out.Messages {
		who := m.From
		if m.From == "agent" || m.From == "page" { // page: written in the network's own inbox
			who = m.Agent
		}
		text := m.Message.Text
		if c := m.Message.Card; c != nil {
			text = strings.TrimSpace("[card] " + c.Title + " " + c.Text)
		}
		fmt.Fprintf(stdout, "%s  %s: %s\n", time.UnixMilli(m.Time).Local().Format("15:04"), who, text)
	}
	return nil
}

func agentFlag(fs *flag.FlagSet) *string {
	return fs.String("agent", os.Getenv("PASSERELLE_AGENT"), "your name as the person sees it (env PASSERELLE_AGENT)")
}

func runInboxReply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var agent *string
	c, pos, err := publishFlags("inbox reply", args, stderr, func(fs *flag.FlagSet) { agent = agentFlag(fs) })
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 2, 2, "inbox reply ID TEXT --agent NAME"); err != nil {
		return err
	}
	if *agent == "" {
		return usageError{"say who answers: --agent NAME (or PASSERELLE_AGENT), the name the person sees"}
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/handoffs/"+url.PathEscape(pos[0])+"/reply", map[string]string{"agent": *agent, "text": pos[1]}, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sent %s\n", out.ID)
	return nil
}

func runInboxHandback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var agent, note *string
	c, pos, err := publishFlags("inbox handback", args, stderr, func(fs *flag.FlagSet) {
		agent = agentFlag(fs)
		note = fs.String("note", "", "what you tell the app (its handback event carries it)")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "inbox handback ID [--note TEXT] --agent NAME"); err != nil {
		return err
	}
	if *agent == "" {
		return usageError{"say who hands back: --agent NAME (or PASSERELLE_AGENT)"}
	}
	var out struct {
		Handoff handoffView `json:"handoff"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/handoffs/"+url.PathEscape(pos[0])+"/handback", map[string]string{"agent": *agent, "note": *note}, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s handed back to %s\n", out.Handoff.ID, out.Handoff.App)
	return nil
}
