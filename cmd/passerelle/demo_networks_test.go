package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/host/identity"
)

// phoneClient drives a simulated person's phone page over HTTP, as the
// page's own script does.
type phoneClient struct {
	t    *testing.T
	base string // the phone page's URL
}

func (c phoneClient) post(what string, form url.Values) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+"/"+what, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("POST %s %v: %s %s", what, form, resp.Status, b)
	}
}

func (c phoneClient) thread() []metasim.Bubble {
	c.t.Helper()
	resp, err := http.Get(c.base + "/thread")
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var th []metasim.Bubble
	if err := json.NewDecoder(resp.Body).Decode(&th); err != nil {
		c.t.Fatalf("the thread: %v", err)
	}
	return th
}

// await waits for a business message after the first `after` bubbles that
// satisfies ok, and returns it with the thread's length.
func (c phoneClient) await(after int, what string, ok func(metasim.Bubble) bool) (metasim.Bubble, int) {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		th := c.thread()
		for _, b := range th[min(after, len(th)):] {
			if b.From == "business" && ok(b) {
				return b, len(th)
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no %s in the phone's thread: %+v", what, th)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tap taps the choice of b whose title starts with prefix.
func (c phoneClient) tap(b metasim.Bubble, prefix string) string {
	c.t.Helper()
	for _, ch := range b.Choices {
		if strings.HasPrefix(ch.Title, prefix) {
			c.post("tap", url.Values{"message": {b.ID}, "choice": {ch.ID}})
			return ch.Title
		}
	}
	c.t.Fatalf("no choice %q in %+v", prefix, b)
	return ""
}

func hasChoice(prefix string) func(metasim.Bubble) bool {
	return func(b metasim.Bubble) bool {
		for _, ch := range b.Choices {
			if strings.HasPrefix(ch.Title, prefix) {
				return true
			}
		}
		return false
	}
}

// TestDemoLunchOnWhatsApp starts the demo as `passerelle demo --data DIR`
// does and plays Bruno on his simulated WhatsApp: from his phone page he
// says hi, picks a dish from the menu list, allows his name and pays in
// the prompts the host draws, and the receipt arrives in his WhatsApp
// thread. Every step went through the demo's webhook route, the connector
// runtime and the simulator's Send API, as the server's metrics count, and
// his wallet was charged once. A second start on the same data directory
// opens the connection secrets the first sealed.
func TestDemoLunchOnWhatsApp(t *testing.T) {
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	data := t.TempDir()
	d, err := startDemo(ctx, demoOptions{Addr: "127.0.0.1:0", Data: data, Only: []string{"lunch", "shop"}, Config: sharedCompileCache}, log, t.Output())
	if err != nil {
		t.Fatalf("start the demo: %v", err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			d.close(context.Background())
		}
	})
	if st, err := os.Stat(filepath.Join(data, "secret.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the demo's secret key file: %v, %v", st, err)
	}
	var bruno demoPhone
	var names []string
	for _, ph := range d.nets.phones {
		names = append(names, ph.Name+"/"+string(ph.Network))
		if ph.Name == "Bruno" {
			bruno = ph
		}
	}
	if strings.Join(names, " ") != "Bruno/whatsapp Chloé/messenger Deniz/instagram" {
		t.Fatalf("phones %v", names)
	}
	if !strings.HasPrefix(bruno.URL, d.nets.base+"/phone/whatsapp/") {
		t.Fatalf("Bruno's phone page %q", bruno.URL)
	}
	page, err := http.Get(bruno.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != http.StatusOK || !strings.Contains(string(body), "Bistro Lumière") {
		t.Fatalf("Bruno's phone page: %s, business name not shown", page.Status)
	}
	if m := metric(t, d, "passerelle_connector_webhook_requests_total", `network="whatsapp"`, `outcome="verified"`); m != 1 {
		t.Fatalf("the WhatsApp webhook was verified %v times at start, want 1", m)
	}

	phone := phoneClient{t, bruno.URL}
	phone.post("say", url.Values{"text": {"hi"}})
	menu, n := phone.await(0, "the menu list", func(b metasim.Bubble) bool { return b.Kind == "list" })
	phone.tap(menu, "Tomato soup")
	size, n := phone.await(n, "the size buttons", hasChoice("Regular"))
	phone.tap(size, "Regular")
	side, n := phone.await(n, "the side buttons", hasChoice("No side"))
	phone.tap(side, "No side")
	allow, n := phone.await(n, "the name prompt", hasChoice("Allow"))
	phone.tap(allow, "Allow")
	pay, n := phone.await(n, "the payment prompt", hasChoice("Pay "))
	if title := phone.tap(pay, "Pay "); title != "Pay 6.50 EUR" {
		t.Fatalf("the payment prompt's button %q", title)
	}
	receipt, _ := phone.await(n, "the receipt", func(b metasim.Bubble) bool { return strings.HasPrefix(b.Text, "Receipt") })
	if !strings.Contains(receipt.Text, "Total paid: €6.50") {
		t.Fatalf("receipt %q", receipt.Text)
	}

	person, err := d.p.svc.Identity.PersonByAccount(ctx, identity.Account{Surface: "whatsapp", External: bruno.ID})
	if err != nil || person.ID != bruno.PersonID {
		t.Fatalf("the person of Bruno's WhatsApp: %+v, %v (want %s)", person, err, bruno.PersonID)
	}
	bal, err := d.p.svc.Pay.Balances(ctx, person.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bal[demoCurrency] != demoFunds-6_50 {
		t.Fatalf("Bruno's wallet holds %d cents, want %d", bal[demoCurrency], demoFunds-6_50)
	}
	// Hi, the list reply, two button replies, two prompt answers: six
	// messages through the webhook route; the menu, two button sets, two
	// prompts and the receipt out through the Send API.
	atLeast(t, d, 6, "WhatsApp webhooks accepted", "passerelle_connector_webhook_requests_total", `network="whatsapp"`, `outcome="accepted"`)
	atLeast(t, d, 6, "WhatsApp sends", "passerelle_connector_sends_total", `network="whatsapp"`, `outcome="sent"`)
	atLeast(t, d, 2, "host prompts answered on WhatsApp", "passerelle_connector_prompt_answers_total", `network="whatsapp"`)

	// Chloé on Messenger (to the same bistro) and Deniz on Instagram (to
	// the shop) are answered through their connections too.
	for _, ph := range d.nets.phones[1:] {
		c := phoneClient{t, ph.URL}
		c.post("say", url.Values{"text": {"hi"}})
		first, _ := c.await(0, "an answer to "+ph.Name, func(b metasim.Bubble) bool { return true })
		if first.Text == "" && len(first.Choices) == 0 && len(first.Elements) == 0 {
			t.Fatalf("%s on %s got an empty answer: %+v", ph.Name, ph.Network, first)
		}
	}
	for _, network := range []string{"messenger", "instagram"} {
		atLeast(t, d, 1, "sends on "+network, "passerelle_connector_sends_total", `network="`+network+`"`, `outcome="sent"`)
	}

	// Meta's statuses are the messages' states: lunch, which asks for
	// them, gets status events; shop, which does not, gets none; the
	// figures count both.
	atLeast(t, d, 1, "lunch's messages read on WhatsApp", "passerelle_gateway_app_message_states_total", `app="lunch"`, `surface="whatsapp"`, `state="read"`)
	atLeast(t, d, 1, "lunch's messages delivered on Messenger", "passerelle_gateway_app_message_states_total", `app="lunch"`, `surface="messenger"`, `state="delivered"`)
	atLeast(t, d, 1, "shop's messages read on Instagram", "passerelle_gateway_app_message_states_total", `app="shop"`, `surface="instagram"`, `state="read"`)
	atLeast(t, d, 2, "status events lunch handled", "passerelle_gateway_app_events_total", `app="lunch"`, `type="status"`)
	if m := metric(t, d, "passerelle_gateway_app_events_total", `app="shop"`, `type="status"`); m != 0 {
		t.Fatalf("shop, which does not ask for status events, handled %v", m)
	}
	figs, err := d.p.states.Figures(ctx, "lunch")
	if err != nil || len(figs) == 0 {
		t.Fatalf("lunch's message figures: %+v, %v", figs, err)
	}

	done := make(chan struct{})
	go func() { d.close(context.Background()); close(done) }()
	select {
	case <-done:
		closed = true
	case <-time.After(60 * time.Second):
		t.Fatal("the demo did not stop")
	}

	// The kept data directory: the next demo opens the secrets this one
	// sealed and connects the same accounts again, under the same ids.
	before := d.nets.conns
	d2, err := startDemo(ctx, demoOptions{Addr: "127.0.0.1:0", Data: data, Only: []string{"lunch"}, Config: sharedCompileCache}, log, t.Output())
	if err != nil {
		t.Fatalf("start the demo again on its data directory: %v", err)
	}
	defer d2.close(context.Background())
	if d2.nets.conns["whatsapp"] != before["whatsapp"] || d2.nets.conns["whatsapp"] == "" {
		t.Fatalf("WhatsApp connection %q after restart, %q before", d2.nets.conns["whatsapp"], before["whatsapp"])
	}
	if len(d2.nets.phones) != 2 {
		t.Fatalf("with lunch only, %d phones, want Bruno's and Chloé's", len(d2.nets.phones))
	}
}

// atLeast waits until the metric sum reaches want. A message shows on the
// phone as soon as the simulator's Send API takes it, before the connector
// has its answer and counts the send, so a count read right after the
// phone shows the message may still be one short.
func atLeast(t *testing.T, d *demo, want float64, what, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		m := metric(t, d, name, labels...)
		if m >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v %s, want at least %v", m, what, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metric sums the samples of name whose labels include every one of labels,
// from the demo server's /metrics.
func metric(t *testing.T, d *demo, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(d.p.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		var v float64
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			if _, err := fmt.Sscan(line[i+1:], &v); err == nil {
				sum += v
			}
		}
	}
	return sum
}
