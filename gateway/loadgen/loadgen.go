// Package loadgen measures a Passerelle server from the outside, over
// loopback only: it opens many authenticated WebSocket clients, pairs them,
// sends person to person (or person to a mini-app and back) for a bounded
// time, and reports throughput, p50/p99 latency and the server's resident
// memory per connection.
//
// Tokens are minted with a shared secret for the gateway-only server of
// ServeBare, or read from a file of "person token" lines written for a real
// server (passerelle loadgen serve). In app mode the mini-app must answer
// every message with a text that starts with the message's text, after an
// optional fixed prefix (miniapps/echo answers "echo: " and the text): the
// latency is measured from a timestamp at the start of the text.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// EchoPrefix is what miniapps/echo puts before the text it repeats.
const EchoPrefix = "echo: "

// Bounds of a run: a load generator that cannot run away.
const (
	MaxConns    = 20000
	MaxDuration = 5 * time.Minute
)

// DefaultRate paces each sender below the gateway's default limit of 50
// frames per second per connection, beyond which frames are refused.
const DefaultRate = 45

// Mode says where messages go.
const (
	ModeP2P = "p2p" // person to person: sender i writes to person i^1
	ModeApp = "app" // person to a mini-app and back
)

// Login is one person the load generator connects as.
type Login struct {
	Person string
	Token  string
}

// Options configures Run.
type Options struct {
	Addr        string        // server address; loopback only
	Secret      string        // mint tokens for persons Prefix-0.. (gateway-only server)
	Logins      []Login       // or: the people to connect as, in order (from ReadTokens)
	Prefix      string        // person id prefix with Secret (default "lg")
	Conns       int           // connections, even, 2..MaxConns
	Senders     int           // connections that send (0 = all)
	Window      int           // sends in flight per sender (default 1)
	Rate        float64       // most sends per second per sender (default DefaultRate; < 0 = no pacing)
	Duration    time.Duration // how long to send, up to MaxDuration
	PID         int           // server PID, to read its resident memory from /proc (0 = do not)
	Mode        string        // ModeP2P or ModeApp
	App         string        // mini-app to open in app mode (default "echo")
	ReplyPrefix string        // in app mode, what the app puts before the echoed text (default EchoPrefix)
	Text        int           // message text bytes besides the timestamp (default 32)
	Settle      time.Duration // wait before reading the idle server's memory (default 2s with PID)
}

// Result is what a run measured.
type Result struct {
	Sent, Acked, Delivered, ErrorFrames int64
	// ErrorCodes counts the error frames by their code (app_busy,
	// rate_limited, ...).
	ErrorCodes                  map[string]int64
	Elapsed                     time.Duration
	P50, P99, Max               time.Duration
	RSSBefore, RSSIdle, RSSLoad int64 // bytes; 0 without PID
}

// Throughput is deliveries per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Delivered) / r.Elapsed.Seconds()
}

