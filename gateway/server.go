package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/gateway/surface"
	"github.com/passerelle/passerelle/host"
)

// Server is the chat gateway: WebSocket connections, conversations,
// persisted delivery with replay, surface rendering, prompts, the web
// client, health and metrics. It implements host.Outbox, host.Queuer and
// host.TxOutbox.
type Server struct {
	cfg   Config
	log   *slog.Logger
	msgs  Log         // conversations and messages
	st    PromptStore // prompts and their answers
	met   *metrics
	up    websocket.Upgrader
	web   http.Handler
	mux   *http.ServeMux
	ctx   context.Context // cancelled by Close
	stop  context.CancelFunc
	conns sync.WaitGroup // connection goroutines

	mu     sync.RWMutex
	closed bool
	people map[string][]*conn // person -> connections; a slice is never changed, only replaced

	convMu sync.Mutex
	convs  map[string]*convState

	names sync.Map // person id -> display name

	kinds map[string]*host.PromptKind // Config.Prompts by name

	nets    atomic.Pointer[networksBox] // network.go
	resumed atomic.Bool                 // Resume was called (pending.go)
	states  *states                     // apps' messages' states (states.go)
}

var (
	_ host.Outbox   = (*Server)(nil)
	_ host.TxOutbox = (*Server)(nil)
)

// convState orders live delivery of one conversation: messages are fanned
// out in seq order even when their group commits finish out of order.
type convState struct {
	users   int // posts and lookups using the state; under Server.convMu
	mu      sync.Mutex
	rec     convRecord
	next    uint64 // next seq to fan out
	pending map[uint64]pendingMsg
	// staged are the app messages stored inside an event's transaction
	// (Stage) not yet fanned out; under Server.convMu. While one may still
	// be committed and handed to the fan-out, the state is kept, so that
	// next does not pass its seq (stage.go).
	staged map[weak.Pointer[stagedMsg]]struct{}
}

// pendingMsg is a stored message waiting for its turn to be fanned out;
// origin is the connection that sent it, acknowledged by ack id.
type pendingMsg struct {
	rec    *msgRecord
	origin *conn
	ack    string
}

// New returns a Server over cfg.Log and cfg.PromptStore.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		return nil, errors.New("gateway: Config.Log is required (convlog.Open makes one)")
	}
	if cfg.PromptStore == nil {
		return nil, errors.New("gateway: Config.PromptStore is required (promptstore.Open makes one)")
	}
	if cfg.Auth == nil {
		return nil, errors.New("gateway: Config.Auth is required")
	}
	cfg.defaults()
	static, err := fs.Sub(webFiles, "web")
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, log: cfg.Logger, msgs: cfg.Log, st: cfg.PromptStore, met: newMetrics(), ctx: ctx, stop: stop,
		people: map[string][]*conn{},
		convs:  map[string]*convState{},
		web:    http.FileServerFS(static),
		kinds:  map[string]*host.PromptKind{},
	}
	for _, k := range cfg.Prompts {
		if k == nil || k.Name == "" || k.Apply == nil || s.kinds[k.Name] != nil {
			return nil, fmt.Errorf("gateway: Config.Prompts: every kind needs a unique name and an Apply (%+v)", k)
		}
		s.kinds[k.Name] = k
	}
	s.up = websocket.Upgrader{
		ReadBufferSize:    1024,
		WriteBufferSize:   1024,
		WriteBufferPool:   &sync.Pool{},
		HandshakeTimeout:  10 * time.Second,
		CheckOrigin:       s.checkOrigin,
		Subprotocols:      []string{"passerelle.v1"},
		EnableCompression: false,
	}
	s.states = newStates(s.met.reg)
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /ws", s.serveWS)
	s.mux.HandleFunc("GET /healthz", s.serveHealth)
	s.sessionRoutes()
	s.inboxRoutes()
	s.linkRoutes()
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{Registry: s.met.reg}))
	if cfg.API != nil {
		// Every method of /v1/ goes to the API, which answers a wrong
		// method itself; "GET /" would otherwise conflict with "/v1/".
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} {
			s.mux.Handle(m+" /v1/", cfg.API)
		}
	}
	if cfg.Assets != nil {
		s.mux.HandleFunc("GET /assets/{name}", s.serveAsset)
	}
	s.mux.Handle("GET /", s.web)
	return s, nil
}

