package handoff

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
)

// The states of a handoff.
const (
	StatusWaiting  = "waiting"  // handed off; no agent has taken it yet
	StatusTaken    = "taken"    // an agent took it or answered in it
	StatusReturned = "returned" // handed back to the app
)

// Limits of what an app hands off with a conversation.
const (
	MaxReason     = 200  // characters
	MaxSummary    = 2000 // characters
	MaxFields     = 20
	MaxFieldName  = 40  // bytes
	MaxFieldValue = 500 // characters
	MaxAgent      = 60  // characters of an agent's display name
	MaxNote       = 2000
)

// Errors, wrapped with details.
var (
	ErrInvalid  = &host.Error{Status: host.StatusBadRequest, Message: "handoff: invalid request"}
	ErrNotFound = &host.Error{Status: host.StatusNotFound, Code: "handoff_not_found", Message: "no such handoff"}
	// ErrReturned is the kind of a change refused because the handoff was
	// already handed back: the app has the conversation again.
	ErrReturned = &host.Error{Status: host.StatusConflict, Code: "handoff_returned", Message: "the conversation was already handed back to the app"}
)

// Handoff is one conversation handed to the merchant's staff.
type Handoff struct {
	ID           string            `json:"id"`
	App          host.AppRef       `json:"app"` // the app, and the version, that handed off
	Conversation string            `json:"conversation"`
	Person       string            `json:"person"`         // platform id; never shown to the merchant
	User         string            `json:"user,omitempty"` // the person's pseudonymous id for the app
	Surface      string            `json:"surface,omitempty"`
	Reason       string            `json:"reason"`
	Summary      string            `json:"summary,omitempty"`
	Fields       map[string]string `json:"fields,omitempty"`
	Status       string            `json:"status"`
	Agent        string            `json:"agent,omitempty"`    // who took it last (or handed it back)
	AgentID      string            `json:"agent_id,omitempty"` // Agent's member id; "" for the merchant itself
	Answered     []Agent           `json:"answered,omitempty"` // who answered in it, by first answer
	Note         string            `json:"note,omitempty"`     // the hand-back note
	Created      int64             `json:"created"`            // unix milliseconds
	Taken        int64             `json:"taken,omitempty"`
	Returned     int64             `json:"returned,omitempty"`
}

// Agent is who answers a handoff: a member of the merchant's staff (ID
// is its member id, gateway/staff) or the merchant itself (ID empty).
// Name is what the person and colleagues see.
type Agent struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
}

// Open reports whether h still holds its conversation from the app.
func (h *Handoff) Open() bool { return h.Status == StatusWaiting || h.Status == StatusTaken }