func (o *Options) check() error {
	if o.Conns < 2 || o.Conns > MaxConns || o.Conns%2 != 0 {
		return fmt.Errorf("connections must be an even number from 2 to %d, not %d", MaxConns, o.Conns)
	}
	if o.Senders <= 0 || o.Senders > o.Conns {
		o.Senders = o.Conns
	}
	if o.Window <= 0 {
		o.Window = 1
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Duration <= 0 || o.Duration > MaxDuration {
		return fmt.Errorf("duration must be between 0 and %s, not %s", MaxDuration, o.Duration)
	}
	switch o.Mode {
	case "":
		o.Mode = ModeP2P
	case ModeP2P, ModeApp:
	default:
		return fmt.Errorf("mode %q: use %s or %s", o.Mode, ModeP2P, ModeApp)
	}
	if o.App == "" {
		o.App = "echo"
	}
	if o.Mode == ModeApp && o.ReplyPrefix == "" {
		o.ReplyPrefix = EchoPrefix
	}
	if o.Mode != ModeApp {
		o.ReplyPrefix = ""
	}
	if o.Prefix == "" {
		o.Prefix = "lg"
	}
	if o.Text <= 0 {
		o.Text = 32
	}
	if o.Settle <= 0 {
		o.Settle = 2 * time.Second
	}
	return Loopback(o.Addr)
}

// logins returns who the connections sign in as.
func (o *Options) logins() ([]Login, error) {
	if len(o.Logins) > 0 {
		if len(o.Logins) < o.Conns {
			return nil, fmt.Errorf("%d tokens for %d connections: create more people (passerelle loadgen serve -people N) or use fewer connections", len(o.Logins), o.Conns)
		}
		return o.Logins[:o.Conns], nil
	}
	if o.Secret == "" {
		return nil, errors.New("no tokens: give the gateway-only server's secret, or a tokens file written by the server")
	}
	out := make([]Login, o.Conns)
	for i := range out {
		p := fmt.Sprintf("%s-%d", o.Prefix, i)
		t, err := Mint([]byte(o.Secret), p)
		if err != nil {
			return nil, err
		}
		out[i] = Login{p, t}
	}
	return out, nil
}

type client struct {
	person string
	prefix []byte // before the timestamp in a delivered text
	ws     *websocket.Conn
	conv   string        // conversation with the peer (or the app)
	slots  chan struct{} // sends in flight
	lat    []int64       // latencies of received messages, ns (reader only)
	recv   atomic.Int64  // messages received from the peer
	acks   atomic.Int64
	errs   atomic.Int64
	codes  map[string]int64 // error frames by code (reader only)
	ready  chan struct{}
	opened chan string // ack of the first send or the open
}

// Run connects, sends for o.Duration and reports on out as it goes.
func Run(ctx context.Context, o Options, out io.Writer) (Result, error) {
	var res Result
	if err := o.check(); err != nil {
		return res, err
	}
	logins, err := o.logins()
	if err != nil {
		return res, err
	}
	rate := "unpaced"
	if o.Rate > 0 {
		rate = fmt.Sprintf("at most %.0f/s each", o.Rate)
	}
	fmt.Fprintf(out, "loadgen: %d connections, %d senders (%s), window %d, %s, mode %s, GOMAXPROCS %d\n",
		o.Conns, o.Senders, rate, o.Window, o.Duration, o.Mode, runtime.GOMAXPROCS(0))
	res.RSSBefore = RSS(o.PID)

	// Connect everyone, a few hundred at a time.
	clients := make([]*client, o.Conns)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200)
	var dialErr atomic.Value
	start := time.Now()
	for i := range clients {
		c := &client{person: logins[i].Person, prefix: []byte(o.ReplyPrefix), slots: make(chan struct{}, o.Window),
			ready: make(chan struct{}), opened: make(chan string, 1)}
		clients[i] = c
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.dial(ctx, o.Addr, logins[i].Token); err != nil {
				dialErr.Store(err)
			}
		}()
	}
	wg.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		closeAll(clients)
		return res, err
	}
	fmt.Fprintf(out, "connected %d in %s\n", o.Conns, time.Since(start).Round(time.Millisecond))
	if o.PID > 0 {
		select { // let the server settle before reading its memory
		case <-time.After(o.Settle):
		case <-ctx.Done():
		}
	}
	res.RSSIdle = RSS(o.PID)
	if o.PID > 0 {
		fmt.Fprintf(out, "server RSS: %.1f MiB before, %.1f MiB with %d connections: %.1f KiB per connection\n",
			mib(res.RSSBefore), mib(res.RSSIdle), o.Conns, float64(res.RSSIdle-res.RSSBefore)/1024/float64(o.Conns))
	}

	// Establish the conversations: sender i talks to i^1 (or to the app).
	text := strings.Repeat("x", o.Text)
	for i := 0; i < o.Senders; i++ {
		c := clients[i]
		if o.Mode == ModeApp {
			c.send(map[string]any{"type": "open", "id": "open", "app": o.App})
		} else {
			c.send(map[string]any{"type": "send", "id": "hello-" + c.person, "to": clients[i^1].person, "text": "hi"})
		}
	}
	for i := 0; i < o.Senders; i++ {
		select {
		case clients[i].conv = <-clients[i].opened:
		case <-time.After(30 * time.Second):
			closeAll(clients)
			return res, fmt.Errorf("a conversation was not acknowledged in 30s (in app mode, is %q installed?)", o.App)
		case <-ctx.Done():
			closeAll(clients)
			return res, ctx.Err()
		}
	}
	time.Sleep(300 * time.Millisecond) // the greetings' deliveries (and the app's menu card)
	for _, c := range clients {
		c.recv.Store(0)
		c.acks.Store(0)
	}

	// Send for the duration, each sender keeping its window full.
	lctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var sent atomic.Int64
	begin := time.Now()
	// Client ids are unique per run: the gateway recognises a resent id
	// among a conversation's latest messages and would not store it again,
	// so a second run against the same server must not reuse the first's.
	run := strconv.FormatInt(begin.UnixNano(), 36)
	for i := 0; i < o.Senders; i++ {
		c := clients[i]
		if c.conv == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			var buf []byte
			var interval time.Duration
			if o.Rate > 0 {
				interval = time.Duration(float64(time.Second) / o.Rate)
			}
			next := time.Now()
			for {
				select {
				case c.slots <- struct{}{}:
				case <-lctx.Done():
					return
				}
				if interval > 0 {
					if wait := time.Until(next); wait > 0 {
						select {
						case <-time.After(wait):
						case <-lctx.Done():
							return
						}
					}
					next = next.Add(interval)
					if now := time.Now(); next.Before(now.Add(-interval)) {
						next = now // fell behind: do not burst to catch up
					}
				}
				n++
				buf = append(buf[:0], `{"type":"send","id":"`...)
				buf = append(buf, run...)
				buf = append(buf, '-')
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
	res.Elapsed = time.Since(begin)
	for wait := time.Now().Add(5 * time.Second); time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
		var recv, acks, errs int64
		for _, c := range clients {
			recv, acks, errs = recv+c.recv.Load(), acks+c.acks.Load(), errs+c.errs.Load()
		}
		// Every send answered (an ack, or an error frame for a refusal),
		// and every acknowledged one delivered. The sender's ack and the
		// receiver's copy travel on different connections: either may
		// come last.
		if acks+errs >= sent.Load() && recv >= acks {
			break
		}
	}
	res.RSSLoad = RSS(o.PID)

	var lat []int64
	closeAll(clients)
	for _, c := range clients {
		<-c.ready // reader finished
		res.Delivered += c.recv.Load()
		res.Acked += c.acks.Load()
		res.ErrorFrames += c.errs.Load()
		for code, n := range c.codes {
			if res.ErrorCodes == nil {
				res.ErrorCodes = map[string]int64{}
			}
			res.ErrorCodes[code] += n
		}
		lat = append(lat, c.lat...)
	}
	res.Sent = sent.Load()
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return time.Duration(lat[min(len(lat)-1, int(p*float64(len(lat))))])
	}
	res.P50, res.P99, res.Max = q(0.50), q(0.99), q(1)
	fmt.Fprintf(out, "sent %d, acked %d, delivered %d, error frames %d in %s\n", res.Sent, res.Acked, res.Delivered, res.ErrorFrames, res.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(out, "throughput: %.0f messages/s delivered (%.0f sent/s)\n", res.Throughput(), float64(res.Sent)/res.Elapsed.Seconds())
	fmt.Fprintf(out, "latency send->delivery: p50 %s p99 %s max %s\n", res.P50.Round(10*time.Microsecond), res.P99.Round(10*time.Microsecond), res.Max.Round(time.Microsecond))
	if o.PID > 0 {
		fmt.Fprintf(out, "server RSS under load: %.1f MiB\n", mib(res.RSSLoad))
	}
	if res.ErrorFrames > 0 {
		codes := slices.Sorted(maps.Keys(res.ErrorCodes))
		for i, code := range codes {
			codes[i] = fmt.Sprintf("%s %d", code, res.ErrorCodes[code])
		}
		fmt.Fprintf(out, "warning: the server refused %d frames (%s; rate_limited means more than its frames per second per connection: lower -rate; app_busy that the app had too many events waiting)\n", res.ErrorFrames, strings.Join(codes, ", "))
	}
	return res, nil
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
	Code string `json:"code"` // error frames
	// Message is an object in msg frames and a string in error frames.
	Message json.RawMessage `json:"message"`
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
			c.free()
			continue
		}
		if bytes.HasPrefix(data, msgPrefix) {
			if from, text, ok := quickMsg(data); ok {
				if from != c.person {
					c.delivered(text)
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
				select {
				case c.opened <- f.Conv:
				default:
				}
				continue
			}
			c.acks.Add(1)
			c.free()
		case "error":
			if c.codes == nil {
				c.codes = map[string]int64{}
			}
			c.codes[f.Code]++
			c.errs.Add(1)
			c.free()
		case "msg":
			var m struct {
				Text string `json:"text"`
			}
			if f.From.ID != c.person && json.Unmarshal(f.Message, &m) == nil { // not our own message, delivered back to us
				c.delivered([]byte(m.Text))
			}
		}
	}
}