// Handler returns the server's HTTP handler: /ws, /healthz, /metrics, /v1/
// (when Config.API is set) and the web client at /.
func (s *Server) Handler() http.Handler { return s.mux }

// Registerer is the server's own Prometheus registry, for other packages to
// register their collectors so that /metrics shows them.
func (s *Server) Registerer() prometheus.Registerer { return s.met.reg }

// Close closes every connection with "shutting_down" and waits, until ctx
// ends, for connection goroutines to stop. Close the Log after it: what
// the connections posted is then committed. App events are the runtime's:
// what an app sends after Close is refused with ErrClosed.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var all []*conn
	for _, cs := range s.people {
		for _, c := range cs {
			all = append(all, c)
		}
	}
	s.mu.Unlock()
	s.stop()
	for _, c := range all {
		c.fail(errorf(CodeShuttingDown, "the server is shutting down; reconnect shortly"))
	}
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("gateway: close: %w", ctx.Err())
	}
	return err
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	var err error
	if h, ok := s.msgs.(interface{ Check(context.Context) error }); ok {
		err = h.Check(r.Context())
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case closed:
		writeHTTPError(w, errorf(CodeShuttingDown, "the server is shutting down"))
	case err != nil:
		writeHTTPError(w, errorf(CodeUnavailable, "the store is not readable: %v", err))
	default:
		fmt.Fprintln(w, `{"status":"ok"}`)
	}
}

func writeHTTPError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Code.HTTPStatus())
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": string(e.Code), "message": e.Message}})
}

// checkOrigin allows requests without Origin (non-browser clients), from the
// server's own host, and from Config.AllowedOrigins.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, a := range s.cfg.AllowedOrigins {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "/"), origin) {
			return true
		}
	}
	return false
}

// token finds the session token: ?token=, "Authorization: Bearer", or a
// "bearer.<token>" entry in Sec-WebSocket-Protocol.
func token(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	for _, p := range websocket.Subprotocols(r) {
		if t, ok := strings.CutPrefix(p, "bearer."); ok {
			return t
		}
	}
	return ""
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		writeHTTPError(w, errorf(CodeShuttingDown, "the server is shutting down; reconnect shortly"))
		return
	}
	if !s.checkOrigin(r) {
		writeHTTPError(w, errorf(CodeForbidden, "origin %q is not allowed; open the client from this server or ask the operator to allow that origin", r.Header.Get("Origin")))
		return
	}
	person, e := s.authenticate(r)
	if e != nil {
		writeHTTPError(w, e)
		return
	}
	bw := &batchWriter{ResponseWriter: w}
	ws, err := s.up.Upgrade(bw, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	if !s.track(&s.conns, 2) {
		_ = ws.Close()
		return
	}
	c := newConn(s, ws, bw.conn, person)
	go c.writeLoop()
	go c.readLoop()
}

// track adds n to wg unless the server is closed, so that Close's Wait
// never races with a new goroutine.
func (s *Server) track(wg *sync.WaitGroup, n int) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false
	}
	wg.Add(n)
	return true
}

// register adds c to its person's connections; it fails once closed.
func (s *Server) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	cs := s.people[c.person]
	s.people[c.person] = append(cs[:len(cs):len(cs)], c) // a new array: connsOf's callers keep the old one
	s.met.conns.Inc()
	return true
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.people[c.person]
	i := slices.Index(cs, c)
	if i < 0 {
		return
	}
	s.met.conns.Dec()
	if len(cs) == 1 {
		delete(s.people, c.person)
		return
	}
	s.people[c.person] = slices.Delete(slices.Clone(cs), i, i+1)
}

