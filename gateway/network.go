package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/gateway/eventstore"
	"github.com/passerelle/passerelle/gateway/promptstore"
	"github.com/passerelle/passerelle/gateway/surface"
	"github.com/passerelle/passerelle/host"
)

// Networks carries a conversation to a person who talks to an app from an
// outside network (WhatsApp, Messenger, Instagram) rather than from a
// WebSocket client. The connector runtime (gateway/connector/bridge)
// implements it; the server calls it for every stored message and every
// prompt, and it picks out those of its own conversations.
type Networks interface {
	// Message is called once per stored message, in each conversation's
	// seq order, while the conversation's delivery is held: it must not
	// block (queue the message and return).
	Message(conv convlog.Conv, m convlog.Message)
	// Prompt is called once a prompt is stored for its person.
	Prompt(p promptstore.Prompt)
}

// networksBox holds the Networks behind Server.nets, an atomic pointer
// so that the delivery path reads it without a lock.
type networksBox struct{ n Networks }

// SetNetworks tells the server where the messages and prompts of network
// conversations go. Call it before the connector runtime starts reading
// webhooks; nil removes it.
func (s *Server) SetNetworks(n Networks) {
	if n == nil {
		s.nets.Store(nil)
		return
	}
	s.nets.Store(&networksBox{n: n})
}

func (s *Server) networks() Networks {
	if b := s.nets.Load(); b != nil {
		return b.n
	}
	return nil
}

// toNetworks hands m of conv to the Networks, if any (fanout calls it).
func (s *Server) toNetworks(rec convRecord, m *msgRecord) {
	if n := s.networks(); n != nil {
		n.Message(rec, *m)
	}
}

// promptToNetworks hands a stored prompt to the Networks, if any.
func (s *Server) promptToNetworks(p promptRecord) {
	if n := s.networks(); n != nil {
		n.Prompt(p)
	}
}

// NetworkConvID is the id of the conversation between person and app
// through the network account key (a connection's id): one per account,
// so that a merchant's WhatsApp number and its Page keep their own threads.
func NetworkConvID(app, key, person string) string {
	return hashID(networkConvPrefix, app, key, person)
}

// networkConvPrefix starts the id of every network conversation.
const networkConvPrefix = "n_"

// EnsureNetworkConv makes sure the conversation between person and app
// through the network account key exists (kind app; the person's web
// clients list it too) and returns its id.
func (s *Server) EnsureNetworkConv(ctx context.Context, app, key, person string) (conv string, created bool, err error) {
	id := NetworkConvID(app, key, person)
	if _, _, err := s.msgs.Conv(ctx, id); err == nil {
		return id, false, nil // the common case: no catalog lookup
	}
	title := app
	if s.cfg.Apps != nil {
		title, _ = s.appName(ctx, app)
	}
	rec, created, err := s.msgs.Ensure(ctx, convRecord{ID: id, Kind: KindApp, App: app, Title: title, Members: []string{person}})
	if err != nil {
		return "", false, err
	}
	if created {
		s.announce(ctx, rec)
	}
	return rec.ID, created, nil
}

// NetworkMessage is what a person sent from an outside network, as the
// connector runtime hands it to the server.
type NetworkMessage struct {
	Conv    string // from EnsureNetworkConv
	Person  string // the platform person
	Name    string // the display name stored with the message
	Surface string // the network: whatsapp, messenger, instagram
	// ID is the network's id for the message (a wamid, a mid): the
	// message's client id, so that a redelivery is stored once, and the
	// seed of its event's id, so that the consent rules answer a keyword
	// once.
	ID   string
	Text string // what the conversation shows
	// Action is the choice a reply button, list row, quick reply or
	// postback picked; nil for text, which may still pick a numbered
	// menu's choice (surface Pick).
	Action *host.Action
	// Keep stores the message's app event with the message, in the same
	// transaction, until the app's effects for it commit (or a restart
	// resumes it): set it when the event is to be dispatched
	// (DispatchFromNetwork), not for a message the bridge answers itself.
	Keep bool
}

// Posted is what PostFromNetwork stored.
type Posted struct {
	Seq uint64
	Dup bool // the message was stored before (a redelivery); no event is due
	// Event is the app's event for the message (message or action); its
	// ID is derived from the network's id.
	Event host.Event

	kept *eventstore.Event // the kept event, with NetworkMessage.Keep
}