func (c *client) free() {
	select {
	case <-c.slots:
	default:
	}
}

// delivered records the latency of a text that starts (after the reply
// prefix) with a send timestamp; other texts (the app's menu, greetings)
// are not counted.
func (c *client) delivered(text []byte) {
	text, ok := bytes.CutPrefix(text, c.prefix)
	if !ok {
		return
	}
	sp := bytes.IndexByte(text, ' ')
	if sp <= 0 {
		return
	}
	n, err := strconv.ParseInt(string(text[:sp]), 10, 64)
	if err != nil {
		return
	}
	c.lat = append(c.lat, time.Now().UnixNano()-n)
	c.recv.Add(1)
}

var (
	ackPrefix = []byte(`{"type":"ack"`)
	msgPrefix = []byte(`{"type":"msg"`)
	fromKey   = []byte(`"from":{"kind":"`)
	idKey     = []byte(`"id":"`)
	textKey   = []byte(`"message":{"text":"`)
)

// quickMsg extracts the sender id and the text (up to its end or an escape)
// of a msg frame without decoding it.
func quickMsg(data []byte) (from string, text []byte, ok bool) {
	i := bytes.Index(data, fromKey)
	if i < 0 {
		return "", nil, false
	}
	rest := data[i+len(fromKey):]
	j := bytes.Index(rest, idKey)
	if j < 0 {
		return "", nil, false
	}
	rest = rest[j+len(idKey):]
	k := bytes.IndexByte(rest, '"')
	if k < 0 {
		return "", nil, false
	}
	from = string(rest[:k])
	t := bytes.Index(rest, textKey)
	if t < 0 {
		return "", nil, false
	}
	rest = rest[t+len(textKey):]
	e := bytes.IndexAny(rest, `"\`)
	if e < 0 {
		return "", nil, false
	}
	return from, rest[:e], true
}

// ReadTokens reads a file of "person token" lines, in order.
func ReadTokens(path string) ([]Login, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the tokens: %w", err)
	}
	defer f.Close()
	var out []Login
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 64<<10)
	for s.Scan() {
		p, t, ok := strings.Cut(strings.TrimSpace(s.Text()), " ")
		if ok && p != "" && t != "" {
			out = append(out, Login{p, strings.TrimSpace(t)})
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no \"person token\" lines", path)
	}
	return out, nil
}

// WriteTokens writes logins as "person token" lines, which ReadTokens reads.
func WriteTokens(w io.Writer, logins []Login) error {
	bw := bufio.NewWriter(w)
	for _, l := range logins {
		fmt.Fprintf(bw, "%s %s\n", l.Person, l.Token)
	}
	return bw.Flush()
}

// Loopback refuses any address that is not on this machine's loopback.
func Loopback(addr string) error {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w (write it as HOST:PORT)", addr, err)
	}
	if h == "localhost" {
		return nil
	}
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address: the load generator only runs against this machine (127.0.0.1, ::1, localhost)", addr)
	}
	return nil
}

// RSS returns the resident memory of pid in bytes (0 when unknown).
func RSS(pid int) int64 {
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
