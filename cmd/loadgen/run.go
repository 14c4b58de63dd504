package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

type runOpts struct {
	addr     string
	secret   string
	tokens   string
	conns    int
	senders  int
	window   int
	duration time.Duration
	pid      int
	mode     string
	app      string
	prefix   string
	text     int
}

type client struct {
	person string
	ws     *websocket.Conn
	conv   string        // conversation with the peer (or the echo app)
	slots  chan struct{} // sends in flight
	lat    []int64       // latencies of received messages, ns (reader only)
	recv   atomic.Int64  // messages received from the peer
	acks   atomic.Int64
	errs   atomic.Int64
	ready  chan struct{}
	opened chan string // ack of open (app mode)
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o runOpts
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8087", "server address (loopback only)")
	fs.StringVar(&o.secret, "secret", "", "shared secret of 'loadgen serve' to mint tokens")
	fs.StringVar(&o.tokens, "tokens", "", `file of "person token" lines (instead of -secret)`)
	fs.IntVar(&o.conns, "conns", 1000, "connections to open (at most 20000)")
	fs.IntVar(&o.senders, "senders", 0, "connections that send (0 = all); each sends to its pair")
	fs.IntVar(&o.window, "window", 1, "sends in flight per sender")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send (at most 5m)")
	fs.IntVar(&o.pid, "pid", 0, "server PID, to read its resident memory from /proc")
	fs.StringVar(&o.mode, "mode", "p2p", "p2p (person to person) or app (person to the echo mini-app and back)")
	fs.StringVar(&o.app, "app", "echo", "mini-app to open in app mode (it must answer each message)")
	fs.StringVar(&o.prefix, "prefix", "lg", "person id prefix")
	fs.IntVar(&o.text, "text", 32, "message text bytes")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the load generator to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.conns < 2 || o.conns > 20000 || o.conns%2 != 0 {
		return errors.New("-conns must be an even number from 2 to 20000")
	}
	if o.senders <= 0 || o.senders > o.conns {
		o.senders = o.conns
	}
	if o.duration <= 0 || o.duration > 5*time.Minute {
		return errors.New("-duration must be between 0 and 5m")
	}
	if o.mode != "p2p" && o.mode != "app" {
		return fmt.Errorf("-mode %q: use p2p or app", o.mode)
	}
	if err := loopback(o.addr); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	toks, err := tokens(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "loadgen: %d connections, %d senders, window %d, %s, mode %s, GOMAXPROCS %d\n",
		o.conns, o.senders, o.window, o.duration, o.mode, runtime.GOMAXPROCS(0))
	rssBefore := rss(o.pid)

	// Connect everyone, a few hundred at a time.
	clients := make([]*client, o.conns)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200)
	var dialErr atomic.Value
	start := time.Now()
	for i := range clients {
		c := &client{person: fmt.Sprintf("%s-%d", o.prefix, i), slots: make(chan struct{}, o.window),
			ready: make(chan struct{}), opened: make(chan string, 1)}
		clients[i] = c
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.dial(ctx, o.addr, toks[c.person]); err != nil {
				dialErr.Store(err)
			}
		}()
	}
	wg.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		closeAll(clients)
		return err
	}
	fmt.Fprintf(out, "connected %d in %s\n", o.conns, time.Since(start).Round(time.Millisecond))
	if o.pid > 0 {
		time.Sleep(2 * time.Second) // let the server settle before reading its memory
	}
	rssIdle := rss(o.pid)
	if o.pid > 0 {
		fmt.Fprintf(out, "server RSS: %.1f MiB before, %.1f MiB with %d connections: %.1f KiB per connection\n",
			mib(rssBefore), mib(rssIdle), o.conns, float64(rssIdle-rssBefore)/1024/float64(o.conns))
	}

	// Establish the conversations: sender i talks to i^1 (or to the echo app).
	text := strings.Repeat("x", max(o.text, 1))
	for i := 0; i < o.senders; i++ {
		c := clients[i]
		if o.mode == "app" {
			c.send(map[string]any{"type": "open", "id": "open", "app": o.app})
		} else {
			c.send(map[string]any{"type": "send", "id": "hello-" + c.person, "to": clients[i^1].person, "text": "hi"})
		}
	}
	for i := 0; i < o.senders; i++ {
		select {
		case clients[i].conv = <-clients[i].opened:
		case <-time.After(30 * time.Second):
			closeAll(clients)
			return errors.New("a conversation was not acknowledged in 30s (app mode needs the echo app of 'loadgen serve')")
		}
	}
	time.Sleep(200 * time.Millisecond) // the greetings' deliveries
	for _, c := range clients {
		c.recv.Store(0)
		c.acks.Store(0)
	}

	// Send for the duration, each sender keeping its window full.
	lctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var sent atomic.Int64
	begin := time.Now()
	for i := 0; i < o.senders; i++ {
		c := clients[i]
		if c.conv == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			var buf []byte
			for {
				select {
				case c.slots <- struct{}{}:
				case <-lctx.Done():
					return
				}
				n++
				buf = append(buf[:0], `{"type":"send","id":"`...)
				buf = strconv.AppendInt(buf, int64(n), 10)
				buf = append(buf, `","conv":"`...)
				buf = append(buf, c.conv...)
				buf = append(buf, `","text":"`...)
				buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
				buf = append(buf, ' ')
				buf = append(buf, text...)
				buf = append(buf, `"}`...)
				if err := c.ws.WriteMessage(websocket.TextMessage, buf); err != nil {
					return
				}
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	for wait := time.Now().Add(5 * time.Second); time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
		var n int64
		for _, c := range clients {
			n += c.recv.Load()
		}
		if n >= sent.Load() {
			break // everything sent was delivered
		}
	}
	rssLoad := rss(o.pid)

	var recv, acks, errs int64
	var lat []int64
	for _, c := range clients {
		c.ws.Close()
	}
	for _, c := range clients {
		<-c.ready // reader finished
		recv += c.recv.Load()
		acks += c.acks.Load()
		errs += c.errs.Load()
		lat = append(lat, c.lat...)
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return time.Duration(lat[min(len(lat)-1, int(p*float64(len(lat))))])
	}
	fmt.Fprintf(out, "sent %d, acked %d, delivered %d, error frames %d in %s\n", sent.Load(), acks, recv, errs, elapsed.Round(time.Millisecond))
	fmt.Fprintf(out, "throughput: %.0f messages/s delivered (%.0f sent/s)\n", float64(recv)/elapsed.Seconds(), float64(sent.Load())/elapsed.Seconds())
	fmt.Fprintf(out, "latency send->delivery: p50 %s p99 %s max %s\n", q(0.50).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), q(1).Round(time.Microsecond))
	if o.pid > 0 {
		fmt.Fprintf(out, "server RSS under load: %.1f MiB\n", mib(rssLoad))
	}
	return nil
}