// PostFromNetwork stores a person's message in their network conversation
// as a client's message is stored (the conversation's members' clients see
// it) and returns the event the app should get for it, which
// DispatchFromNetwork hands over. A text that is the number of a choice of
// the numbered menu the network showed for the app's last card becomes
// that choice's action.
func (s *Server) PostFromNetwork(ctx context.Context, m NetworkMessage) (Posted, error) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return Posted{}, ErrClosed
	}
	cv, err := s.conversation(m.Conv)
	if err != nil {
		return Posted{}, err
	}
	if cv.Kind != KindApp {
		return Posted{}, errorf(CodeBadRequest, "network messages go to mini-app conversations; %s is a %s conversation", m.Conv, cv.Kind)
	}
	sf, err := surface.Parse(m.Surface)
	if err != nil {
		return Posted{}, errorf(CodeBadRequest, "%v", err)
	}
	ev := host.Event{V: 1, Type: host.EventMessage, ID: networkEventID(m.Surface, m.ID), App: cv.App, Conversation: m.Conv, Surface: string(sf), Text: m.Text}
	if m.Action != nil {
		ev.Type, ev.Text, ev.Action = host.EventAction, "", m.Action
	} else if surface.MayPick(sf, m.Text) {
		if last, err := s.lastCard(ctx, m.Conv); err == nil && last != nil {
			if ch, ok := surface.Render(sf, last.Msg).Pick(m.Text); ok && ch.Kind != "share" {
				ev.Type, ev.Text, ev.Action = host.EventAction, "", &host.Action{ID: ch.ID, Value: ch.Value}
			}
		}
	}
	rec := &msgRecord{Time: time.Now().UnixMilli(), From: sender{Kind: "person", ID: m.Person, Name: m.Name},
		Msg: host.Message{Text: m.Text}, Client: m.ID, Surface: string(sf)}
	var kept *eventstore.Event
	if m.Keep {
		kept = s.keep(cv.App, host.AppEvent{Person: m.Person, Conversation: m.Conv, Surface: string(sf), Event: ev})
	}
	res, err := s.post(m.Conv, rec, nil, "", s.keepWith(kept))
	if err != nil {
		return Posted{}, err
	}
	return Posted{Seq: res.Seq, Dup: res.Dup, Event: ev, kept: kept}, nil
}

// KindPage is the sender kind of a message the business wrote to the
// person from another tool of its network account (Meta's own inbox),
// which reached the gateway as a message echo (PostFromPage).
const KindPage = "page"

// PostFromPage stores in conv a message the business sent the person
// from another tool of its network account: from KindPage, named name,
// the network's id its client id (a redelivered echo is stored once). No
// app gets an event for it and no connector sends it: the person has it
// already. The merchant inbox shows it, and the person's other clients.
func (s *Server) PostFromPage(ctx context.Context, conv, network, id, name, text string) (Posted, error) {
	cv, err := s.conversation(conv)
	if err != nil {
		return Posted{}, err
	}
	if cv.Kind != KindApp {
		return Posted{}, errorf(CodeBadRequest, "network messages go to mini-app conversations; %s is a %s conversation", conv, cv.Kind)
	}
	sf, err := surface.Parse(network)
	if err != nil {
		return Posted{}, errorf(CodeBadRequest, "%v", err)
	}
	rec := &msgRecord{Time: time.Now().UnixMilli(), From: sender{Kind: KindPage, ID: cv.App, Name: name},
		Msg: host.Message{Text: text}, Client: "echo:" + id, Surface: string(sf)}
	res, err := s.post(conv, rec, nil, "", nil)
	if err != nil {
		return Posted{}, err
	}
	return Posted{Seq: res.Seq, Dup: res.Dup}, nil
}

// networkEventID is the event id of a network's message id: the same
// message delivered again gets the same event id.
func networkEventID(network, id string) string {
	h := sha256.Sum256([]byte(network + "\x00" + id))
	return "ev_" + hex.EncodeToString(h[:12])
}

// DispatchFromNetwork hands the event of a person's network message
// (PostFromNetwork's) to the conversation's app, through the same router
// (and consent rules) as a client's. A full app queue is an error with
// code app_busy: try again; a kept event stays kept until it ran.
func (s *Server) DispatchFromNetwork(person string, p Posted) error {
	ev := p.Event
	return s.submit(ev.App, host.AppEvent{Person: person, Conversation: ev.Conversation, Surface: ev.Surface, Event: ev, Out: s}, p.kept)
}

// AnswerFromNetwork answers one of person's prompts from a network, as an
// answer frame from a client does: the prompt's kind applies it and the
// person's clients close the prompt.
func (s *Server) AnswerFromNetwork(ctx context.Context, person, surfaceName, prompt, answer string) error {
	return s.answerAs(ctx, person, surfaceName, prompt, answer, "")
}

// Prompt returns a stored prompt (promptstore.ErrNotFound when none).
func (s *Server) Prompt(ctx context.Context, id string) (promptstore.Prompt, error) {
	return s.st.Get(ctx, id)
}

// MarkFromNetwork moves person's marker in conv, as a client's mark frame
// does, when the network reports a message delivered or read; the members'
// clients hear of it. Without a MarkStore it does nothing.
func (s *Server) MarkFromNetwork(ctx context.Context, conv, person, state string, seq uint64) error {
	if s.cfg.Marks == nil {
		return nil
	}
	rec, err := s.conversation(conv)
	if errors.Is(err, convlog.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	m, moved, err := s.cfg.Marks.Set(ctx, conv, person, state, seq)
	if err != nil || !moved {
		return err
	}
	b, _ := json.Marshal(markFrame{Type: "mark", Conv: conv, Marker: m})
	for _, p := range rec.Members {
		for _, pc := range s.connsOf(p) {
			pc.deliver(outFrame{data: b})
		}
	}
	return nil
}

// Range returns up to limit messages of conv after seq after, in order
// (the connector runtime reads back what its outbox may have missed).
func (s *Server) Range(ctx context.Context, conv string, after uint64, limit int) ([]convlog.Message, error) {
	return s.msgs.Range(ctx, conv, after, limit)
}
