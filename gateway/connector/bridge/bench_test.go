package bridge_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/passerelle/passerelle/gateway/connector/bridge"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

// benchPeople is how many people write in the benchmarks, in turn.
const benchPeople = 64

// benchBodies returns n signed-to-be webhook bodies: text messages from
// benchPeople people, each with its own wamid.
func benchBodies(n int, run string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = waText(fmt.Sprintf("1555%06d", i%benchPeople), "Bench", fmt.Sprintf("wamid.%s-%d", run, i), "hello")
	}
	return out
}

// post delivers every body to url, 8 at a time, and fails on a non-200.
func post(b *testing.B, url string, bodies [][]byte) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				code, err := metasim.Deliver(context.Background(), http.DefaultClient, url, []byte(appSecret), bodies[i])
				if err != nil || code != http.StatusOK {
					b.Errorf("webhook: %d %v", code, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

var benchRun atomic.Int64

// BenchmarkWebhookRecord is the baseline: a signed webhook verified,
// deduplicated and persisted in the inbox, nothing after it (the echo
// app's connection, no bridge reading).
func BenchmarkWebhookRecord(b *testing.B) {
	s := newStack(b, stackOpts{waApp: "echo", sync: true, configure: func(c *bridge.Config) { c.WhatsApp = nil }})
	bodies := benchBodies(b.N, fmt.Sprint("r", benchRun.Add(1)))
	b.ResetTimer()
	post(b, s.waHook, bodies)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkWebhookToSend is the whole path: a signed webhook verified,
// deduplicated and persisted, read from the inbox, the person and the
// conversation found, the message stored, the echo app run in the
// sandbox, its answer put in the durable outbox, rendered and sent to
// the WhatsApp simulator over HTTP. It ends when every answer was sent.
func BenchmarkWebhookToSend(b *testing.B) {
	s := newStack(b, stackOpts{waApp: "echo", sync: os.Getenv("NOSYNC") == "", configure: func(c *bridge.Config) { c.Rate = 1e6 }})
	// Warm up: the people, their conversations, the app's instances.
	warm := benchBodies(benchPeople, fmt.Sprint("w", benchRun.Add(1)))
	post(b, s.waHook, warm)
	waitFor(b, "the warm-up answers", func() bool { return len(s.wa.Sent()) >= benchPeople })
	base := len(s.wa.Sent())
	bodies := benchBodies(b.N, fmt.Sprint("s", benchRun.Add(1)))
	b.ResetTimer()
	post(b, s.waHook, bodies)
	waitFor(b, "every answer sent", func() bool { return len(s.wa.Sent())-base >= b.N })
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	waitFor(b, "every send counted", func() bool {
		return s.metric("passerelle_connector_sends_total", map[string]string{"outcome": "sent"}) == float64(b.N+benchPeople)
	})
	if n := len(s.wa.Sent()) - base; n != b.N {
		b.Fatalf("%d answers for %d events", n, b.N)
	}
}

// BenchmarkWebSocketEcho is the same app answering the same text, asked
// from the web client instead of a network: benchPeople people on their
// own WebSocket, each sending its share of b.N messages, one at a time,
// and reading the answers. The difference with BenchmarkWebhookToSend is what the
// network path costs (webhook, inbox, outbox, Send API).
func BenchmarkWebSocketEcho(b *testing.B) {
	s := newStack(b, stackOpts{waApp: "echo", sync: true})
	ctx := context.Background()
	type client struct {
		c    *wsClient
		conv string
		n    int
	}
	clients := make([]*client, benchPeople)
	for i := range clients {
		p, err := s.svc.Identity.CreatePerson(ctx, fmt.Sprint("Web ", i), "")
		if err != nil {
			b.Fatal(err)
		}
		c := &client{c: s.dial(p.ID)}
		c.c.send(map[string]any{"type": "open", "id": "o", "app": "echo"})
		c.c.until(func(f map[string]any) bool {
			if f["type"] == "ack" && f["id"] == "o" {
				c.conv, _ = f["conv"].(string)
				return true
			}
			return false
		})
		c.c.until(func(f map[string]any) bool {
			return f["type"] == "msg" && strings.Contains(fmt.Sprint(f["message"]), "card")
		})
		clients[i] = c
	}
	for i := range b.N {
		clients[i%benchPeople].n++
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One message at a time per person: a web client that sends
			// faster than the app answers is refused (app_busy).
			for i := range c.n {
				c.c.send(map[string]any{"type": "send", "id": fmt.Sprint("m", i), "conv": c.conv, "text": "hello"})
				c.c.until(func(f map[string]any) bool {
					return f["type"] == "msg" && strings.Contains(fmt.Sprint(f["message"]), "echo: hello")
				})
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
