package gateway

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/gateway/eventstore"
	"github.com/passerelle/passerelle/gateway/msgstate"
	"github.com/passerelle/passerelle/gateway/readmarks"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sched"
)

// What became of an app's message on the person's surface (sent,
// delivered, read, failed) is recorded in Config.States
// (gateway/msgstate), for the merchant's figures and the message's
// history, and told to the app as a status event when its manifest asks
// for them ("events": ["status"]). The connector runtime records the
// network's statuses (MessageStateTx, inside the transaction that moves
// its outbox item); a web client's delivered and read marks record the
// app messages they pass (marks.go).
//
// A status event is kept in Config.Events in the transaction that records
// the move, and consumed in the transaction of the app's event: a crash
// between the two hands it again on the next start (Resume), and never
// twice. Only the move's last state is told: a read that comes before
// its delivered is one read event, and the delivered never follows.

// StateStore keeps what became of apps' messages (msgstate.Store on bbolt,
// in the database of the Log and Events).
type StateStore interface {
	// RecordTx applies m inside tx and says what moved.
	RecordTx(tx *bbolt.Tx, m msgstate.Move) (msgstate.Change, error)
	// Record applies m in a transaction of its own, with what with writes
	// when m moved the message.
	Record(ctx context.Context, m msgstate.Move, with func(tx *bbolt.Tx, c msgstate.Change) error) (msgstate.Change, error)
}

// eventWants is what the server asks of Config.Apps, when it can answer
// (runtime/apps.Router): whether app's serving versions ask for events of
// an opt-in type. An Apps that cannot answer gets no opt-in events.
type eventWants interface {
	Wants(app, typ string) bool
}

// states is the server's part in message states: the figures, and the
// order between Resume and the status events kept while it runs.
type states struct {
	moves *prometheus.CounterVec

	mu     sync.Mutex
	listed bool   // Resume listed the kept events
	upTo   uint64 // the highest key it listed: those at or below are its to hand on
}

func newStates(reg prometheus.Registerer) *states {
	st := &states{moves: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "passerelle", Subsystem: "gateway",
		Name: "app_message_states_total",
		Help: "Apps' messages reaching a state on a person's surface, by app, surface, state (sent, delivered, read, failed) and, for failed, code. A read message counts as delivered too."},
		[]string{"app", "surface", "state", "code"})}
	reg.MustRegister(st.moves)
	return st
}

// MessageStateTx records inside tx that an app's message reached m.State
// on m.Surface (the connector runtime calls it in the transaction that
// moves its outbox item) and, when that moved the message and the app
// asks for status events, keeps the app's status event in the same
// transaction. It returns what to do once tx has committed (count the
// figures, hand the event to the app); nil when nothing moved. Without
// Config.States it does nothing.
func (s *Server) MessageStateTx(tx *bbolt.Tx, m msgstate.Move, person string) (func(), error) {
	if s.cfg.States == nil {
		return nil, nil
	}
	c, err := s.cfg.States.RecordTx(tx, m)
	if err != nil || !c.Moved {
		return nil, err
	}
	k, err := s.keepStatus(tx, m, person, c)
	if err != nil {
		return nil, err
	}
	return func() { s.stateMoved(m, c, k) }, nil
}

// keepStatus keeps the status event of c in tx when the app asks for it;
// nil when it does not, or when the move is to sent.
func (s *Server) keepStatus(tx *bbolt.Tx, m msgstate.Move, person string, c msgstate.Change) (*eventstore.Event, error) {
	if s.cfg.Events == nil || m.State == host.StateSent {
		return nil, nil
	}
	w, ok := s.cfg.Apps.(eventWants)
	if !ok || !w.Wants(m.App, host.EventStatus) {
		return nil, nil
	}
	st := &host.StatusEvent{Message: m.Message, State: m.State, Surface: c.Message.Surface}
	if m.State == host.StateFailed {
		st.Code, st.NetworkCode = m.Code, m.NetworkCode
	}
	k := &eventstore.Event{App: m.App, Person: person, Conversation: m.Conversation, Surface: c.Message.Surface,
		Event: host.Event{V: 1, Type: host.EventStatus, ID: randomID("ev_"), App: m.App, Conversation: m.Conversation,
			Surface: c.Message.Surface, Status: st}}
	if err := s.cfg.Events.PutTx(tx, k); err != nil {
		return nil, err
	}
	return k, nil
}