func closeAll(cs []*client) {
	for _, c := range cs {
		if c != nil && c.ws != nil {
			c.ws.Close()
		}
	}
}

func (c *client) dial(ctx context.Context, addr, tok string) error {
	u := url.URL{Scheme: "ws", Host: addr, Path: "/ws", RawQuery: "token=" + url.QueryEscape(tok)}
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	ws, _, err := d.DialContext(ctx, u.String(), nil)
	if err != nil {
		return fmt.Errorf("dial %s as %s: %w", addr, c.person, err)
	}
	c.ws = ws
	if err := ws.WriteJSON(map[string]any{"type": "hello", "v": 1, "surface": "web"}); err != nil {
		return err
	}
	for {
		var f map[string]any
		if err := ws.ReadJSON(&f); err != nil {
			return fmt.Errorf("hello as %s: %w", c.person, err)
		}
		if f["type"] == "error" {
			return fmt.Errorf("hello as %s: %v", c.person, f["message"])
		}
		if f["type"] == "ready" {
			break
		}
	}
	go c.read()
	return nil
}

func (c *client) send(v any) {
	if err := c.ws.WriteJSON(v); err != nil {
		c.errs.Add(1)
	}
}

// frame is what the reader needs of a server frame.
type frame struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Conv string `json:"conv"`
	From struct {
		ID string `json:"id"`
	} `json:"from"`
	Message struct {
		Text string `json:"text"`
	} `json:"message"`
}

