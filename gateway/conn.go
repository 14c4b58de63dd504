package gateway

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/passerelle/passerelle/gateway/eventstore"
	"github.com/passerelle/passerelle/gateway/readmarks"
	"github.com/passerelle/passerelle/gateway/surface"
	"github.com/passerelle/passerelle/host"
)

// outFrame is one encoded server frame. Deliveries carry their conversation
// and seq so the writer sends each seq at most once per connection.
type outFrame struct {
	conv string
	seq  uint64
	data []byte
	app  bool // an app's message: skipped, not fatal, when the queue is half full
	ack  bool // the ack of the connection's own send: never skipped
}

// gap is a run of a conversation's live messages a connection skipped
// (from after+1 to last): the client is told to fetch them with history.
type gap struct{ after, last uint64 }

// conn is one WebSocket connection of one person: a reader goroutine (which
// also serves requests) and a writer goroutine that owns all writes.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	out    *batchConn // ws's socket; the writer batches frames queued together
	person string
	name   string
	surf   atomic.Int32 // index into surface.All()
	send   chan outFrame

	done      chan struct{}
	closeOnce sync.Once
	closeErr  *Error // why the server closed the connection; nil when the peer did

	mu        sync.Mutex
	replaying bool           // deliveries are held while the connection catches up
	held      []outFrame     // live deliveries that arrived during the replay
	gaps      map[string]gap // conversations whose live messages are skipped until the writer sends a gap frame
	wake      chan struct{}  // tells the writer a gap opened

	tokens float64 // rate limit bucket; reader goroutine only
	refill time.Time
	frame  io.LimitedReader // the frame being read; reader goroutine only
}

func newConn(s *Server, ws *websocket.Conn, out *batchConn, person string) *conn {
	return &conn{s: s, ws: ws, out: out, person: person, send: make(chan outFrame, s.cfg.SendQueue),
		done: make(chan struct{}), wake: make(chan struct{}, 1), replaying: true, tokens: float64(s.cfg.RateBurst), refill: time.Now()}
}

func (c *conn) surface() surface.Name { return surface.All()[c.surf.Load()] }

func (c *conn) setSurface(n surface.Name) { c.surf.Store(int32(surfaceIndex(n))) }

// fail closes the connection, once, telling the client why when e is set.
// It reports whether this call closed it.
func (c *conn) fail(e *Error) (first bool) {
	c.closeOnce.Do(func() {
		c.closeErr = e
		close(c.done)
		first = true
	})
	return first
}

// deliver queues a frame without blocking. While the connection replays,
// frames are held; a full queue makes the connection a slow consumer. An
// app's message never does: past half the queue it is skipped and opens a
// gap in its conversation, whose later messages are skipped too until the
// writer, once the queue is empty, sends a gap frame for the client to
// fetch them with history (PROTOCOL.md, "Liveness and flow control").
// Skipping, rather than making the app's event wait for room, keeps one
// person who does not read from holding the app's worker and delaying the
// conversation's other members; the messages are stored before they are
// fanned out, so a skipped one is only late, never lost.
func (c *conn) deliver(f outFrame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g, ok := c.gaps[f.conv]; ok && f.seq > 0 && !f.ack {
		g.last = max(g.last, f.seq)
		c.gaps[f.conv] = g
		return
	}
	queued := len(c.send)
	if c.replaying {
		queued = len(c.held)
	}
	if f.app && queued >= cap(c.send)/2 {
		if c.gaps == nil {
			c.gaps = map[string]gap{}
		}
		c.gaps[f.conv] = gap{after: f.seq - 1, last: f.seq}
		c.s.met.gaps.Inc()
		select {
		case c.wake <- struct{}{}:
		default:
		}
		return
	}
	if c.replaying {
		if len(c.held) >= cap(c.send) {
			c.slow()
			return
		}
		c.held = append(c.held, f)
		return
	}
	select {
	case c.send <- f:
	default:
		c.slow()
	}
}

