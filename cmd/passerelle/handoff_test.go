package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host/identity"
)

// inboxClient is a merchant's staff member using /v1/handoffs.
type inboxClient struct {
	t     *testing.T
	base  string
	token string
}

// do sends method path with body (nil or a value to encode) and decodes
// the answer into out; it returns the HTTP status.
func (c inboxClient) do(method, path string, body, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

type handoffList struct {
	Version  uint64 `json:"version"`
	Handoffs []struct {
		ID, App, Conversation, User, Surface, Reason, Summary, Status, Agent, Note string
		Fields                                                                     map[string]string
	} `json:"handoffs"`
}

type handoffRead struct {
	Handoff struct {
		ID, Status, Agent, Note string
	} `json:"handoff"`
	Messages []struct {
		Seq     uint64 `json:"seq"`
		From    string `json:"from"`
		Agent   string `json:"agent"`
		Message struct {
			Text string `json:"text"`
		} `json:"message"`
	} `json:"messages"`
}

type inboxError struct {
	Error struct{ Code, Message string } `json:"error"`
}

// TestHandoffToTheMerchantInbox: on the real server, with the support bot
// the demo carries, a person on a WebSocket asks for a human; the bot
// hands the conversation off; the person's next message is held from the
// bot and read in the merchant inbox over HTTP; an agent answers and the
// person sees it in the same conversation, under the business's and the
// agent's names; the agent hands back and the bot greets the person and
// answers their next message again.
func TestHandoffToTheMerchantInbox(t *testing.T) {
	ctx := context.Background()
	p := testPlatform(t)
	built, err := demoApps(ctx, "", []string{"support"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.svc.Identity.EnsureMerchant(ctx, "helpdesk", "Helpdesk"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.router.Upload(ctx, "helpdesk", "test", "support", built[0].Wasm); err != nil {
		t.Fatal(err)
	}
	tok, err := p.svc.Identity.Issue("helpdesk", identity.RoleMerchant, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	staff := inboxClient{t: t, base: p.url(), token: tok}
	other, _ := p.svc.Identity.Issue("someone-else", identity.RoleMerchant, time.Hour)
	stranger := inboxClient{t: t, base: p.url(), token: other}

	ana, _, err := p.svc.Identity.EnsurePerson(ctx, identity.Account{Surface: "web", External: "ana"}, "Ana")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := dialPerson(t, p, ana.ID)
	c.send(map[string]any{"type": "open", "id": "o1", "app": "support"})
	conv := c.until("ack")["conv"].(string)
	// appMsg reads frames up to the next message from the app's side of
	// the conversation (the bot or an agent).
	appMsg := func() (text string, from map[string]any, f map[string]any) {
		t.Helper()
		for {
			f := c.until("msg")
			from, _ := f["from"].(map[string]any)
			if from["kind"] != "app" {
				continue
			}
			if f["conv"] != conv {
				t.Fatalf("a message of the app's side in conversation %v, not %s", f["conv"], conv)
			}
			m := f["message"].(map[string]any)
			if card, ok := m["card"].(map[string]any); ok {
				return "card: " + fmt.Sprint(card["title"]) + ": " + fmt.Sprint(card["text"]), from, f
			}
			return fmt.Sprint(m["text"]), from, f
		}
	}
	if text, _, _ := appMsg(); !strings.HasPrefix(text, "card: Help centre") {
		t.Fatalf("the bot's answer to open: %q", text)
	}

	// The person asks for a human: the bot hands off and says so.
	c.send(map[string]any{"type": "send", "id": "s1", "conv": conv, "text": "I want to talk to a human"})
	if text, _, _ := appMsg(); !strings.Contains(text, "A person will answer here") {
		t.Fatalf("the bot's answer to a request for a human: %q", text)
	}
	var list handoffList
	if st := staff.do("GET", "/v1/handoffs", nil, &list); st != 200 || len(list.Handoffs) != 1 {
		t.Fatalf("GET /v1/handoffs: %d %+v", st, list)
	}
	ho := list.Handoffs[0]
	if ho.Conversation != conv || ho.Status != "waiting" || ho.Surface != "web" || ho.App != "support" ||
		ho.Reason != "asked for a person" || !strings.HasPrefix(ho.Fields["reference"], "S-") || ho.User == "" || ho.User == ana.ID {
		t.Fatalf("the handoff as the inbox lists it: %+v", ho)
	}
	var refused inboxError
	if st := stranger.do("GET", "/v1/handoffs/"+ho.ID, nil, &refused); st != 404 || refused.Error.Code != "handoff_not_found" {
		t.Fatalf("another merchant reading the handoff: %d %+v", st, refused)
	}

	// The person's next message is held from the bot (the router asked the
	// handoff state: the inbox's version moves) and is in the inbox.
	c.send(map[string]any{"type": "send", "id": "s2", "conv": conv, "text": "My parcel 42 is late"})
	var changed handoffList
	if st := staff.do("GET", fmt.Sprintf("/v1/handoffs?wait=%d", list.Version), nil, &changed); st != 200 || changed.Version == list.Version {
		t.Fatalf("the inbox did not learn of the held message: %d %+v", st, changed)
	}
	var read handoffRead
	staff.do("GET", "/v1/handoffs/"+ho.ID, nil, &read)
	if n := len(read.Messages); n == 0 || read.Messages[n-1].From != "person" || read.Messages[n-1].Message.Text != "My parcel 42 is late" {
		t.Fatalf("the inbox's conversation: %+v", read.Messages)
	}

	// The agent answers: the person sees it in the same conversation, as
	// the business's and the agent's, and the bot says who joined; the
	// bot answers nothing else.
	var reply struct {
		ID string `json:"id"`
	}
	if st := staff.do("POST", "/v1/handoffs/"+ho.ID+"/reply", map[string]string{"agent": "Sam", "text": "Hi, Sam here: parcel 42 ships today."}, &reply); st != 200 || reply.ID == "" {
		t.Fatalf("reply: %d %+v", st, reply)
	}
	var sawAgent, sawJoined bool
	for !sawAgent || !sawJoined {
		text, from, f := appMsg()
		switch {
		case text == "Hi, Sam here: parcel 42 ships today.":
			if from["agent"] != "Sam" || from["id"] != "support" || f["id"] != reply.ID {
				t.Fatalf("the agent's message arrived as %+v", f)
			}
			sawAgent = true
		case text == "Sam from our team has joined the conversation.":
			sawJoined = true
		default:
			t.Fatalf("while handed off the person got %q from the app's side", text)
		}
	}
	staff.do("GET", "/v1/handoffs/"+ho.ID, nil, &read)
	if read.Handoff.Status != "taken" || read.Handoff.Agent != "Sam" {
		t.Fatalf("after the reply the handoff is %+v", read.Handoff)
	}
	last := read.Messages[len(read.Messages)-1]
	found := false
	for _, m := range read.Messages {
		found = found || m.From == "agent" && m.Agent == "Sam" && m.Message.Text == "Hi, Sam here: parcel 42 ships today."
	}
	if !found {
		t.Fatalf("the agent's message is not in the inbox's conversation: %+v", read.Messages)
	}
	var after handoffRead
	staff.do("GET", fmt.Sprintf("/v1/handoffs/%s?after=%d", ho.ID, last.Seq), nil, &after)
	if len(after.Messages) != 0 {
		t.Fatalf("messages after the last one: %+v", after.Messages)
	}

	// Handed back: the bot gets the handback event and greets the person,
	// then answers their next message.
	if st := staff.do("POST", "/v1/handoffs/"+ho.ID+"/handback", map[string]string{"agent": "Sam", "note": "parcel ships today"}, nil); st != 200 {
		t.Fatalf("handback: %d", st)
	}
	if text, _, _ := appMsg(); !strings.Contains(text, "I am back") {
		t.Fatalf("the bot's answer to the handback: %q", text)
	}
	c.send(map[string]any{"type": "send", "id": "s3", "conv": conv, "text": "how do refunds work"})
	if text, _, _ := appMsg(); !strings.HasPrefix(text, "card: How do refunds work?: ") {
		t.Fatalf("after the handback the bot answered %q", text)
	}
	if st := staff.do("POST", "/v1/handoffs/"+ho.ID+"/reply", map[string]string{"agent": "Sam", "text": "one more thing"}, &refused); st != 409 || refused.Error.Code != "handoff_returned" {
		t.Fatalf("a reply after the handback: %d %+v", st, refused)
	}
	if staff.do("GET", "/v1/handoffs", nil, &list); len(list.Handoffs) != 0 {
		t.Fatalf("open handoffs after the handback: %+v", list.Handoffs)
	}
	if staff.do("GET", "/v1/handoffs?status=all", nil, &list); len(list.Handoffs) != 1 || list.Handoffs[0].Status != "returned" || list.Handoffs[0].Note != "parcel ships today" {
		t.Fatalf("every handoff after the handback: %+v", list.Handoffs)
	}
	logs, _ := p.registry.Logs("support", 0, 100)
	handback := false
	for _, l := range logs {
		handback = handback || strings.Contains(l.Message, "handback "+ho.ID+" by Sam: parcel ships today")
	}
	if !handback {
		t.Fatalf("the bot's log lacks the handback note: %+v", logs)
	}
}

// TestInboxCLI: passerelle inbox list, show, reply and handback answer a
// handed-off conversation from a terminal, against the real server.
func TestInboxCLI(t *testing.T) {
	ctx := context.Background()
	p := testPlatform(t)
	built, err := demoApps(ctx, "", []string{"support"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.svc.Identity.EnsureMerchant(ctx, "helpdesk", "Helpdesk"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.router.Upload(ctx, "helpdesk", "test", "support", built[0].Wasm); err != nil {
		t.Fatal(err)
	}
	tok, err := p.svc.Identity.Issue("helpdesk", identity.RoleMerchant, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ana, _, err := p.svc.Identity.EnsurePerson(ctx, identity.Account{Surface: "whatsapp", External: "ana"}, "Ana")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := dialPerson(t, p, ana.ID)
	c.send(map[string]any{"type": "open", "id": "o1", "app": "support"})
	conv := c.until("ack")["conv"].(string)
	c.send(map[string]any{"type": "send", "id": "s1", "conv": conv, "text": "human please"})
	deadline := time.Now().Add(time.Minute)
	var open []string
	for len(open) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the bot did not hand off")
		}
		time.Sleep(20 * time.Millisecond)
		hs, _ := p.svc.Handoffs.List(ctx, "helpdesk", true, 0)
		for _, h := range hs {
			open = append(open, h.ID)
		}
	}
	id := open[0]
	flags := []string{"--server", p.url(), "--token", tok}
	cli := func(args ...string) (int, string, string) { return runCLI(append(args, flags...)...) }

	if code, out, errOut := cli("inbox", "list"); code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "waiting") || !strings.Contains(out, "asked for a person") {
		t.Fatalf("inbox list: exit %d:\n%s%s", code, out, errOut)
	}
	if code, out, errOut := cli("inbox", "show", id); code != 0 || !strings.Contains(out, "summary: The person asked: human please") || !strings.Contains(out, "person: human please") {
		t.Fatalf("inbox show: exit %d:\n%s%s", code, out, errOut)
	}
	if code, _, errOut := cli("inbox", "reply", id, "hello"); code == 0 || !strings.Contains(errOut, "--agent") {
		t.Fatalf("a reply without an agent: exit %d: %s", code, errOut)
	}
	if code, out, errOut := cli("inbox", "reply", id, "Lea here, looking into it", "--agent", "Lea"); code != 0 || !strings.HasPrefix(out, "sent msg_") {
		t.Fatalf("inbox reply: exit %d:\n%s%s", code, out, errOut)
	}
	for {
		f := c.until("msg")
		if from, _ := f["from"].(map[string]any); from["agent"] == "Lea" {
			break
		}
	}
	if code, out, errOut := cli("inbox", "handback", id, "--agent", "Lea", "--note", "sorted"); code != 0 || !strings.Contains(out, "handed back to support") {
		t.Fatalf("inbox handback: exit %d:\n%s%s", code, out, errOut)
	}
	if code, _, errOut := cli("inbox", "handback", id, "--agent", "Lea"); code == 0 || !strings.Contains(errOut, "handoff_returned") {
		t.Fatalf("a second handback: exit %d: %s", code, errOut)
	}
	if code, out, errOut := cli("inbox", "list", "--all"); code != 0 || !strings.Contains(out, "handed back by Lea") {
		t.Fatalf("inbox list --all: exit %d:\n%s%s", code, out, errOut)
	}
}