func (c *client) read() {
	defer close(c.ready)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		// The hot frames are recognised without a JSON decode; the server
		// writes their fields in a fixed order.
		if bytes.HasPrefix(data, ackPrefix) && !bytes.Contains(data, []byte(`"id":"open"`)) && !bytes.Contains(data, []byte(`"id":"hello-`)) {
			c.acks.Add(1)
			select {
			case <-c.slots:
			default:
			}
			continue
		}
		if bytes.HasPrefix(data, msgPrefix) {
			if from, ts, ok := quickMsg(data); ok {
				if from != c.person {
					if n, err := strconv.ParseInt(ts, 10, 64); err == nil {
						c.lat = append(c.lat, time.Now().UnixNano()-n)
						c.recv.Add(1)
					}
				}
				continue
			}
		}
		var f frame
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		switch f.Type {
		case "ack":
			if f.ID == "open" || strings.HasPrefix(f.ID, "hello-") {
				c.opened <- f.Conv
				continue
			}
			c.acks.Add(1)
			select {
			case <-c.slots:
			default:
			}
		case "error":
			c.errs.Add(1)
			select {
			case <-c.slots:
			default:
			}
		case "msg":
			if f.From.ID == c.person {
				continue // our own message, delivered back to us
			}
			ts, _, ok := strings.Cut(f.Message.Text, " ")
			if !ok {
				continue
			}
			if n, err := strconv.ParseInt(ts, 10, 64); err == nil {
				c.lat = append(c.lat, time.Now().UnixNano()-n)
				c.recv.Add(1)
			}
		}
	}
}

var (
	ackPrefix = []byte(`{"type":"ack"`)
	msgPrefix = []byte(`{"type":"msg"`)
	fromKey   = []byte(`"from":{"kind":"`)
	idKey     = []byte(`"id":"`)
	textKey   = []byte(`"message":{"text":"`)
)

// quickMsg extracts the sender id and the timestamp that starts the text.
func quickMsg(data []byte) (from, ts string, ok bool) {
	i := bytes.Index(data, fromKey)
	if i < 0 {
		return "", "", false
	}
	rest := data[i+len(fromKey):]
	j := bytes.Index(rest, idKey)
	if j < 0 {
		return "", "", false
	}
	rest = rest[j+len(idKey):]
	k := bytes.IndexByte(rest, '"')
	if k < 0 {
		return "", "", false
	}
	from = string(rest[:k])
	t := bytes.Index(rest, textKey)
	if t < 0 {
		return "", "", false
	}
	rest = rest[t+len(textKey):]
	sp := bytes.IndexByte(rest, ' ')
	if sp < 0 {
		return "", "", false
	}
	return from, string(rest[:sp]), true
}

func tokens(o runOpts) (map[string]string, error) {
	out := map[string]string{}
	if o.tokens != "" {
		f, err := os.Open(o.tokens)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		s.Buffer(make([]byte, 64<<10), 64<<10)
		for s.Scan() {
			p, t, ok := strings.Cut(strings.TrimSpace(s.Text()), " ")
			if ok {
				out[p] = t
			}
		}
		if len(out) < o.conns {
			return nil, fmt.Errorf("%s has %d tokens; %d connections need as many (persons %s-0..)", o.tokens, len(out), o.conns, o.prefix)
		}
		return out, s.Err()
	}
	if o.secret == "" {
		return nil, errors.New("give -secret (the one 'loadgen serve' was started with) or -tokens FILE")
	}
	for i := 0; i < o.conns; i++ {
		p := fmt.Sprintf("%s-%d", o.prefix, i)
		t, err := mint([]byte(o.secret), p)
		if err != nil {
			return nil, err
		}
		out[p] = t
	}
	return out, nil
}

// rss returns the resident memory of pid in bytes (0 when unknown).
func rss(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
	}
	return 0
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