func (c *conn) slow() {
	if !c.fail(errorf(CodeSlowConsumer, "you did not read messages fast enough; reconnect and resume from your last seq")) {
		return
	}
	c.s.met.slow.Inc()
	// A write blocked on a peer that does not read ends within a second.
	_ = c.ws.UnderlyingConn().SetWriteDeadline(time.Now().Add(time.Second))
}

// push queues a frame, waiting for room; for the reader's own replies and
// the replay, which may wait for the client.
func (c *conn) push(f outFrame) bool {
	select {
	case c.send <- f:
		return true
	case <-c.done:
		return false
	}
}

func (c *conn) reply(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		c.s.log.Error("gateway: encode frame", "err", err)
		return false
	}
	return c.push(outFrame{data: b})
}

type errorFrame struct {
	Type    string `json:"type"` // "error"
	ID      string `json:"id,omitempty"`
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (c *conn) replyErr(id string, err error) {
	e := codeOf(err)
	if e.Code == CodeInternal {
		c.s.log.Error("gateway: request failed", "person", c.person, "id", id, "err", err)
	}
	c.s.met.errors.WithLabelValues(string(e.Code)).Inc()
	c.reply(errorFrame{Type: "error", ID: id, Code: e.Code, Message: e.Message})
	if e.Code.Fatal() {
		c.fail(e)
	}
}

func (c *conn) writeLoop() {
	defer c.s.conns.Done()
	defer c.ws.Close()
	ping := time.NewTicker(c.s.cfg.PingInterval)
	defer ping.Stop()
	last := map[string]uint64{}
	var deadline time.Time
	write := func(f outFrame) error {
		if f.seq > 0 {
			if f.seq <= last[f.conv] {
				return nil // already sent (replay and live overlap)
			}
			last[f.conv] = f.seq
		}
		deadline = extend(c.ws.SetWriteDeadline, deadline, c.s.cfg.WriteTimeout)
		return c.ws.WriteMessage(websocket.TextMessage, f.data)
	}
	for {
		select {
		case f := <-c.send:
			// Frames already queued behind f go out in the same write.
			c.out.hold()
			err := write(f)
		batch:
			for n := 1; err == nil && n < maxBatchFrames; n++ {
				select {
				case f = <-c.send:
					err = write(f)
				default:
					break batch
				}
			}
			if err == nil && len(c.send) == 0 {
				err = c.writeGaps(write)
			}
			if rerr := c.out.release(); err == nil {
				err = rerr
			}
			if err != nil {
				c.fail(nil)
				return
			}
		case <-c.wake:
			// A gap is told once the queue is empty, so that the client
			// fetches it when it can take it; else after a later batch.
			if len(c.send) == 0 && c.writeGaps(write) != nil {
				c.fail(nil)
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.s.cfg.WriteTimeout)); err != nil {
				c.fail(nil)
				return
			}
		case <-c.done:
			e := c.closeErr
			if e == nil {
				return
			}
			if e.Code != CodeSlowConsumer { // flush what is queued, such as the error frame
			drain:
				for {
					select {
					case f := <-c.send:
						if write(f) != nil {
							return
						}
					default:
						break drain
					}
				}
			}
			reason := string(e.Code) + ": " + e.Message
			if len(reason) > 120 {
				reason = reason[:120]
			}
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(e.Code.CloseCode(), reason),
				time.Now().Add(time.Second))
			return
		}
	}
}

// writeGaps writes a gap frame for every conversation whose live messages
// were skipped; the conversations' next messages are queued again.
func (c *conn) writeGaps(write func(outFrame) error) error {
	c.mu.Lock()
	gaps := c.gaps
	c.gaps = nil
	c.mu.Unlock()
	for conv, g := range gaps {
		if err := write(outFrame{data: encodeGap(conv, g)}); err != nil {
			return err
		}
	}
	return nil
}

