package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/chat"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/runtime/apptest"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// wsPerson is one person's WebSocket connection to a test platform.
type wsPerson struct {
	tb   tb
	ws   *websocket.Conn
	last time.Time // of the last ping
}

// tb is what the helpers need from a test or benchmark.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// frame is the part of a server frame the tests read.
type frame struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Conv    any    `json:"conv"` // a string, or a conversation object in a conv frame
	Seq     uint64 `json:"seq"`
	Code    string `json:"code"`
	Message json.RawMessage
	From    struct {
		Kind string `json:"kind"`
	} `json:"from"`
	Text string // message.text of a msg
}

// connectPerson makes a person named name, connects them and reads up to
// ready.
func connectPerson(t tb, p *platform, name string) *wsPerson {
	t.Helper()
	ctx := context.Background()
	person, _, err := p.svc.Identity.EnsurePerson(ctx, identity.Account{Surface: "web", External: name}, name)
	if err != nil {
		t.Fatalf("person %s: %v", name, err)
	}
	tok, err := p.svc.Identity.Issue(person.ID, "person", time.Hour)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(p.url(), "http")+"/ws?token="+tok, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &wsPerson{tb: t, ws: ws}
	c.send(map[string]any{"type": "hello", "v": 1, "surface": "web"})
	for c.next().Type != "ready" {
	}
	return c
}

func (c *wsPerson) send(v any) {
	c.tb.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

// read returns the next frame, or the error that ended the connection.
func (c *wsPerson) read(wait time.Duration) (frame, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(wait))
	var f frame
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, err
	}
	var m struct {
		Msg struct {
			Message struct {
				Text string `json:"text"`
			} `json:"message"`
		} `json:"msg"` // an ack carrying the message
		Message struct {
			Text string `json:"text"`
		} `json:"message"`
	}
	json.Unmarshal(data, &m)
	f.Text = m.Message.Text
	if f.Type == "ack" {
		f.Text = m.Msg.Message.Text
	}
	return f, nil
}

func (c *wsPerson) next() frame {
	c.tb.Helper()
	f, err := c.read(60 * time.Second)
	if err != nil {
		c.tb.Fatalf("read: %v", err)
	}
	return f
}

// open opens app and returns the conversation.
func (c *wsPerson) open(app string) string {
	c.tb.Helper()
	c.send(map[string]any{"type": "open", "id": "open-" + app, "app": app})
	for {
		f := c.next()
		if f.ID == "open-"+app {
			if f.Type != "ack" {
				c.tb.Fatalf("open %s: %s %s", app, f.Code, f.Message)
			}
			conv, _ := f.Conv.(string)
			return conv
		}
	}
}

// uploadFixture uploads testdata/NAME.wasm as app NAME of merchant labs.
func uploadFixture(t tb, p *platform, name string, limits host.Limits, perms ...host.Permission) {
	t.Helper()
	wasm, err := os.ReadFile("testdata/" + name + ".wasm")
	if err != nil {
		t.Fatalf("%v", err)
	}
	wasm, err = wasmfile.EmbedManifest(wasm, &host.Manifest{ABI: "passerelle_v1", ID: name, Name: name, Version: "1.0.0",
		Permissions: perms, Limits: limits})
	if err != nil {
		t.Fatalf("%v", err)
	}
	if _, _, err := p.router.Upload(context.Background(), "labs", "test", name, wasm); err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
}

// startTestPlatform is testPlatform with merchant labs.
func startTestPlatform(t testing.TB) *platform {
	t.Helper()
	p := testPlatform(t)
	if _, _, err := p.svc.Identity.EnsureMerchant(context.Background(), "labs", "Labs"); err != nil {
		t.Fatal(err)
	}
	return p
}

// pingEcho sends text to echo in conv and returns how long echo's answer
// took to arrive.
func (c *wsPerson) pingEcho(conv, text string) time.Duration {
	c.tb.Helper()
	time.Sleep(time.Until(c.last.Add(25 * time.Millisecond))) // under the gateway's 50 frames/s
	start := time.Now()
	c.last = start
	c.send(map[string]any{"type": "send", "id": text, "conv": conv, "text": text})
	for {
		f := c.next()
		if f.Type == "msg" && f.From.Kind == "app" && f.Text == "echo: "+text {
			return time.Since(start)
		}
		if f.Type == "error" && f.ID == text {
			c.tb.Fatalf("echo refused %q: %s", text, f.Code)
		}
	}
}

func quantiles(ds []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.99)
}