// connsOf returns person's connections, a slice the caller must not modify.
func (s *Server) connsOf(person string) []*conn {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.people[person]
}

// name returns person's display name, from the directory when there is one.
func (s *Server) name(ctx context.Context, person string) string {
	if v, ok := s.names.Load(person); ok {
		return v.(string)
	}
	n := person
	if s.cfg.Directory != nil {
		if p, err := s.cfg.Directory.Person(ctx, person); err == nil && p.Name != "" {
			n = p.Name
		}
	}
	s.names.Store(person, n)
	return n
}

// acquire returns the in-memory delivery state of conv, loading it, and
// holds it in memory until release.
func (s *Server) acquire(conv string) (*convState, error) {
	s.convMu.Lock()
	cs := s.convs[conv]
	if cs != nil {
		cs.users++
	}
	s.convMu.Unlock()
	if cs != nil {
		return cs, nil
	}
	rec, last, err := s.msgs.Conv(s.ctx, conv)
	if err != nil {
		return nil, err
	}
	s.convMu.Lock()
	defer s.convMu.Unlock()
	if cs := s.convs[conv]; cs != nil {
		cs.users++
		return cs, nil
	}
	cs = &convState{users: 1, rec: rec, next: last + 1, pending: map[uint64]pendingMsg{}}
	s.convs[conv] = cs
	return cs, nil
}

// release lets go of a state from acquire. Past Config.MaxConversations
// states, idle ones are dropped: a state nobody uses has no message in
// flight, so the next acquire rebuilds it exactly from the store.
func (s *Server) release(cs *convState) {
	s.convMu.Lock()
	defer s.convMu.Unlock()
	cs.users--
	if len(s.convs) <= s.cfg.MaxConversations {
		return
	}
	keep := s.cfg.MaxConversations * 9 / 10
	for id, st := range s.convs {
		if len(s.convs) <= keep {
			break
		}
		if st.users == 0 && !st.pinned() {
			delete(s.convs, id)
		}
	}
}

// conversation returns the record of conv.
func (s *Server) conversation(conv string) (convRecord, error) {
	cs, err := s.acquire(conv)
	if err != nil {
		return convRecord{}, err
	}
	defer s.release(cs)
	return cs.rec, nil // never changes once loaded
}

// appendResult is what post stored.
type appendResult = convlog.Appended

// post persists rec in conv and fans it out to the members' connections.
// A person's message whose client id that person already used in conv
// within the log's dedupe window is not stored again: its seq comes back
// with Dup and nothing is sent. When origin is set, it gets, in the
// message's place in the conversation's order, an ack carrying the message
// instead of a msg.
//
// with, when not nil, runs in the transaction that stores rec (see
// Log.AppendWith): a person's event for an app is kept with the message
// that caused it (pending.go).
func (s *Server) post(conv string, rec *msgRecord, origin *conn, ack string, with func(tx *bbolt.Tx, seq uint64) error) (appendResult, error) {
	cs, err := s.acquire(conv)
	if err != nil {
		return appendResult{}, err
	}
	start := time.Now()
	res, err := s.msgs.AppendWith(s.ctx, conv, rec, with)
	if err == nil && res.Dup {
		s.release(cs)
		s.met.dups.Inc()
		return res, nil
	}
	return s.stored(cs, pendingMsg{rec: rec, origin: origin, ack: ack}, start, err)
}

// queue is post for a message from an app: it returns once the message is
// queued for the log's group commit, and wait returns once it is stored and fanned
// out (or could not be stored).
func (s *Server) queue(conv string, rec *msgRecord) (wait func() error, err error) {
	cs, err := s.acquire(conv)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	var res error
	start := time.Now()
	err = s.msgs.AppendAsync(conv, rec, func(err error) {
		_, res = s.stored(cs, pendingMsg{rec: rec}, start, err)
		close(done)
	})
	if err != nil {
		s.release(cs)
		return nil, err
	}
	return func() error { <-done; return res }, nil
}