func (c *conn) readLoop() {
	s := c.s
	defer s.conns.Done()
	defer s.unregister(c)
	defer c.fail(nil) // the writer then closes the socket
	s.met.connsTotal.Inc()
	var deadline time.Time
	alive := func() { deadline = extend(c.ws.SetReadDeadline, deadline, 2*s.cfg.PingInterval) }
	c.ws.SetPongHandler(func(string) error { alive(); return nil })
	_ = c.ws.SetReadDeadline(time.Now().Add(s.cfg.HelloTimeout))

	data, ok := c.read()
	if !ok {
		return
	}
	f, err := ParseFrame(data, s.cfg.MaxTextRunes)
	switch {
	case err == nil && f.Type != TypeHello:
		err = errorf(CodeHelloRequired, "the first frame must be {\"type\":\"hello\",\"v\":1,...}")
	case err == nil && f.V != ProtocolVersion:
		err = errorf(CodeUnsupportedVersion, "protocol version %d is not supported; use \"v\":%d", f.V, ProtocolVersion)
	}
	if err == nil {
		var sf surface.Name
		if sf, err = surface.Parse(f.Surface); err == nil {
			c.setSurface(sf)
		} else {
			err = errorf(CodeHelloRequired, "%v", err)
		}
	}
	if err != nil {
		e := codeOf(err)
		if !e.Code.Fatal() {
			e = errorf(CodeHelloRequired, "hello rejected: %s", e.Message)
		}
		c.replyErr(idOf(f), e)
		return
	}
	alive()
	if !c.hello(f) {
		return
	}
	for {
		data, ok := c.read()
		if !ok {
			return
		}
		alive()
		f, err := ParseFrame(data, s.cfg.MaxTextRunes) // first, so that a dropped frame is named by its id
		if !c.allow() {
			c.replyErr(idOf(f), errorf(CodeRateLimited, "more than %.0f frames per second; the frame was dropped, slow down and resend it", s.cfg.RatePerSecond))
			continue
		}
		if err != nil {
			c.replyErr(idOf(f), err)
			continue
		}
		s.met.framesIn.WithLabelValues(f.Type).Inc()
		if err := c.handle(s.ctx, f); err != nil {
			c.replyErr(f.ID, err)
		}
	}
}

// extend moves a deadline set to d from now, with set, unless less than
// d/8 has passed since it was last set (setting one costs a timer update):
// an operation always has at least 7/8 of d. It returns the deadline.
func extend(set func(time.Time) error, deadline time.Time, d time.Duration) time.Time {
	now := time.Now()
	if deadline.Sub(now) > d-d/8 {
		return deadline
	}
	deadline = now.Add(d)
	_ = set(deadline)
	return deadline
}

func idOf(f *Frame) string {
	if f == nil {
		return ""
	}
	return f.ID
}

// read returns the next text frame; false when the connection is over.
// The size limit is enforced here rather than by gorilla's SetReadLimit,
// which closes the connection itself with 1009 and no reason: a client
// must get the too_large error and close reason PROTOCOL.md promises.
func (c *conn) read() ([]byte, bool) {
	max := c.s.cfg.MaxFrameBytes
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			return nil, false
		}
		if mt != websocket.TextMessage {
			c.replyErr("", errorf(CodeBadFrame, "binary frames are not accepted; send JSON text frames"))
			continue // the next NextReader skips the rest of this one
		}
		c.frame = io.LimitedReader{R: r, N: max + 1}
		data, err := io.ReadAll(&c.frame)
		c.frame.R = nil
		if err != nil {
			return nil, false
		}
		if int64(len(data)) > max {
			c.replyErr("", errorf(CodeTooLarge, "a frame is larger than %d bytes; split the text or send less at once", max))
			return nil, false
		}
		return data, true
	}
}