// BenchmarkNeighbourUnderLoop measures how long a person waits for echo's
// answer (miniapps/echo) when the platform is idle, and while 20 other
// people flood an app that loops until its deadline on every event
// (testdata/loop.wat), 5 messages a second each. Each phase is 200
// pings, or fewer if a minute is over first. It reports the neighbour's
// p50 and p99 in both phases, in milliseconds, the pings of the attacked
// phase and the loop app's refusals. Run it with -benchtime=1x: one
// iteration is the whole scenario.
func BenchmarkNeighbourUnderLoop(b *testing.B) {
	const attackers, rate, pings, phase = 20, 5, 200, time.Minute
	p := startTestPlatform(b)
	ctx := context.Background()
	if _, _, err := p.router.Upload(ctx, "labs", "test", "echo", apptest.Build(b, "../../miniapps/echo")); err != nil {
		b.Fatal(err)
	}
	uploadFixture(b, p, "loop", host.Limits{})
	for range b.N {
		calm := connectPerson(b, p, "calm")
		conv := calm.open("echo")
		for i := range 5 { // warm up
			calm.pingEcho(conv, fmt.Sprint("warm ", i))
		}
		var idle, attacked []time.Duration
		for i, end := 0, time.Now().Add(phase); i < pings && time.Now().Before(end); i++ {
			idle = append(idle, calm.pingEcho(conv, fmt.Sprint("idle ", i)))
		}

		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		busy := 0
		conns, convs := make([]*wsPerson, attackers), make([]string, attackers)
		for a := range attackers { // all open first: once flooded, loop refuses even open
			conns[a] = connectPerson(b, p, fmt.Sprint("attacker", a))
			convs[a] = conns[a].open("loop")
		}
		for a := range attackers {
			c, lconv := conns[a], convs[a]
			wg.Add(2)
			go func() { // reads what comes back: acks, and app_busy once refused
				defer wg.Done()
				for {
					f, err := c.read(time.Minute)
					if err != nil {
						return
					}
					if f.Code == "app_busy" {
						mu.Lock()
						busy++
						mu.Unlock()
					}
				}
			}()
			go func() {
				defer wg.Done()
				defer c.ws.Close()
				tick := time.NewTicker(time.Second / rate)
				defer tick.Stop()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-tick.C:
						_ = c.ws.SetWriteDeadline(time.Now().Add(2 * time.Second))
						if c.ws.WriteJSON(map[string]any{"type": "send", "id": fmt.Sprint("l", i), "conv": lconv, "text": "loop"}) != nil {
							return
						}
					}
				}
			}()
		}
		time.Sleep(5 * time.Second) // the flood fills whatever it can: 100 events/s, the loop app takes at most 4
		for i, end := 0, time.Now().Add(phase); i < pings && time.Now().Before(end); i++ {
			attacked = append(attacked, calm.pingEcho(conv, fmt.Sprint("attacked ", i)))
		}
		close(stop)
		calm.ws.Close()
		wg.Wait()

		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		i50, i99 := quantiles(idle)
		a50, a99 := quantiles(attacked)
		b.ReportMetric(ms(i50), "idle-p50-ms")
		b.ReportMetric(ms(i99), "idle-p99-ms")
		b.ReportMetric(ms(a50), "attacked-p50-ms")
		b.ReportMetric(ms(a99), "attacked-p99-ms")
		b.ReportMetric(float64(len(attacked)), "attacked-pings")
		b.ReportMetric(float64(busy), "loop-refused")
	}
}

// An app that sends 1,000 messages in one event (testdata/flood.wat) gets
// quota_exceeded past chat.MaxMessagesPerEvent; the person receives that
// many and stays connected, even without reading while the event ran.
func TestFloodingAppDoesNotDisconnectThePerson(t *testing.T) {
	p := startTestPlatform(t)
	uploadFixture(t, p, "flood", host.Limits{}, host.PermChat)
	ana := connectPerson(t, p, "ana")
	conv := ana.open("flood") // the open event floods
	// Read nothing until the event is over: everything it sent is queued.
	for give := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st := p.registry.Stats("flood"); len(st) == 1 && st[0].Events == 1 {
			break
		}
		if time.Now().After(give) {
			t.Fatal("the flood event never ended")
		}
	}
	ana.send(map[string]any{"type": "send", "id": "still-here", "conv": conv, "text": "still here?"})
	got := 0
	for {
		f, err := ana.read(time.Minute)
		if err != nil {
			t.Fatalf("after %d of the app's messages the connection ended: %v", got, err)
		}
		if f.Type == "msg" && f.From.Kind == "app" && f.Text == "flood" {
			got++
		}
		if f.ID == "still-here" {
			if f.Type != "ack" {
				t.Fatalf("the person's message was answered %s %s", f.Code, f.Message)
			}
			break
		}
	}
	if got != chat.MaxMessagesPerEvent {
		t.Fatalf("the person received %d of the app's messages, want %d (the cap)", got, chat.MaxMessagesPerEvent)
	}
	st := p.registry.Stats("flood")[0]
	if st.Errors != 0 {
		t.Fatalf("the event failed: %+v", st)
	}
}