// stored takes the outcome of storing m.rec (started at start) in the
// conversation of cs, fans out every message now in seq order, and
// releases cs.
func (s *Server) stored(cs *convState, m pendingMsg, start time.Time, err error) (appendResult, error) {
	defer s.release(cs)
	if err != nil {
		return appendResult{}, err
	}
	s.met.persist.Observe(time.Since(start).Seconds())
	s.sequence(cs, m)
	return appendResult{Seq: m.rec.Seq}, nil
}

// sequence takes m, stored and committed, into the fan-out of its
// conversation, and fans out every message now in seq order.
func (s *Server) sequence(cs *convState, m pendingMsg) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	s.met.msgsIn.Inc()
	if m.rec.Seq < cs.next {
		// Its turn has passed (it cannot, while the state is held from
		// before the message is stored until it is fanned out): late is
		// better than never, and a client that missed it fetches it.
		s.log.Warn("gateway: a message reached the fan-out after its turn", "conv", cs.rec.ID, "seq", m.rec.Seq, "next", cs.next)
		s.fanout(cs.rec, m)
		return
	}
	cs.pending[m.rec.Seq] = m
	for {
		m, ok := cs.pending[cs.next]
		if !ok {
			break
		}
		delete(cs.pending, cs.next)
		cs.next++
		s.fanout(cs.rec, m)
	}
}

// fanout queues m to every connection of every member, rendered once per
// surface. Called with the conversation's lock held, so in seq order.
func (s *Server) fanout(rec convRecord, m pendingMsg) {
	var rendered [4][]byte
	for _, p := range rec.Members {
		for _, c := range s.connsOf(p) {
			i := surfaceIndex(c.surface())
			if rendered[i] == nil {
				rendered[i] = encodeMsg(rec.ID, m.rec, surface.All()[i])
			}
			f := outFrame{conv: rec.ID, seq: m.rec.Seq, data: rendered[i], app: m.rec.From.Kind == "app"}
			if c == m.origin {
				f.data, f.ack = encodeAckMsg(m.ack, rec.ID, m.rec.Seq, f.data), true
			}
			c.deliver(f)
			s.met.msgsOut.Inc()
		}
	}
	s.toNetworks(rec, m.rec)
}

// Emit delivers what a host API sends: a message is persisted in
// out.Conversation as from out.App and delivered to its members; a prompt
// is persisted and shown to its person only, until answered. Emit may be
// called during Apps.Deliver or at any later time.
func (s *Server) Emit(ctx context.Context, out host.Outgoing) error {
	if err := s.emitting(out); err != nil {
		return err
	}
	if out.Prompt != nil {
		return s.prompt(ctx, out)
	}
	rec, err := appMessage(out)
	if err != nil {
		return err
	}
	_, err = s.post(out.Conversation, rec, nil, "", nil)
	return err
}

// Queue implements host.Queuer: a message is queued for the commit loop
// and wait returns once it is stored and on its way to the members;
// anything else is emitted at once, as by Emit.
func (s *Server) Queue(ctx context.Context, out host.Outgoing) (wait func() error, err error) {
	if out.Message == nil {
		if err := s.Emit(ctx, out); err != nil {
			return nil, err
		}
		return func() error { return nil }, nil
	}
	if err := s.emitting(out); err != nil {
		return nil, err
	}
	rec, err := appMessage(out)
	if err != nil {
		return nil, err
	}
	return s.queue(out.Conversation, rec)
}

// emitting refuses outgoing messages once the server is closed and counts
// the others.
func (s *Server) emitting(out host.Outgoing) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	what := "message"
	if out.Prompt != nil {
		what = "prompt"
	}
	s.met.emitted.WithLabelValues(what).Inc()
	return nil
}