// stateMoved counts a committed move in the figures and hands its kept
// status event, if any, to the app.
func (s *Server) stateMoved(m msgstate.Move, c msgstate.Change, k *eventstore.Event) {
	for _, st := range c.Reached {
		code := ""
		if st == host.StateFailed {
			code = m.Code
		}
		s.states.moves.WithLabelValues(m.App, c.Message.Surface, st, code).Inc()
	}
	if k == nil {
		return
	}
	s.states.mu.Lock()
	resumes := !s.states.listed || k.Key <= s.states.upTo
	s.states.mu.Unlock()
	if resumes {
		return // kept before Resume listed the events: Resume hands it on
	}
	ev := host.AppEvent{Person: k.Person, Conversation: k.Conversation, Surface: k.Surface, Event: k.Event, Out: s}
	wait := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.submit(k.App, ev, k)
		if err == nil {
			return
		}
		if !errors.Is(err, sched.ErrQueueFull) || attempt >= 20 || !sleepCtx(s.ctx, wait) {
			// Kept: the next start hands it on.
			s.log.Warn("gateway: a status event waits for the next start", "app", k.App, "message", m.Message, "state", m.State, "err", err)
			return
		}
		wait = min(wait*2, time.Second)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// listKept lists the kept events for Resume and notes the highest key
// listed, both under the lock stateMoved takes: a status event kept
// before the list is Resume's to hand on, one kept after is handed on as
// it comes.
func (s *Server) listKept(ctx context.Context) ([]eventstore.Event, error) {
	s.states.mu.Lock()
	defer s.states.mu.Unlock()
	kept, err := s.cfg.Events.List(ctx)
	if err != nil {
		return nil, err
	}
	s.states.listed = true
	if n := len(kept); n > 0 {
		s.states.upTo = kept[n-1].Key
	}
	return kept, nil
}

// markSetter is a MarkStore that moves a marker in the transaction of
// what the caller writes with it (readmarks.Store).
type markSetter interface {
	SetWith(ctx context.Context, conv, person, state string, seq uint64, with func(tx *bbolt.Tx, old, m readmarks.Marker) error) (readmarks.Marker, bool, error)
}

// maxMarkedStates bounds the app messages one mark records: a marker that
// jumps further passes the older ones without a state.
const maxMarkedStates = 256

// SurfaceWeb is the surface of the states a client of the platform's own
// (the web client, any protocol client, whatever surface profile it
// renders for) gives apps' messages with its marks.
const SurfaceWeb = "web"

// setMark moves person's marker in conv forward to seq (a client's mark
// frame) and, with Config.States, records each app message the move
// passes as delivered (a device of the person received it) or read
// (shown), in the marker's transaction, with the status events of the
// apps that ask for them.
func (s *Server) setMark(ctx context.Context, conv, person, state string, seq uint64) (readmarks.Marker, bool, error) {
	ms, ok := s.cfg.Marks.(markSetter)
	if s.cfg.States == nil || !ok || isNetworkConv(conv) {
		// A network conversation's messages take their states from the
		// network's statuses (MessageStateTx), not from a web client
		// that lists the conversation too.
		return s.cfg.Marks.Set(ctx, conv, person, state, seq)
	}
	var prev readmarks.Marker
	all, err := s.cfg.Marks.Of(ctx, []string{conv})
	if err != nil {
		return readmarks.Marker{}, false, err
	}
	for _, m := range all[conv] {
		if m.Person == person {
			prev = m
		}
	}
	if prev.Delivered >= seq && (state != MarkRead || prev.Read >= seq) {
		return s.cfg.Marks.Set(ctx, conv, person, state, seq) // nothing moves: no log read
	}
	msgs, err := s.msgs.Range(ctx, conv, prev.Read, maxMarkedStates)
	if err != nil {
		return readmarks.Marker{}, false, err
	}
	var apps []convlog.Message
	for _, m := range msgs {
		if m.Seq <= seq && m.From.Kind == "app" && m.ID != "" && m.From.Agent == "" {
			apps = append(apps, m)
		}
	}
	if len(apps) == 0 {
		return s.cfg.Marks.Set(ctx, conv, person, state, seq)
	}
	var afters []func()
	now := time.Now()
	m, moved, err := ms.SetWith(ctx, conv, person, state, seq, func(tx *bbolt.Tx, old, m readmarks.Marker) error {
		afters = afters[:0]
		for _, am := range apps {
			st := ""
			switch {
			case am.Seq > old.Read && am.Seq <= m.Read:
				st = host.StateRead
			case am.Seq > old.Delivered && am.Seq <= m.Delivered:
				st = host.StateDelivered
			default:
				continue
			}
			after, err := s.MessageStateTx(tx, msgstate.Move{Message: am.ID, App: am.From.ID, Conversation: conv,
				Surface: SurfaceWeb, State: st, At: now}, person)
			if err != nil {
				return err
			}
			if after != nil {
				afters = append(afters, after)
			}
		}
		return nil
	})
	if err == nil {
		for _, f := range afters {
			f()
		}
	}
	return m, moved, err
}

// isNetworkConv says whether conv is a conversation with a person on a
// network (NetworkConvID).
func isNetworkConv(conv string) bool { return strings.HasPrefix(conv, networkConvPrefix) }
