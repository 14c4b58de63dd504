package metasim_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

// BenchmarkSayDelivered: a person's message through the simulator to a
// webhook on loopback that answers 200 (build, sign, queue, post), per
// message, waiting for all to be posted.
func BenchmarkSayDelivered(b *testing.B) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer hook.Close()
	sim, err := metasim.NewSim(metasim.SimConfig{Accounts: accounts(hook.URL), Users: people, Statuses: metasim.StatusConfig{Off: true}})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := sim.Say(metasim.WhatsApp, waUser, "Does it come in another color?"); err != nil {
			b.Fatal(err)
		}
	}
	if err := sim.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n := len(sim.Attempts()); n != min(b.N, 1000) {
		b.Fatalf("%d posts recorded for %d messages", n, b.N)
	}
}

// BenchmarkDeliverBaseline: the same signed notification posted to the
// same kind of webhook with metasim.Deliver, one after the other: the
// cost of the POST alone.
func BenchmarkDeliverBaseline(b *testing.B) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer hook.Close()
	acc := accounts(hook.URL)[0]
	body := metasim.Notification(metasim.WhatsAppMessage(acc, metasim.WAMessage{ID: "wamid.x", From: waUser, Name: "Sheena Nelson", Time: time.Now(), Text: "Does it come in another color?"}))
	c := &http.Client{}
	b.ReportAllocs()
	for b.Loop() {
		if status, err := metasim.Deliver(context.Background(), c, hook.URL, []byte(secret), body); err != nil || status != 200 {
			b.Fatal(status, err)
		}
	}
}

// BenchmarkSendAccepted: a text send through the simulator's Send API
// (checks, record, the conversation), in process.
func BenchmarkSendAccepted(b *testing.B) {
	sim, err := metasim.NewSim(metasim.SimConfig{Accounts: accounts(""), Users: people, Throughput: -1, NoWindows: true, Statuses: metasim.StatusConfig{Off: true}})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	b.ReportAllocs()
	for b.Loop() {
		if status, body := do(b, sim, "POST", "/v23.0/"+phone+"/messages", "Bearer "+token, waText(waUser, "hello")); status != 200 {
			b.Fatal(status, string(body))
		}
	}
}