// allow takes a token from the connection's bucket.
func (c *conn) allow() bool {
	now := time.Now()
	c.tokens += now.Sub(c.refill).Seconds() * c.s.cfg.RatePerSecond
	c.refill = now
	if max := float64(c.s.cfg.RateBurst); c.tokens > max {
		c.tokens = max
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// convView is a conversation as one person sees it.
type convView struct {
	ID      string             `json:"id"`
	Kind    string             `json:"kind"`
	Title   string             `json:"title"`
	App     string             `json:"app,omitempty"`
	Members []string           `json:"members"`
	Last    uint64             `json:"last"`
	Read    uint64             `json:"read"`            // the viewer's read marker (marks.go)
	Marks   []readmarks.Marker `json:"marks,omitempty"` // the other members' markers
}

func (s *Server) view(ctx context.Context, rec convRecord, last uint64, viewer string) convView {
	v := convView{ID: rec.ID, Kind: rec.Kind, Title: rec.Title, App: rec.App, Members: rec.Members, Last: last}
	if rec.Kind == KindDirect {
		for _, m := range rec.Members {
			if m != viewer {
				v.Title = s.name(ctx, m)
			}
		}
	}
	return v
}

// hello registers the connection and replays what it missed: messages
// after the seqs in Resume (everything for conversations it does not name;
// only the latest 50 when Resume is absent), then unanswered prompts.
// Deliveries that arrive meanwhile are held and sent after, at most once.
func (c *conn) hello(f *Frame) bool {
	s, ctx := c.s, c.s.ctx
	c.name = s.name(ctx, c.person)
	if !s.register(c) {
		c.fail(errorf(CodeShuttingDown, "the server is shutting down; reconnect shortly"))
		return false
	}
	convs, err := s.msgs.ConvsOf(ctx, c.person)
	if err != nil {
		c.replyErr(f.ID, err)
		return false
	}
	views := make([]convView, len(convs))
	for i, cv := range convs {
		views[i] = s.view(ctx, cv.Conv, cv.Last, c.person)
	}
	if err := s.withMarkers(ctx, views, c.person); err != nil {
		c.replyErr(f.ID, err)
		return false
	}
	if !c.reply(map[string]any{"type": "welcome", "v": ProtocolVersion, "id": f.ID, "person": c.person,
		"name": c.name, "surface": c.surface(), "conversations": views}) {
		return false
	}
	sf := c.surface()
	for _, cv := range convs {
		from, named := f.Resume[cv.ID]
		if !named && f.Resume == nil && cv.Last > 50 {
			from = cv.Last - 50
		}
		msgs, err := s.msgs.Range(ctx, cv.ID, from, s.cfg.MaxReplay)
		if err != nil {
			c.replyErr(f.ID, err)
			return false
		}
		for i := range msgs {
			if !c.push(outFrame{conv: cv.ID, seq: msgs[i].Seq, data: encodeMsg(cv.ID, &msgs[i], sf)}) {
				return false
			}
		}
		if len(msgs) == s.cfg.MaxReplay && msgs[len(msgs)-1].Seq < cv.Last {
			c.reply(map[string]any{"type": "gap", "conv": cv.ID, "after": msgs[len(msgs)-1].Seq, "last": cv.Last})
		}
	}
	prompts, err := s.st.Pending(ctx, c.person)
	if err != nil {
		c.replyErr(f.ID, err)
		return false
	}
	for _, p := range prompts {
		if !c.push(outFrame{data: encodePrompt(p)}) {
			return false
		}
	}
	if !c.reply(map[string]any{"type": "ready"}) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.held {
		select {
		case c.send <- h:
		default:
			c.slow()
			return false
		}
	}
	c.held, c.replaying = nil, false
	return true
}

type ackFrame struct {
	Type string `json:"type"` // "ack"
	ID   string `json:"id,omitempty"`
	Conv string `json:"conv,omitempty"`
	Seq  uint64 `json:"seq,omitempty"`
	Dup  bool   `json:"dup,omitempty"`
}

// member returns conv's record after checking that c's person is a member.
func (c *conn) member(conv string) (convRecord, error) {
	rec, err := c.s.conversation(conv)
	if err != nil {
		return convRecord{}, err
	}
	if !slices.Contains(rec.Members, c.person) {
		return convRecord{}, ErrNotMember
	}
	return rec, nil
}

// announce tells every member's connections about a new conversation.
func (s *Server) announce(ctx context.Context, rec convRecord) {
	for _, m := range rec.Members {
		b, _ := json.Marshal(map[string]any{"type": "conv", "conv": s.view(ctx, rec, 0, m)})
		for _, c := range s.connsOf(m) {
			c.deliver(outFrame{data: b})
		}
	}
}

func (c *conn) event(typ, app, conv string) host.Event {
	return host.Event{V: 1, Type: typ, ID: randomID("ev_"), App: app, Conversation: conv, Surface: string(c.surface())}
}

func (c *conn) appEvent(ev host.Event) host.AppEvent {
	return host.AppEvent{Person: c.person, Conversation: ev.Conversation, Surface: ev.Surface, Event: ev, Out: c.s}
}

// handlers serves each frame type after hello, one method per type.
var handlers = map[string]func(c *conn, ctx context.Context, f *Frame) error{
	TypeHello:         (*conn).helloAgain,
	TypeSend:          (*conn).sendText,
	TypeOpen:          (*conn).open,
	TypeAction:        (*conn).action,
	TypeAnswer:        (*conn).answerPrompt,
	TypeHistory:       (*conn).history,
	TypeGroup:         (*conn).group,
	TypeConversations: (*conn).conversations,
	TypePeople:        (*conn).people,
	TypeApps:          (*conn).apps,
	TypeWallet:        (*conn).wallet,
	TypeSurface:       (*conn).changeSurface,
	TypeMark:          (*conn).mark,
	TypePayments:      (*conn).payments,
	TypeTyping:        (*conn).typing,
	TypeConsents:      (*conn).consents,
	TypeRevoke:        (*conn).revoke,
}

func (c *conn) handle(ctx context.Context, f *Frame) error {
	h, ok := handlers[f.Type]
	if !ok {
		return errorf(CodeUnknownType, "unknown frame type %q", f.Type)
	}
	return h(c, ctx, f)
}

func (c *conn) helloAgain(context.Context, *Frame) error {
	return errorf(CodeBadRequest, "hello was already received")
}

// open opens the person's conversation with a mini-app.
func (c *conn) open(ctx context.Context, f *Frame) error {
	conv, err := c.openApp(ctx, f.App, f.Payload)
	if err != nil {
		return err
	}
	c.reply(ackFrame{Type: "ack", ID: f.ID, Conv: conv})
	return nil
}

// action sends a card's choice to the app of a mini-app conversation.
func (c *conn) action(ctx context.Context, f *Frame) error {
	rec, err := c.member(f.Conv)
	if err != nil {
		return err
	}
	if rec.Kind != KindApp {
		return errorf(CodeBadRequest, "actions go to mini-app conversations; %s is a %s conversation", f.Conv, rec.Kind)
	}
	ev := c.event(host.EventAction, rec.App, f.Conv)
	ev.Action = f.Action
	if err := c.s.dispatchKept(ctx, rec.App, c.appEvent(ev)); err != nil {
		return err
	}
	c.reply(ackFrame{Type: "ack", ID: f.ID, Conv: f.Conv})
	return nil
}

// answerPrompt answers one of the person's prompts.
func (c *conn) answerPrompt(ctx context.Context, f *Frame) error {
	if err := c.s.answer(ctx, c, f.Prompt, f.Answer, f.Conv); err != nil {
		return err
	}
	c.reply(ackFrame{Type: "ack", ID: f.ID})
	return nil
}

// history returns up to 200 messages of a conversation after a seq.
func (c *conn) history(ctx context.Context, f *Frame) error {
	if _, err := c.member(f.Conv); err != nil {
		return err
	}
	limit := f.Limit
	if limit <= 0 || limit > 200 {
		limit = 200
	}
	msgs, err := c.s.msgs.Range(ctx, f.Conv, f.After, limit)
	if err != nil {
		return err
	}
	out := make([]json.RawMessage, len(msgs))
	for i := range msgs {
		out[i] = encodeMsg(f.Conv, &msgs[i], c.surface())
	}
	c.reply(map[string]any{"type": "history", "id": f.ID, "conv": f.Conv, "messages": out})
	return nil
}

// group creates a group conversation with the person and the members named.
func (c *conn) group(ctx context.Context, f *Frame) error {
	members := []string{c.person}
	for _, m := range f.Members {
		if !slices.Contains(members, m) {
			if err := c.checkPerson(ctx, m); err != nil {
				return err
			}
			members = append(members, m)
		}
	}
	title := f.Title
	if title == "" {
		title = "Group"
	}
	rec, _, err := c.s.msgs.Ensure(ctx, convRecord{ID: randomID("g_"), Kind: KindGroup, Title: title, Members: members})
	if err != nil {
		return err
	}
	c.s.announce(ctx, rec)
	c.reply(ackFrame{Type: "ack", ID: f.ID, Conv: rec.ID})
	return nil
}

// conversations lists the person's conversations.
func (c *conn) conversations(ctx context.Context, f *Frame) error {
	convs, err := c.s.msgs.ConvsOf(ctx, c.person)
	if err != nil {
		return err
	}
	views := make([]convView, len(convs))
	for i, cv := range convs {
		views[i] = c.s.view(ctx, cv.Conv, cv.Last, c.person)
	}
	if err := c.s.withMarkers(ctx, views, c.person); err != nil {
		return err
	}
	c.reply(map[string]any{"type": "conversations", "id": f.ID, "conversations": views})
	return nil
}

// people searches the directory.
func (c *conn) people(ctx context.Context, f *Frame) error {
	dir := c.s.cfg.Directory
	if dir == nil {
		return ErrUnavailable
	}
	limit := f.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	found, err := dir.FindPeople(ctx, f.Query, limit)
	if err != nil {
		return err
	}
	people := make([]person, len(found))
	for i, p := range found {
		people[i] = person{ID: p.ID, Name: p.Name}
	}
	c.reply(map[string]any{"type": "people", "id": f.ID, "people": people})
	return nil
}

// apps lists the installed mini-apps.
func (c *conn) apps(ctx context.Context, f *Frame) error {
	if c.s.cfg.Apps == nil {
		return ErrUnavailable
	}
	apps, err := c.s.cfg.Apps.Catalog(ctx)
	if err != nil {
		return err
	}
	c.reply(map[string]any{"type": "apps", "id": f.ID, "apps": apps})
	return nil
}

// wallet returns the person's balances, by currency.
func (c *conn) wallet(ctx context.Context, f *Frame) error {
	if c.s.cfg.Payments == nil {
		return ErrUnavailable
	}
	bal, err := c.s.cfg.Payments.Balances(ctx, c.person)
	if err != nil {
		return err
	}
	type balance struct {
		Currency string `json:"currency"`
		Amount   int64  `json:"amount"`
	}
	list := make([]balance, 0, len(bal))
	for cur, amt := range bal {
		list = append(list, balance{cur, amt})
	}
	slices.SortFunc(list, func(a, b balance) int { return strings.Compare(a.Currency, b.Currency) })
	c.reply(map[string]any{"type": "wallet", "id": f.ID, "balances": list})
	return nil
}

// changeSurface renders later deliveries for another surface.
func (c *conn) changeSurface(_ context.Context, f *Frame) error {
	sf, err := surface.Parse(f.Surface)
	if err != nil {
		return errorf(CodeBadRequest, "%v", err)
	}
	c.setSurface(sf)
	c.reply(ackFrame{Type: "ack", ID: f.ID})
	return nil
}

// openApp makes sure the person's conversation with app exists and sends
// the app an open event carrying payload; it returns the conversation.
func (c *conn) openApp(ctx context.Context, app, payload string) (string, error) {
	s := c.s
	if s.cfg.Apps == nil {
		return "", ErrUnavailable
	}
	name, ok := s.appName(ctx, app)
	if !ok {
		return "", errorf(CodeNotFound, "no mini-app %q is installed; the apps frame lists them", app)
	}
	rec, created, err := s.msgs.Ensure(ctx, convRecord{ID: appConvID(app, c.person), Kind: KindApp, App: app, Title: name, Members: []string{c.person}})
	if err != nil {
		return "", err
	}
	if created {
		s.announce(ctx, rec)
	}
	ev := c.event(host.EventOpen, app, rec.ID)
	ev.Text = payload
	return rec.ID, s.dispatchKept(ctx, app, c.appEvent(ev))
}

// appName returns the catalog's display name of app and whether the
// catalog lists it. When the catalog cannot be read, every app is assumed
// to exist (the router then answers for it).
func (s *Server) appName(ctx context.Context, app string) (string, bool) {
	list, err := s.cfg.Apps.Catalog(ctx)
	if err != nil {
		s.log.Warn("gateway: app catalog", "err", err)
		return app, true
	}
	for _, a := range list {
		if a.ID == app {
			if a.Name == "" {
				return app, true
			}
			return a.Name, true
		}
	}
	return app, false
}

func (c *conn) checkPerson(ctx context.Context, id string) error {
	if c.s.cfg.Directory == nil {
		return nil
	}
	if _, err := c.s.cfg.Directory.Person(ctx, id); err != nil {
		return &Error{Code: CodeNotFound, Message: "no person with id " + id, Err: err}
	}
	return nil
}

// sendText persists a person's text message and acknowledges it. In a
// mini-app conversation the app gets a message event, or an action event
// when the text is the number of a choice in the numbered menu the person's
// surface showed for the app's last card.
func (c *conn) sendText(ctx context.Context, f *Frame) error {
	s := c.s
	conv := f.Conv
	if f.To != "" {
		if f.To == c.person {
			return errorf(CodeBadRequest, "you cannot open a conversation with yourself")
		}
		if err := c.checkPerson(ctx, f.To); err != nil {
			return err
		}
		rec, created, err := s.msgs.Ensure(ctx, convRecord{ID: directID(c.person, f.To), Kind: KindDirect, Members: []string{c.person, f.To}})
		if err != nil {
			return err
		}
		if created {
			s.announce(ctx, rec)
		}
		conv = rec.ID
	}
	cv, err := c.member(conv)
	if err != nil {
		return err
	}
	var pick *surface.Choice
	// Only a numbered reply on a surface that shows menus needs the app's
	// last card: finding it reads the conversation's recent messages.
	if cv.Kind == KindApp && surface.MayPick(c.surface(), f.Text) {
		if last, err := s.lastCard(ctx, conv); err == nil && last != nil {
			if ch, ok := surface.Render(c.surface(), last.Msg).Pick(f.Text); ok {
				pick = &ch
			}
		}
	}
	// The event the message causes in a mini-app conversation is kept with
	// the message, in one transaction (pending.go).
	var ev *host.AppEvent
	switch {
	case cv.Kind != KindApp || pick != nil && pick.Kind == "share":
	case pick == nil:
		e := c.event(host.EventMessage, cv.App, conv)
		e.Text = f.Text
		a := c.appEvent(e)
		ev = &a
	default:
		e := c.event(host.EventAction, cv.App, conv)
		e.Action = &host.Action{ID: pick.ID, Value: pick.Value}
		a := c.appEvent(e)
		ev = &a
	}
	var kept *eventstore.Event
	if ev != nil {
		kept = s.keep(cv.App, *ev)
	}
	rec := &msgRecord{Time: time.Now().UnixMilli(), From: sender{Kind: "person", ID: c.person, Name: c.name},
		Msg: host.Message{Text: f.Text}, Client: f.ID, Surface: string(c.surface())}
	res, err := s.post(conv, rec, c, f.ID, s.keepWith(kept)) // the ack comes with the message
	if err != nil {
		return err
	}
	if res.Dup {
		c.reply(ackFrame{Type: "ack", ID: f.ID, Conv: conv, Seq: res.Seq, Dup: true})
		return nil
	}
	switch {
	case ev != nil:
		return s.dispatch(cv.App, *ev, kept)
	case cv.Kind == KindApp: // a share
		_, err := c.openApp(ctx, pick.App, pick.Payload)
		return err
	}
	return nil
}

// lastCard returns the newest message of conv sent by an app with a card,
// looking back at most 50 messages.
func (s *Server) lastCard(ctx context.Context, conv string) (*msgRecord, error) {
	_, last, err := s.msgs.Conv(ctx, conv)
	if err != nil {
		return nil, err
	}
	msgs, err := s.msgs.Range(ctx, conv, last-min(last, 50), 50)
	if err != nil {
		return nil, err
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].From.Kind == "app" && msgs[i].Msg.Card != nil {
			return &msgs[i], nil
		}
	}
	return nil, nil
}
