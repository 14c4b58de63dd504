package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/passerelle/passerelle/gateway/loadgen"
)

// benchPeople is how many people take turns in BenchmarkAppEvent.
const benchPeople = 128

// BenchmarkAppEvent is one app event from the gateway to the delivery, in
// one process on the real platform (bbolt, host services, the sandbox
// running miniapps/echo built by the Go toolchain, the gateway) over a
// loopback WebSocket: a person sends a text into their conversation with
// echo and waits until echo's reply reaches them. One op is one round trip:
// the send is parsed, stored and acknowledged, the message event goes to an
// app worker and into the wasm instance, echo's chat.send is stored and
// fanned out, and the person reads the reply's msg frame.
//
//	go test -run '^$' -bench AppEvent -benchtime 2000x -count 5 ./cmd/passerelle/
//
// allocs/op and cpu-ns/op (user and system CPU of the process per op) count
// both ends, the client's reads and writes included.
func BenchmarkAppEvent(b *testing.B) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	s, err := startLoadgenServer(ctx, loadgenServer{Addr: "127.0.0.1:0", Data: b.TempDir() + "/data", Apps: "../../miniapps", People: benchPeople, Pool: 1}, log, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer s.close(context.Background())
	logins, err := loadgen.ReadTokens(s.tokens)
	if err != nil {
		b.Fatal(err)
	}
	// A connection may send 50 frames a second after a burst of 100; the
	// round trips go to the people in turn so that none is rate limited.
	type person struct {
		ws   *websocket.Conn
		conv string
	}
	people := make([]person, len(logins))
	for i, l := range logins {
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+s.p.listener.Addr().String()+"/ws?token="+l.Token, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ws.Close()
		read := func() map[string]any {
			var f map[string]any
			if err := ws.ReadJSON(&f); err != nil {
				b.Fatal(err)
			}
			if f["type"] == "error" {
				b.Fatalf("error frame: %v", f)
			}
			return f
		}
		ws.WriteJSON(map[string]any{"type": "hello", "v": 1})
		for read()["type"] != "ready" {
		}
		ws.WriteJSON(map[string]any{"type": "open", "id": "open", "app": "echo"})
		people[i].ws = ws
		for people[i].conv == "" {
			if f := read(); f["type"] == "ack" && f["id"] == "open" {
				people[i].conv = f["conv"].(string)
			}
		}
	}
	want := []byte(`"text":"` + loadgen.EchoPrefix) // the reply's message, not the ack of the send
	roundTrip := func(i int) {
		p := people[(i%len(people)+len(people))%len(people)]
		id := fmt.Sprint("m", i)
		frame, _ := json.Marshal(map[string]any{"type": "send", "id": id, "conv": p.conv, "text": id})
		if err := p.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
			b.Fatal(err)
		}
		for {
			_, data, err := p.ws.ReadMessage()
			if err != nil {
				b.Fatal(err)
			}
			if bytes.HasPrefix(data, []byte(`{"type":"error"`)) {
				b.Fatalf("error frame (past %d round trips the people run out of their rate limit; give -benchtime Nx with a smaller N): %s", benchPeople*100, data)
			}
			if bytes.HasPrefix(data, []byte(`{"type":"msg"`)) && bytes.Contains(data, want) && strings.Contains(string(data), loadgen.EchoPrefix+id+`"`) {
				return
			}
		}
	}
	for i := range 20 { // warm the instance, the workers and the store
		roundTrip(-1 - i)
	}
	b.ReportAllocs()
	cpu := processCPU()
	i := 0
	for b.Loop() {
		roundTrip(i)
		i++
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// processCPU is the user and system CPU time the process has used, in
// nanoseconds: on a machine shared with other work it says more about the
// cost of a round trip than the time it took.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