// Request is what an app gives chat.handoff: why it hands the
// conversation off, a summary for the agent and named fields (an order
// number, a ticket reference).
type Request struct {
	Reason  string            `json:"reason"`
	Summary string            `json:"summary,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// Validate checks r against the limits; the error names the field and
// says what to change.
func (r *Request) Validate() error {
	if err := text("reason", r.Reason, MaxReason, true); err != nil {
		return err
	}
	if err := text("summary", r.Summary, MaxSummary, false); err != nil {
		return err
	}
	if len(r.Fields) > MaxFields {
		return host.Wrapf(ErrInvalid, "fields: %d fields, at most %d; put the rest in the summary", len(r.Fields), MaxFields)
	}
	for k, v := range r.Fields {
		if k == "" || len(k) > MaxFieldName || !utf8.ValidString(k) {
			return host.Wrapf(ErrInvalid, "fields: the name %q must be 1 to %d bytes of UTF-8", k, MaxFieldName)
		}
		if err := text("fields."+k, v, MaxFieldValue, false); err != nil {
			return err
		}
	}
	return nil
}

func text(field, s string, max int, required bool) error {
	if !utf8.ValidString(s) {
		return host.Wrapf(ErrInvalid, "%s: not valid UTF-8", field)
	}
	if required && strings.TrimSpace(s) == "" {
		return host.Wrapf(ErrInvalid, "%s: empty; say it in a few words", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return host.Wrapf(ErrInvalid, "%s: %d characters, at most %d; shorten it", field, n, max)
	}
	return nil
}

// Pseudonyms gives the per-app pseudonymous id of a person.
type Pseudonyms interface {
	OpenID(ref host.AppRef, person string) string
}

// Notice is an event a handoff causes for its app: the handoff event when
// an agent takes it, the handback event when it is handed back. Call Done
// once its delivery ended.
type Notice struct {
	Handoff Handoff
	Event   host.Event // Type and Handoff set

	done func(ctx context.Context, err error)
}

// Done tells the service how the delivery of n ended: it is forgotten
// unless ctx has ended (the process is stopping: Redeliver hands it over
// at the next start), whatever err.
func (n Notice) Done(ctx context.Context, err error) {
	if n.done != nil {
		n.done(ctx, err)
	}
}

// Config configures Open.
type Config struct {
	// Notify learns the events handoffs cause for apps. It runs on the
	// goroutine that made the change (an inbox request): queue the notice
	// (runtime/hostevents through host/services), do not deliver it
	// there. Nil forgets them.
	Notify func(ctx context.Context, n Notice)
	// Pseudonyms gives the person's id for the app (host/identity), shown
	// to the merchant's staff instead of the platform id. Nil: none shown.
	Pseudonyms Pseudonyms
	Now        func() time.Time // default time.Now
	Logger     *slog.Logger
}

var (
	bucketHandoffs = []byte("handoffs")          // id -> Handoff JSON
	bucketByMerch  = []byte("handoffs_merchant") // merchant \0 id -> nil
	bucketOpen     = []byte("handoffs_open")     // conversation -> id of its open handoff
	bucketNotices  = []byte("handoffs_notices")  // id \0 event type -> nil: not yet delivered
)

// open is what memory keeps of an open handoff, for Holds.
type open struct{ id, merchant string }

// Service keeps handoffs. It is safe for concurrent use.
type Service struct {
	db  *bbolt.DB
	cfg Config
	log *slog.Logger

	mu      sync.RWMutex
	open    map[string]open   // conversation -> its open handoff
	version map[string]uint64 // merchant -> changes seen since start
	changed chan struct{}     // closed and replaced at every change
}

// Open creates the service's buckets in db and loads the open handoffs.
func Open(db *bbolt.DB, cfg Config) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := bolt.CreateBuckets(db, bucketHandoffs, bucketByMerch, bucketOpen, bucketNotices); err != nil {
		return nil, fmt.Errorf("handoff: create buckets: %w", err)
	}
	s := &Service{db: db, cfg: cfg, log: cfg.Logger, open: map[string]open{}, version: map[string]uint64{}, changed: make(chan struct{})}
	err := db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketOpen).ForEach(func(conv, id []byte) error {
			h, err := get(tx, string(id))
			if err != nil {
				return err
			}
			s.open[string(conv)] = open{id: h.ID, merchant: h.App.Merchant}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("handoff: load open handoffs: %w", err)
	}
	return s, nil
}

func newID(now time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("ho_%011x%s", now.UnixMilli(), hex.EncodeToString(b[:]))
}

func get(tx *bbolt.Tx, id string) (Handoff, error) {
	v := tx.Bucket(bucketHandoffs).Get([]byte(id))
	if v == nil {
		return Handoff{}, host.Wrapf(ErrNotFound, "%q", id)
	}
	var h Handoff
	if err := json.Unmarshal(v, &h); err != nil {
		return Handoff{}, fmt.Errorf("handoff: decode %s: %w", id, err)
	}
	return h, nil
}

func put(tx *bbolt.Tx, h *Handoff) error {
	v, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketHandoffs).Put([]byte(h.ID), v)
}

// Begin is a handoff about to start: the caller writes it with Apply,
// inside its own transaction or through Commit, and then calls Committed.
type Begin struct {
	Handoff Handoff
	// Already is true when the conversation already had an open handoff:
	// Handoff is that one, and Apply writes nothing.
	Already bool
	s       *Service
}

// Start prepares the handoff of a conversation: app (the calling
// version), conversation, person, the surface and the app's request
// (validated). When the conversation
// already has an open handoff, the result is that one, Already set. The
// handoff exists once Apply committed (host.Effect).
func (s *Service) Start(ctx context.Context, app host.AppRef, conversation, person, surface string, r Request) (*Begin, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if conversation == "" {
		return nil, host.Wrapf(ErrInvalid, "this event has no conversation to hand off")
	}
	s.mu.Lock()
	o, ok := s.open[conversation]
	s.mu.Unlock()
	if ok {
		var h Handoff
		err := s.db.View(func(tx *bbolt.Tx) (err error) { h, err = get(tx, o.id); return err })
		if err != nil {
			return nil, err
		}
		return &Begin{Handoff: h, Already: true, s: s}, nil
	}
	now := s.cfg.Now()
	user := ""
	if s.cfg.Pseudonyms != nil && person != "" {
		user = s.cfg.Pseudonyms.OpenID(app, person)
	}
	h := Handoff{ID: newID(now), App: app, Conversation: conversation, Person: person, User: user, Surface: surface,
		Reason: strings.TrimSpace(r.Reason), Summary: r.Summary, Fields: r.Fields, Status: StatusWaiting, Created: now.UnixMilli()}
	return &Begin{Handoff: h, s: s}, nil
}

// Apply writes the handoff in tx (host.Effect.Apply). When another
// handoff of the conversation committed meanwhile it fails with an error
// of kind host.ErrTxConflict.
func (b *Begin) Apply(tx *bbolt.Tx) error {
	if b.Already {
		return nil
	}
	h := &b.Handoff
	if v := tx.Bucket(bucketOpen).Get([]byte(h.Conversation)); v != nil {
		return host.Wrapf(host.ErrTxConflict, "conversation %s was handed off meanwhile (%s)", h.Conversation, v)
	}
	if err := put(tx, h); err != nil {
		return err
	}
	if err := tx.Bucket(bucketByMerch).Put(bolt.Key(h.App.Merchant, h.ID), nil); err != nil {
		return err
	}
	return tx.Bucket(bucketOpen).Put([]byte(h.Conversation), []byte(h.ID))
}

// Committed makes the committed handoff hold its conversation from the
// app (host.Effect.Committed).
func (b *Begin) Committed() {
	if b.Already {
		return
	}
	h := &b.Handoff
	s := b.s
	s.mu.Lock()
	s.open[h.Conversation] = open{id: h.ID, merchant: h.App.Merchant}
	s.bumpLocked(h.App.Merchant)
	s.mu.Unlock()
	s.log.Info("conversation handed off", "handoff", h.ID, "app", h.App.String(), "conversation", h.Conversation, "reason", h.Reason)
}

// Commit writes b in its own transaction and calls Committed: for a
// handoff made outside an event's transaction.
func (b *Begin) Commit() error {
	if err := b.s.db.Update(b.Apply); err != nil {
		return err
	}
	b.Committed()
	return nil
}

func (s *Service) bumpLocked(merchant string) {
	s.version[merchant]++
	close(s.changed)
	s.changed = make(chan struct{})
}

// Holds reports whether conversation has an open handoff: the person's
// messages in it are for the merchant's staff, not for the app. A true
// answer counts as a change of the merchant's inbox (see Wait): the
// runtime asks just before it would have delivered a person's message.
func (s *Service) Holds(_ context.Context, conversation string) (bool, error) {
	// Every person's message to an app asks: the common answer, no, takes
	// a read lock only.
	s.mu.RLock()
	o, ok := s.open[conversation]
	s.mu.RUnlock()
	if ok {
		s.Changed(o.merchant)
	}
	return ok, nil
}

// HoldsTx is Holds for a person's event whose consumption commits in tx
// (host.Tx; runtime/apps commits it with nothing else when the event is
// held): when conversation has an open handoff it stages the check that
// the handoff is still open when tx commits (one handed back meanwhile
// makes the commit a conflict, host.ErrTxConflict: the event is decided
// again and goes to the app) and, once committed, counts the held event
// as a change of the merchant's inbox (see Wait). The person's message
// itself was stored in its conversation when it was accepted; nothing
// else is written for it.
func (s *Service) HoldsTx(_ context.Context, tx *host.Tx, conversation string) (bool, error) {
	s.mu.RLock()
	o, ok := s.open[conversation]
	s.mu.RUnlock()
	if !ok {
		return false, nil
	}
	tx.Stage(host.Effect{
		Apply: func(btx *bbolt.Tx) error {
			if id := btx.Bucket(bucketOpen).Get([]byte(conversation)); string(id) != o.id {
				return host.Wrapf(host.ErrTxConflict, "the handoff %s of conversation %s was handed back meanwhile", o.id, conversation)
			}
			return nil
		},
		Committed: func() { s.Changed(o.merchant) },
	})
	return true, nil
}

// Changed counts a change of merchant's inbox that the service did not
// make (an agent's message posted in a handed-off conversation), so that
// Wait returns.
func (s *Service) Changed(merchant string) {
	s.mu.Lock()
	s.bumpLocked(merchant)
	s.mu.Unlock()
}

// Wait returns merchant's inbox version once it differs from since, or
// when ctx ends (with the version then). A version is a count of changes
// since the process started; a client passes back the one it last saw.
func (s *Service) Wait(ctx context.Context, merchant string, since uint64) uint64 {
	for {
		s.mu.Lock()
		v, ch := s.version[merchant], s.changed
		s.mu.Unlock()
		if v != since {
			return v
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return v
		}
	}
}

// List returns merchant's handoffs, newest first: the open ones only
// when openOnly, else every one; at most limit (default and cap 500).
func (s *Service) List(_ context.Context, merchant string, openOnly bool, limit int) ([]Handoff, error) {
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	out := []Handoff{}
	prefix := bolt.Key(merchant, "")
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketByMerch).Cursor()
		// Ids sort by creation time: walk the merchant's keys backwards.
		k, _ := c.Seek(bolt.Key(merchant + "\x01"))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Prev() {
			h, err := get(tx, string(k[len(prefix):]))
			if err != nil {
				return err
			}
			if openOnly && !h.Open() {
				continue
			}
			out = append(out, h)
		}
		return nil
	})
	return out, err
}

// Get returns merchant's handoff id; ErrNotFound when there is none or it
// is another merchant's.
func (s *Service) Get(_ context.Context, merchant, id string) (Handoff, error) {
	var h Handoff
	err := s.db.View(func(tx *bbolt.Tx) (err error) { h, err = get(tx, id); return err })
	if err == nil && h.App.Merchant != merchant {
		err = host.Wrapf(ErrNotFound, "%q", id)
	}
	return h, err
}

// Take records that agent (a display name, for the merchant itself)
// takes the handoff id of merchant: TakeAs with no member id.
func (s *Service) Take(ctx context.Context, merchant, id, agent string) (Handoff, error) {
	return s.TakeAs(ctx, merchant, id, Agent{Name: agent})
}

// TakeAs records that a takes the handoff id of merchant. When that
// changes who has it (a waiting handoff taken, or taken over by another
// agent), the app gets a handoff event. A returned handoff fails with
// ErrReturned.
func (s *Service) TakeAs(ctx context.Context, merchant, id string, a Agent) (Handoff, error) {
	if err := checkAgent(a.Name); err != nil {
		return Handoff{}, err
	}
	return s.change(ctx, merchant, id, func(h *Handoff) (string, error) {
		if !h.Open() {
			return "", host.Wrapf(ErrReturned, "%s was handed back by %s; the app answers the person again", h.ID, h.Agent)
		}
		if h.Status == StatusTaken && h.Agent == a.Name && h.AgentID == a.ID {
			return "", nil
		}
		h.Status, h.Agent, h.AgentID, h.Taken = StatusTaken, a.Name, a.ID, s.cfg.Now().UnixMilli()
		return host.EventHandoff, nil
	})
}

// Answered records that a answered in the handoff id of merchant (after
// TakeAs, once the answer was posted): Handoff.Answered lists each agent
// once. It changes the merchant's inbox (Wait returns).
func (s *Service) Answered(ctx context.Context, merchant, id string, a Agent) (Handoff, error) {
	if err := checkAgent(a.Name); err != nil {
		return Handoff{}, err
	}
	return s.change(ctx, merchant, id, func(h *Handoff) (string, error) {
		for _, o := range h.Answered {
			if o == a {
				return "", nil
			}
		}
		h.Answered = append(h.Answered, a)
		return changedOnly, nil
	})
}

// changedOnly is what a change returns that the app has no event for.
const changedOnly = "-"

// Return hands the handoff id of merchant back to its app, with the note
// of agent (a display name, for the merchant itself): ReturnAs with no
// member id.
func (s *Service) Return(ctx context.Context, merchant, id, agent, note string) (Handoff, error) {
	return s.ReturnAs(ctx, merchant, id, Agent{Name: agent}, note)
}

// ReturnAs hands the handoff id of merchant back to its app, with a's
// note: the person's messages reach the app again, and the app gets a
// handback event naming a. A returned handoff fails with ErrReturned.
func (s *Service) ReturnAs(ctx context.Context, merchant, id string, a Agent, note string) (Handoff, error) {
	if err := checkAgent(a.Name); err != nil {
		return Handoff{}, err
	}
	if err := text("note", note, MaxNote, false); err != nil {
		return Handoff{}, err
	}
	return s.change(ctx, merchant, id, func(h *Handoff) (string, error) {
		if !h.Open() {
			return "", host.Wrapf(ErrReturned, "%s was handed back by %s already", h.ID, h.Agent)
		}
		h.Status, h.Agent, h.AgentID, h.Note, h.Returned = StatusReturned, a.Name, a.ID, note, s.cfg.Now().UnixMilli()
		return host.EventHandback, nil
	})
}

func checkAgent(agent string) error {
	if err := text("agent", agent, MaxAgent, true); err != nil {
		return host.Wrapf(ErrInvalid, "agent: give the display name the person will see (at most %d characters)", MaxAgent)
	}
	return nil
}

// change applies f to the handoff and, when f names an event type, keeps
// the notice of that event with the change and hands it to Notify;
// changedOnly writes the change and wakes Wait, with no event.
func (s *Service) change(ctx context.Context, merchant, id string, f func(h *Handoff) (string, error)) (Handoff, error) {
	var (
		h   Handoff
		typ string
	)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var err error
		if h, err = get(tx, id); err != nil {
			return err
		}
		if h.App.Merchant != merchant {
			return host.Wrapf(ErrNotFound, "%q", id)
		}
		if typ, err = f(&h); err != nil || typ == "" {
			return err
		}
		if err := put(tx, &h); err != nil {
			return err
		}
		if typ == changedOnly {
			return nil
		}
		if !h.Open() {
			if err := tx.Bucket(bucketOpen).Delete([]byte(h.Conversation)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketNotices).Put(bolt.Key(h.ID, typ), nil)
	})
	if err != nil || typ == "" {
		return h, err
	}
	if typ == changedOnly {
		s.Changed(merchant)
		return h, nil
	}
	s.mu.Lock()
	if !h.Open() {
		delete(s.open, h.Conversation)
	}
	s.bumpLocked(merchant)
	s.mu.Unlock()
	s.log.Info("handoff "+h.Status, "handoff", h.ID, "app", h.App.String(), "agent", h.Agent)
	s.notify(ctx, h, typ)
	return h, nil
}

// notify hands the notice of event typ of h to Config.Notify.
func (s *Service) notify(ctx context.Context, h Handoff, typ string) {
	if s.cfg.Notify == nil {
		return
	}
	ev := host.HandoffEvent{ID: h.ID, Status: StatusTaken, Agent: h.Agent}
	if typ == host.EventHandback {
		ev.Status, ev.Note = StatusReturned, h.Note
	}
	key := bolt.Key(h.ID, typ)
	s.cfg.Notify(ctx, Notice{Handoff: h, Event: host.Event{Type: typ, Handoff: &ev},
		done: func(ctx context.Context, err error) {
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				s.log.Warn("handoff event not delivered; forgotten", "handoff", h.ID, "event", typ, "err", err)
			}
			if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketNotices).Delete(key) }); err != nil {
				s.log.Warn("handoff event not forgotten", "handoff", h.ID, "event", typ, "err", err)
			}
		}})
}

// Redeliver hands Notify the events a previous run kept but did not
// deliver, oldest handoff first. The server calls it once at start.
func (s *Service) Redeliver(ctx context.Context) error {
	type pending struct{ id, typ string }
	var all []pending
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketNotices).ForEach(func(k, _ []byte) error {
			id, typ, ok := strings.Cut(string(k), "\x00")
			if ok {
				all = append(all, pending{id, typ})
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	// A handoff's handoff event before its handback event.
	sort.Slice(all, func(i, j int) bool {
		if all[i].id != all[j].id {
			return all[i].id < all[j].id
		}
		return all[i].typ == host.EventHandoff
	})
	for _, p := range all {
		var h Handoff
		if err := s.db.View(func(tx *bbolt.Tx) (err error) { h, err = get(tx, p.id); return err }); err != nil {
			return err
		}
		s.notify(ctx, h, p.typ)
	}
	return nil
}