// appMessage is the record of an app's outgoing message.
func appMessage(out host.Outgoing) (*msgRecord, error) {
	switch m := out.Message; {
	case m == nil:
		return nil, host.Wrapf(ErrBadOutgoing, "neither a message nor a prompt")
	case m.Text == "" && m.Card == nil:
		return nil, host.Wrapf(ErrBadOutgoing, "the message has neither text nor card")
	case out.Conversation == "":
		return nil, host.Wrapf(ErrBadOutgoing, "a message needs a conversation")
	}
	return &msgRecord{ID: out.ID, Time: time.Now().UnixMilli(), From: sender{Kind: "app", ID: out.App.App, Name: out.App.App, Agent: out.Agent}, Msg: *out.Message, Basis: out.Basis}, nil
}

// prompt stores out's prompt and shows it to its person. A prompt already
// answered is not shown again: a retried request does not ask twice.
func (s *Server) prompt(ctx context.Context, out host.Outgoing) error {
	p, err := promptOf(out)
	if err != nil {
		return err
	}
	if old, err := s.st.Get(ctx, p.ID); err == nil && old.Answer != "" {
		return nil
	}
	if err := s.st.Put(ctx, p); err != nil {
		return err
	}
	s.show(p)
	return nil
}

// show delivers p, stored, to its person's connections.
func (s *Server) show(p promptRecord) {
	f := encodePrompt(p)
	for _, c := range s.connsOf(p.Person) {
		c.deliver(outFrame{data: f})
	}
	s.promptToNetworks(p)
}

func encodePrompt(p promptRecord) []byte {
	b, _ := json.Marshal(map[string]any{"type": "prompt", "prompt": map[string]any{
		"id": p.ID, "type": p.Type, "app": p.App.App, "conv": p.Conv, "body": p.Body}})
	return b
}

// IsMember reports whether person takes part in conversation (host/chat
// asks before chat.share posts into a named conversation).
func (s *Server) IsMember(_ context.Context, conversation, person string) (bool, error) {
	rec, err := s.conversation(conversation)
	if errors.Is(err, convlog.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.Contains(rec.Members, person), nil
}

// answer hands a person's answer to a prompt to the prompt's kind and,
// once that settled it, closes it on every connection of the person. Any
// prompt can be dismissed; its kind is not told.
func (s *Server) answer(ctx context.Context, c *conn, id, answer, conv string) error {
	return s.answerAs(ctx, c.person, string(c.surface()), id, answer, conv)
}

// answerAs is answer for person answering on surface surf.
func (s *Server) answerAs(ctx context.Context, person, surf, id, answer, conv string) error {
	p, err := s.st.Get(ctx, id)
	if err != nil {
		return err
	}
	if p.Person != person {
		return errorf(CodeForbidden, "this prompt is for someone else")
	}
	if p.Answer != "" {
		return errorf(CodeBadRequest, "this prompt was already answered (%s)", p.Answer)
	}
	if answer != host.Dismiss {
		kind := s.kinds[p.Type]
		switch {
		case kind == nil:
			return errorf(CodeUnavailable, "%s prompts cannot be answered on this server; dismiss it", p.Type)
		case !kind.Takes(answer):
			return errorf(CodeBadRequest, "a %s prompt takes %s or %s, not %q", p.Type, strings.Join(kind.Answers, ", "), host.Dismiss, answer)
		}
		var settled bool
		settled, err = kind.Apply(ctx, host.Answer{Prompt: p.ID, Person: p.Person, App: p.App, Conversation: p.Conv,
			Body: p.Body, Choice: answer, Surface: surf, Target: conv, Out: s})
		if !settled {
			if err == nil {
				err = errorf(CodeInternal, "the %s prompt took the answer but did not settle", p.Type)
			}
			return err
		}
	}
	s.met.promptAnswer.WithLabelValues(p.Type, answer).Inc()
	p.Answer = answer
	if err := s.st.Put(ctx, p); err != nil {
		return err
	}
	f, _ := json.Marshal(map[string]any{"type": "prompt_closed", "prompt": p.ID, "answer": answer})
	for _, c := range s.connsOf(person) {
		c.deliver(outFrame{data: f})
	}
	return err
}
