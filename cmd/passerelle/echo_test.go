package main

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/host/handoff"
	"github.com/passerelle/passerelle/host/identity"
)

// TestAnsweredFromMetasInbox: Chloé writes to Bistro Lumière on
// Messenger and the lunch bot answers; then someone of the bistro answers
// her from Meta's own inbox (the simulator posts the echo, as Meta does).
// The answer is stored in her conversation, from the Page's inbox; a
// handoff opens ("answered from Messenger inbox", taken by that inbox) so
// that the bot stops talking over the person; her next message waits in
// the merchant inbox, which shows the whole conversation. The same echo
// delivered again is stored once.
func TestAnsweredFromMetasInbox(t *testing.T) {
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	d, err := startDemo(ctx, demoOptions{Addr: "127.0.0.1:0", Data: t.TempDir(), Only: []string{"lunch"}, Config: sharedCompileCache}, log, t.Output())
	if err != nil {
		t.Fatalf("start the demo: %v", err)
	}
	t.Cleanup(func() { d.close(context.Background()) })
	var chloe demoPhone
	for _, ph := range d.nets.phones {
		if ph.Network == metasim.Messenger {
			chloe = ph
		}
	}
	phone := phoneClient{t, chloe.URL}
	phone.post("say", url.Values{"text": {"hi"}})
	_, n := phone.await(0, "the bot's answer", func(metasim.Bubble) bool { return true })

	phone.post("page-reply", url.Values{"text": {"Chloé, Marc from the bistro here: your table is ready."}})
	var ho handoff.Handoff
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := d.p.svc.Handoffs.List(ctx, "bistro", true, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].Status == handoff.StatusTaken {
			ho = list[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no handoff taken by the Page's inbox: %+v", list)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ho.Reason != "answered from Messenger inbox" || ho.Agent != "Messenger inbox" || ho.Surface != "messenger" ||
		!strings.Contains(ho.Summary, "your table is ready") {
		t.Fatalf("the handoff %+v", ho)
	}

	// Her next message is held for the staff, in the same conversation.
	phone.post("say", url.Values{"text": {"Great, on my way"}})
	var texts []string
	deadline = time.Now().Add(30 * time.Second)
	for {
		msgs, err := d.p.gateway.Messages(ctx, ho.Conversation, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		texts = texts[:0]
		for _, m := range msgs {
			texts = append(texts, m.From.Kind+":"+m.Msg.Text)
		}
		if strings.Contains(strings.Join(texts, "\n"), "person:Great, on my way") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the conversation: %q", texts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	pages := 0
	for _, s := range texts {
		if strings.HasPrefix(s, "page:") {
			pages++
			if s != "page:Chloé, Marc from the bistro here: your table is ready." {
				t.Fatalf("the echo was stored as %q", s)
			}
		}
	}
	if pages != 1 || !strings.HasPrefix(texts[0], "person:hi") {
		t.Fatalf("the conversation: %q", texts)
	}
	// The merchant inbox shows the whole conversation, the Page's answer
	// included.
	tok, err := d.p.svc.Identity.Issue("bistro", identity.RoleMerchant, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var read handoffRead
	if st := (inboxClient{t, d.p.url(), tok}).do("GET", "/v1/handoffs/"+ho.ID, nil, &read); st != 200 {
		t.Fatalf("the inbox read: %d", st)
	}
	var froms []string
	for _, m := range read.Messages {
		froms = append(froms, m.From+"/"+m.Agent)
	}
	if !strings.Contains(strings.Join(froms, " "), "page/Messenger inbox") || read.Handoff.Agent != "Messenger inbox" {
		t.Fatalf("the inbox shows %v, the handoff with %q", froms, read.Handoff.Agent)
	}
	if held, _ := d.p.svc.Handoffs.Holds(ctx, ho.Conversation); !held {
		t.Fatal("the conversation is not held for the staff")
	}
	// The bot did not answer her second message.
	if err := d.nets.sim.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, b := range phone.thread()[n:] {
		if b.From == "business" && !strings.Contains(b.Text, "Marc from the bistro") {
			t.Fatalf("the bot answered while the person of the bistro had the conversation: %+v", b)
		}
	}
}
