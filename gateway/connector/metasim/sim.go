package metasim

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// SimConfig is what the simulator plays: its business accounts, the
// people who write to them, and how Meta's side behaves.
type SimConfig struct {
	Accounts []Account
	Users    []User
	Delivery DeliveryConfig
	Statuses StatusConfig
	// Throughput is the messages per second a WhatsApp number takes
	// before 130429 (DefaultThroughput if 0; none if < 0).
	Throughput int
	// PairInterval refuses a WhatsApp message to a person sooner than this
	// after the previous one with 131056 (none if 0).
	PairInterval time.Duration
	// NoWindows accepts sends outside the windows (WhatsApp's 24 hours,
	// Messenger's 24 hours and 7 days of HUMAN_AGENT); by default the
	// simulator refuses them as Meta does.
	NoWindows bool
	// Prefix is the path the simulator is served under when it shares a
	// server (e.g. "/metasim", served through http.StripPrefix): its pages
	// link under it. Empty when it has a listener of its own.
	Prefix string
	Now    func() time.Time // the clock of windows and timestamps; time.Now if nil
	Log    *slog.Logger     // nothing is logged if nil
}

// StatusConfig is how the simulator reports what became of a message the
// business sent: WhatsApp's statuses (sent, delivered, read), Messenger's
// delivery and read events, Instagram's read (seen) events. The delays
// count from the send; zero delays take the defaults (50ms, 200ms, 1s).
type StatusConfig struct {
	Sent, Delivered, Read time.Duration
	Off                   bool // no statuses at all (a failed status still comes)
	NoRead                bool // the person never reads
	SkipDelivered         bool // no delivered status (Meta does not always send it before read)
	// OutOfOrder posts the statuses of a message in reverse order (read,
	// delivered, sent), with their timestamps still in order, as Meta's
	// webhooks may arrive.
	OutOfOrder bool
}

// User is a simulated person on one network: a WhatsApp user (ID is the
// wa_id), a Messenger user (a PSID) or an Instagram user (an IGSID),
// writing to one business account (Account: its ID; the network's first
// account when empty).
type User struct {
	Network Network `json:"network"`
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	Account string  `json:"account"`
}

// Bubble is one message of a conversation, as the person's phone shows
// it.
type Bubble struct {
	ID         string    `json:"id"`   // the wamid or mid
	From       string    `json:"from"` // "person" or "business"
	Time       time.Time `json:"time"`
	Kind       string    `json:"kind"` // text, buttons, list, quick_replies, generic, template, reply, image
	Header     string    `json:"header,omitempty"`
	Text       string    `json:"text,omitempty"`
	Footer     string    `json:"footer,omitempty"`
	ListButton string    `json:"list_button,omitempty"` // a list's menu button
	Choices    []Choice  `json:"choices,omitempty"`     // buttons, list rows, quick replies
	Elements   []Element `json:"elements,omitempty"`    // a generic template's cards
	Status     string    `json:"status,omitempty"`      // the business's: accepted, sent, delivered, read, failed; the person's: read, once the business marked it
	Error      string    `json:"error,omitempty"`       // a failed status's error
	Token      string    `json:"token,omitempty"`       // an opt-in request the person accepted: their notification messages token
}

// Choice is something a person can tap: a reply button, a list row, a
// quick reply, a postback or web_url button.
type Choice struct {
	Kind        string `json:"kind"` // button, row, quick_reply, postback, web_url
	ID          string `json:"id"`   // the reply id, row id or payload
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	Section     string `json:"section,omitempty"`
	URL         string `json:"url,omitempty"`
}

// Element is a card of a generic template.
type Element struct {
	Title    string   `json:"title"`
	Subtitle string   `json:"subtitle,omitempty"`
	ImageURL string   `json:"image_url,omitempty"`
	Buttons  []Choice `json:"buttons,omitempty"`
}

// maxThread is the bubbles a conversation shows (it keeps up to twice
// as many).
const maxThread = 500

// maxPersonText is the longest message a simulated person may send
// (WhatsApp's limit for a text message).
const maxPersonText = 4096

// Errors of the simulator's calls.
var (
	ErrNoUser    = errors.New("metasim: no such simulated user")
	ErrNoAccount = errors.New("metasim: no such business account")
	ErrNoChoice  = errors.New("metasim: no such message or choice to tap")
)

type account struct {
	Account
	wa *Server
	ms *MessengerServer
}

type userKey struct {
	net Network
	id  string
}

type person struct {
	User
	acc    *account
	thread []Bubble
	fail   []int // codes of the next sends' failed statuses (WhatsApp)
}

// Sim is the local Meta simulator: the Send API of every account it
// plays, the people who write to them and their conversations, signed
// webhooks posted as Meta does, and a phone-like page per person. It is
// an http.Handler; Close stops its deliveries.
type Sim struct {
	cfg      SimConfig
	log      *slog.Logger
	accounts []*account
	d        *deliverer
	done     chan struct{}
	pages    http.Handler

	mu      sync.Mutex
	people  map[userKey]*person
	order   []userKey
	seq     int
	run     string // in the ids of people's messages: see runID
	changed chan struct{}
	closed  bool
}

var (
	waIDRE = regexp.MustCompile(`^[0-9]{6,15}$`)
	nodeRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// NewSim returns a simulator for cfg, its deliveries running until Close.
func NewSim(cfg SimConfig) (*Sim, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Prefix = strings.TrimRight(cfg.Prefix, "/")
	if cfg.Prefix != "" && !strings.HasPrefix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("metasim: prefix %q must start with /", cfg.Prefix)
	}
	if cfg.Statuses.Sent == 0 {
		cfg.Statuses.Sent = 50 * time.Millisecond
	}
	if cfg.Statuses.Delivered == 0 {
		cfg.Statuses.Delivered = 200 * time.Millisecond
	}
	if cfg.Statuses.Read == 0 {
		cfg.Statuses.Read = time.Second
	}
	s := &Sim{cfg: cfg, log: cfg.Log, people: map[userKey]*person{}, run: runID(), changed: make(chan struct{}), done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Accounts) == 0 {
		return nil, errors.New("metasim: no business account; give at least one (network, id, token, app secret)")
	}
	seen := map[string]bool{}
	for _, a := range cfg.Accounts {
		if err := s.addAccount(a, seen); err != nil {
			return nil, err
		}
	}
	for _, u := range cfg.Users {
		if err := s.AddUser(u); err != nil {
			return nil, err
		}
	}
	s.d = newDeliverer(cfg.Delivery)
	s.pages = s.mux()
	return s, nil
}

func (s *Sim) addAccount(a Account, seen map[string]bool) error {
	switch {
	case !a.Network.valid():
		return fmt.Errorf("metasim: account network %q: use whatsapp, messenger or instagram", a.Network)
	case !nodeRE.MatchString(a.ID):
		return fmt.Errorf("metasim: %s account id %q: give 1 to 64 letters and digits (the phone number id, Page id or Instagram account id)", a.Network, a.ID)
	case a.Token == "":
		return fmt.Errorf("metasim: %s account %s: the access token is empty; choose one and give it to the connector too", a.Network, a.ID)
	case a.WebhookURL != "" && a.AppSecret == "":
		return fmt.Errorf("metasim: %s account %s: a webhook URL needs the app secret that signs its notifications", a.Network, a.ID)
	case a.WebhookURL != "" && !strings.HasPrefix(a.WebhookURL, "http://") && !strings.HasPrefix(a.WebhookURL, "https://"):
		return fmt.Errorf("metasim: %s account %s: webhook URL %q must start with http:// or https://", a.Network, a.ID, a.WebhookURL)
	case seen[a.ID] || a.BusinessID != "" && seen[a.BusinessID]:
		return fmt.Errorf("metasim: account id %s is given twice", a.ID)
	}
	seen[a.ID] = true
	if a.BusinessID != "" {
		seen[a.BusinessID] = true
	}
	if a.Name == "" {
		a.Name = "Business " + a.ID
	}
	acc := &account{Account: a}
	if a.Network == WhatsApp {
		if a.DisplayPhone == "" {
			a.DisplayPhone = "1555" + fmt.Sprintf("%07d", len(s.accounts)+1)
			acc.DisplayPhone = a.DisplayPhone
		}
		acc.wa = New(Config{PhoneNumberID: a.ID, Token: a.Token, WABAID: a.wabaID(), PairInterval: s.cfg.PairInterval,
			Throughput: s.cfg.Throughput, Windows: !s.cfg.NoWindows, Templates: true, Now: s.cfg.Now,
			OnAccept: func(m Sent) { s.waAccepted(acc, m) }, OnRead: s.personRead})
	} else {
		acc.ms = NewMessenger(MessengerConfig{Instagram: a.Network == Instagram, Token: a.Token, Windows: !s.cfg.NoWindows, Now: s.cfg.Now,
			OnAccept: func(m MessengerSent) { s.msgrAccepted(acc, m) },
			OnSeen:   func(person string) { s.personSeen(acc.Network, person) }})
	}
	s.accounts = append(s.accounts, acc)
	return nil
}

// Close stops the deliveries (what is still queued is not posted) and
// ends the phone pages' live updates.
func (s *Sim) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	s.mu.Unlock()
	s.d.close()
}

// Flush waits until every notification due so far was posted (and
// retried, as configured) or ctx ends.
func (s *Sim) Flush(ctx context.Context) error { return s.d.flush(ctx) }

// Attempts returns the webhook posts made so far, oldest first.
func (s *Sim) Attempts() []Attempt { return s.d.Attempts() }

// Deliver posts body, a notification built elsewhere (a recorded
// payload, a type the simulator does not generate), to the webhook of
// the account id, signed and retried like the others.
func (s *Sim) Deliver(id string, body []byte) error {
	for _, a := range s.accounts {
		if a.ID == id {
			if a.WebhookURL == "" {
				return fmt.Errorf("metasim: %s account %s has no webhook URL to post to", a.Network, id)
			}
			s.d.enqueueRaw(a.Account, body)
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrNoAccount, id)
}

// Verify does what Meta does when a webhook URL is configured in the app
// dashboard: GET the account's webhook URL with hub.mode=subscribe,
// hub.verify_token=verifyToken and a random hub.challenge, and expect
// 200 with the challenge as the body. The error says what came back.
func (s *Sim) Verify(ctx context.Context, id, verifyToken string) error {
	var acc *account
	for _, a := range s.accounts {
		if a.ID == id {
			acc = a
		}
	}
	switch {
	case acc == nil:
		return fmt.Errorf("%w: %s", ErrNoAccount, id)
	case acc.WebhookURL == "":
		return fmt.Errorf("metasim: %s account %s has no webhook URL to verify", acc.Network, id)
	}
	challenge := runID() + runID()
	u, err := url.Parse(acc.WebhookURL)
	if err != nil {
		return fmt.Errorf("metasim: webhook URL %q: %w", acc.WebhookURL, err)
	}
	q := u.Query()
	q.Set("hub.mode", "subscribe")
	q.Set("hub.verify_token", verifyToken)
	q.Set("hub.challenge", challenge)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	c := s.cfg.Delivery.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("metasim: verifying %s: %w", acc.WebhookURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || string(body) != challenge {
		return fmt.Errorf("metasim: verifying %s: answered %d %q, want 200 and the challenge %q (is the verify token the connection's?)", acc.WebhookURL, resp.StatusCode, strings.TrimSpace(string(body)), challenge)
	}
	return nil
}

// Accounts returns the business accounts the simulator plays.
func (s *Sim) Accounts() []Account {
	out := make([]Account, len(s.accounts))
	for i, a := range s.accounts {
		out[i] = a.Account
	}
	return out
}

// WhatsApp returns the Send API of the WhatsApp number with phone number
// id id (to inject errors with FailNext, or register templates).
func (s *Sim) WhatsApp(id string) (*Server, bool) {
	for _, a := range s.accounts {
		if a.wa != nil && a.ID == id {
			return a.wa, true
		}
	}
	return nil, false
}

// Messenger returns the Send API of the Page or Instagram account id.
func (s *Sim) Messenger(id string) (*MessengerServer, bool) {
	for _, a := range s.accounts {
		if a.ms != nil && a.ID == id {
			return a.ms, true
		}
	}
	return nil, false
}

// AddUser adds a simulated person; the error says what is wrong with u.
func (s *Sim) AddUser(u User) error {
	var acc *account
	for _, a := range s.accounts {
		if a.Network == u.Network && (u.Account == "" || u.Account == a.ID) {
			acc = a
			break
		}
	}
	switch {
	case !u.Network.valid():
		return fmt.Errorf("metasim: user network %q: use whatsapp, messenger or instagram", u.Network)
	case acc == nil && u.Account != "":
		return fmt.Errorf("%w: %s account %s", ErrNoAccount, u.Network, u.Account)
	case acc == nil:
		return fmt.Errorf("%w: the simulator plays no %s account; add one for %s", ErrNoAccount, u.Network, u.ID)
	case u.Network == WhatsApp && !waIDRE.MatchString(u.ID):
		return fmt.Errorf("metasim: wa_id %q: give the person's number in international form, digits only (6 to 15)", u.ID)
	case u.Network != WhatsApp && !nodeRE.MatchString(u.ID):
		return fmt.Errorf("metasim: %s user id %q: give 1 to 64 letters and digits (a PSID or IGSID)", u.Network, u.ID)
	}
	u.Account = acc.ID
	if strings.TrimSpace(u.Name) == "" {
		u.Name = "Person " + u.ID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := userKey{u.Network, u.ID}
	if _, ok := s.people[k]; ok {
		return fmt.Errorf("metasim: %s user %s exists already", u.Network, u.ID)
	}
	s.people[k] = &person{User: u, acc: acc}
	s.order = append(s.order, k)
	s.changedLocked()
	return nil
}

// Users returns the simulated people, in the order they were added.
func (s *Sim) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, len(s.order))
	for i, k := range s.order {
		out[i] = s.people[k].User
	}
	return out
}

// Thread returns the conversation of a person with their business.
func (s *Sim) Thread(n Network, user string) ([]Bubble, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.people[userKey{n, user}]
	if !ok {
		return nil, fmt.Errorf("%w: %s %s", ErrNoUser, n, user)
	}
	return append([]Bubble{}, p.thread[max(0, len(p.thread)-maxThread):]...), nil
}

// FailDelivery makes the next len(codes) messages the business sends the
// WhatsApp user fail after Meta accepted them: a failed status with the
// code (e.g. 131026, 131047, 131049) instead of sent, delivered, read.
func (s *Sim) FailDelivery(user string, codes ...int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.people[userKey{WhatsApp, user}]
	if !ok {
		return fmt.Errorf("%w: whatsapp %s", ErrNoUser, user)
	}
	p.fail = append(p.fail, codes...)
	return nil
}

func (s *Sim) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// watch returns a channel closed at the next change.
func (s *Sim) watch() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (p *person) add(b Bubble) {
	p.thread = append(p.thread, b)
	if len(p.thread) >= 2*maxThread {
		// Trimmed by halves, so that a long conversation costs no copy
		// per message.
		p.thread = append([]Bubble(nil), p.thread[len(p.thread)-maxThread:]...)
	}
}

func (s *Sim) person(n Network, user string) (*person, error) {
	p, ok := s.people[userKey{n, user}]
	if !ok {
		return nil, fmt.Errorf("%w: %s %s", ErrNoUser, n, user)
	}
	return p, nil
}

// newID returns the id of a person's message (s.mu held).
func (s *Sim) newID(p *person) string {
	s.seq++
	raw := fmt.Sprintf("sim-in-%s-%s-%d", p.ID, s.run, s.seq)
	switch p.Network {
	case WhatsApp:
		return "wamid." + base64.StdEncoding.EncodeToString([]byte(raw))
	case Instagram:
		return base64.RawURLEncoding.EncodeToString([]byte("ig_" + raw))
	}
	return "m_" + base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// Say makes the person write text to their business: the message joins
// the conversation, opens the windows and is posted as a signed webhook.
// It returns the message's id.
func (s *Sim) Say(n Network, user, text string) (string, error) {
	if strings.TrimSpace(text) == "" {
		return "", errors.New("metasim: the message is empty; type something")
	}
	if n := utf8.RuneCountInString(text); n > maxPersonText {
		return "", fmt.Errorf("metasim: the message has %d characters; a person's message has at most %d", n, maxPersonText)
	}
	return s.inbound(n, user, func(p *person, id string, now time.Time) (Bubble, Entry) {
		b := Bubble{ID: id, From: "person", Time: now, Kind: "text", Text: text}
		if n == WhatsApp {
			return b, WhatsAppMessage(p.acc.Account, WAMessage{ID: id, From: p.ID, Name: p.Name, Time: now, Text: text})
		}
		return b, MessengerEntry(p.acc.Account, MsgrEvent{From: p.ID, Time: now, MID: id, Text: text})
	})
}

// PageReply makes the business answer the person on Messenger or
// Instagram from Meta's own inbox, not through the Send API: the message
// joins the person's conversation, and the account's webhook gets its
// echo (is_echo, with PageInboxAppID), as Meta posts one to every app
// subscribed to message_echoes. WhatsApp has no such echo. It returns the
// message's id.
func (s *Sim) PageReply(n Network, user, text string) (string, error) {
	if n == WhatsApp {
		return "", errors.New("metasim: WhatsApp posts no echo of a message the business wrote elsewhere; use messenger or instagram")
	}
	if strings.TrimSpace(text) == "" {
		return "", errors.New("metasim: the answer is empty; type something")
	}
	if n := utf8.RuneCountInString(text); n > msgrMaxText {
		return "", fmt.Errorf("metasim: the answer has %d characters; Messenger takes at most %d", n, msgrMaxText)
	}
	s.mu.Lock()
	p, err := s.person(n, user)
	if err != nil {
		s.mu.Unlock()
		return "", err
	}
	now := s.cfg.Now()
	s.seq++
	id := "m_" + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("sim-page-%s-%s-%d", p.ID, s.run, s.seq)))
	p.add(Bubble{ID: id, From: "business", Time: now, Kind: "text", Text: text, Status: "sent"})
	s.changedLocked()
	acc := p.acc
	s.mu.Unlock()
	s.d.enqueue(acc.Account, MessengerEntry(acc.Account, MsgrEvent{From: user, Time: now, MID: id, Text: text, Echo: true, AppID: PageInboxAppID}), time.Now(), nil)
	return id, nil
}

// SendPhoto makes the person send a photo (a sample the simulator
// serves at /static/photo.svg), with an optional caption on WhatsApp: a
// message type the connectors report as unsupported, for testing what a
// business answers to one. It returns the message's id.
func (s *Sim) SendPhoto(n Network, user, caption string) (string, error) {
	return s.inbound(n, user, func(p *person, id string, now time.Time) (Bubble, Entry) {
		b := Bubble{ID: id, From: "person", Time: now, Kind: "image", Text: caption}
		sum := sha256.Sum256([]byte(id))
		if n == WhatsApp {
			img := &Image{ID: fmt.Sprint(1000000000000000 + int64(binary.BigEndian.Uint32(sum[:4]))), SHA256: base64.StdEncoding.EncodeToString(sum[:]), MimeType: "image/jpeg"}
			return b, WhatsAppMessage(p.acc.Account, WAMessage{ID: id, From: p.ID, Name: p.Name, Time: now, Text: caption, Image: img})
		}
		b.Text = ""
		return b, MessengerEntry(p.acc.Account, MsgrEvent{From: p.ID, Time: now, MID: id, Image: &Image{URL: "https://scontent.example/" + hex.EncodeToString(sum[:8]) + ".jpg"}})
	})
}

// Tap makes the person tap choice (a reply button's or list row's id, a
// quick reply's or postback's payload) of the business's message msg:
// the reply is posted as the network reports it (button_reply,
// list_reply, a message with quick_reply, a postback). It returns the
// id of the person's message.
func (s *Sim) Tap(n Network, user, msg, choice string) (string, error) {
	var err error
	id, err2 := s.inbound(n, user, func(p *person, id string, now time.Time) (Bubble, Entry) {
		c, ok := p.choice(msg, choice)
		if !ok {
			err = fmt.Errorf("%w: %s has no choice %q in message %s", ErrNoChoice, user, choice, msg)
			return Bubble{}, Entry{}
		}
		b := Bubble{ID: id, From: "person", Time: now, Kind: "reply", Text: c.Title}
		a := p.acc.Account
		switch c.Kind {
		case "button":
			return b, WhatsAppMessage(a, WAMessage{ID: id, From: p.ID, Name: p.Name, Time: now, Button: &Reply{ID: c.ID, Title: c.Title}, Context: msg})
		case "row":
			return b, WhatsAppMessage(a, WAMessage{ID: id, From: p.ID, Name: p.Name, Time: now, List: &Reply{ID: c.ID, Title: c.Title, Description: c.Description}, Context: msg})
		case "quick_reply":
			return b, MessengerEntry(a, MsgrEvent{From: p.ID, Time: now, MID: id, Text: c.Title, QuickReply: c.ID})
		case "postback":
			return b, MessengerEntry(a, MsgrEvent{From: p.ID, Time: now, MID: id, Postback: &Postback{Title: c.Title, Payload: c.ID}})
		case "optin", "stop", "resume":
			o, err2 := s.optin(p, msg, c)
			if err2 != nil {
				err = err2
				return Bubble{}, Entry{}
			}
			b.Kind = "optin"
			return b, MessengerEntry(a, MsgrEvent{From: p.ID, Time: now, Optin: &o})
		}
		err = fmt.Errorf("%w: a %s button opens %s; it sends no webhook", ErrNoChoice, c.Kind, c.URL)
		return Bubble{}, Entry{}
	})
	if err2 != nil {
		return "", err2
	}
	return id, err
}

// optin is the person tapping choice c of the opt-in request msg (s.mu
// held): "optin" opts in to its topic (Meta mints the token), "stop" and
// "resume" stop and resume that topic's notifications. The request's
// button becomes the next thing the person can do.
func (s *Sim) optin(p *person, msg string, c Choice) (Optin, error) {
	if p.acc.ms == nil {
		return Optin{}, fmt.Errorf("%w: notification messages are Messenger's and Instagram's", ErrNoChoice)
	}
	var b *Bubble
	for i := range p.thread {
		if p.thread[i].ID == msg {
			b = &p.thread[i]
		}
	}
	var o Optin
	var err error
	switch c.Kind {
	case "optin":
		o = p.acc.ms.OptIn(p.ID, b.Text, c.ID, c.Description)
	default:
		o, err = p.acc.ms.Notifications(b.Token, c.Kind == "stop")
	}
	if err != nil {
		return Optin{}, err
	}
	b.Token = o.Token
	if c.Kind == "stop" {
		b.Choices = []Choice{{Kind: "resume", ID: "resume", Title: "Resume notifications"}}
	} else {
		b.Choices = []Choice{{Kind: "stop", ID: "stop", Title: "Stop notifications"}}
	}
	return o, nil
}

func (p *person) choice(msg, id string) (Choice, bool) {
	for _, b := range p.thread {
		if b.ID != msg || b.From != "business" {
			continue
		}
		cs := b.Choices
		for _, e := range b.Elements {
			cs = append(cs, e.Buttons...)
		}
		for _, c := range cs {
			if c.ID == id {
				return c, true
			}
		}
	}
	return Choice{}, false
}

// inbound records what build makes of a person's action and posts it.
func (s *Sim) inbound(n Network, user string, build func(p *person, id string, now time.Time) (Bubble, Entry)) (string, error) {
	s.mu.Lock()
	p, err := s.person(n, user)
	if err != nil {
		s.mu.Unlock()
		return "", err
	}
	now := s.cfg.Now()
	id := s.newID(p)
	b, e := build(p, id, now)
	if b.ID == "" {
		s.mu.Unlock()
		return "", nil
	}
	p.add(b)
	s.changedLocked()
	acc := p.acc
	s.mu.Unlock()
	switch {
	case b.Kind == "optin": // opting in opens no window
	case acc.wa != nil:
		acc.wa.Inbound(user, now)
	default:
		acc.ms.Inbound(user, now)
	}
	s.d.enqueue(acc.Account, e, time.Now(), nil)
	return id, nil
}

// setStatus updates a business bubble's status, never backwards.
func (s *Sim) setStatus(n Network, user, id, status, errText string) {
	rank := map[string]int{"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.people[userKey{n, user}]
	if !ok {
		return
	}
	for i := range p.thread {
		b := &p.thread[i]
		if b.ID == id && rank[status] > rank[b.Status] {
			b.Status, b.Error = status, errText
			s.changedLocked()
		}
	}
}

// personRead marks a person's WhatsApp message, and those before it,
// read by the business.
func (s *Sim) personRead(wamid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.order {
		p := s.people[k]
		if k.net != WhatsApp {
			continue
		}
		for i := range p.thread {
			if p.thread[i].ID == wamid && p.thread[i].From == "person" {
				markPersonRead(p.thread[:i+1])
				s.changedLocked()
				return
			}
		}
	}
}

// personSeen marks a Messenger or Instagram person's messages seen.
func (s *Sim) personSeen(n Network, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.people[userKey{n, user}]; ok {
		markPersonRead(p.thread)
		s.changedLocked()
	}
}

func markPersonRead(th []Bubble) {
	for i := range th {
		if th[i].From == "person" {
			th[i].Status = "read"
		}
	}
}

// waAccepted adds a message the WhatsApp Send API accepted to the
// person's conversation and schedules its statuses.
func (s *Sim) waAccepted(acc *account, m Sent) {
	var req map[string]any
	json.Unmarshal(m.Body, &req)
	b := renderWhatsApp(acc.wa, req)
	b.ID, b.From, b.Time, b.Status = m.ID, "business", m.Time, "accepted"
	to := strings.TrimPrefix(m.To, "+")
	s.mu.Lock()
	p, ok := s.people[userKey{WhatsApp, to}]
	if !ok {
		// A person the simulator did not know: Meta delivers to any
		// WhatsApp number, so the simulator makes them up.
		p = &person{User: User{Network: WhatsApp, ID: to, Name: "Person " + to, Account: acc.ID}, acc: acc}
		s.people[userKey{WhatsApp, to}] = p
		s.order = append(s.order, userKey{WhatsApp, to})
	}
	p.add(b)
	fail := m.Fail
	if fail == 0 && len(p.fail) > 0 {
		fail, p.fail = p.fail[0], p.fail[1:]
	}
	s.changedLocked()
	s.mu.Unlock()

	category := "service"
	if m.Type == "template" {
		category = "utility"
		if t, ok := acc.wa.Template(templateName(req)); ok {
			category = strings.ToLower(t.Category)
		}
	}
	start := time.Now()
	if fail != 0 {
		r, ok := refusals[fail]
		title := fmt.Sprintf("Error %d", fail)
		if ok {
			title = strings.TrimSpace(strings.TrimPrefix(r.message, fmt.Sprintf("(#%d)", fail)))
		}
		st := WAStatus{ID: m.ID, Status: "failed", Recipient: to, Time: m.Time.Add(s.cfg.Statuses.Sent),
			Error: &StatusError{Code: fail, Title: title, Message: title, Details: r.details}}
		s.d.enqueue(acc.Account, WhatsAppStatus(acc.Account, st), start.Add(s.cfg.Statuses.Sent), func() { s.setStatus(WhatsApp, to, m.ID, "failed", title) })
		return
	}
	for _, st := range s.plan() {
		st := st
		e := WhatsAppStatus(acc.Account, WAStatus{ID: m.ID, Status: st.status, Recipient: to, Time: m.Time.Add(st.stamp), Category: category})
		s.d.enqueue(acc.Account, e, start.Add(st.post), func() { s.setStatus(WhatsApp, to, m.ID, st.status, "") })
	}
}

func templateName(req map[string]any) (string, string) {
	t, _ := req["template"].(map[string]any)
	lang, _ := t["language"].(map[string]any)
	return str(t["name"]), str(lang["code"])
}

type plannedStatus struct {
	status      string
	stamp, post time.Duration // its timestamp and when it is posted, after the send
}

// plan returns the statuses that follow a send, in the order posted.
func (s *Sim) plan() []plannedStatus {
	c := s.cfg.Statuses
	if c.Off {
		return nil
	}
	ps := []plannedStatus{{"sent", c.Sent, c.Sent}}
	if !c.SkipDelivered {
		ps = append(ps, plannedStatus{"delivered", c.Delivered, c.Delivered})
	}
	if !c.NoRead {
		ps = append(ps, plannedStatus{"read", c.Read, c.Read})
	}
	if c.OutOfOrder {
		for i, j := 0, len(ps)-1; i < j; i, j = i+1, j-1 {
			ps[i].post, ps[j].post = ps[j].post, ps[i].post
		}
	}
	return ps
}

// msgrAccepted adds a message the Send API accepted to the person's
// conversation and schedules its delivery and read events.
func (s *Sim) msgrAccepted(acc *account, m MessengerSent) {
	var req map[string]any
	json.Unmarshal(m.Body, &req)
	b := renderMessenger(req)
	b.ID, b.From, b.Time, b.Status = m.ID, "business", m.Time, "sent"
	s.mu.Lock()
	p, ok := s.people[userKey{acc.Network, m.To}]
	if !ok {
		p = &person{User: User{Network: acc.Network, ID: m.To, Name: "Person " + m.To, Account: acc.ID}, acc: acc}
		s.people[userKey{acc.Network, m.To}] = p
		s.order = append(s.order, userKey{acc.Network, m.To})
	}
	p.add(b)
	s.changedLocked()
	s.mu.Unlock()
	start := time.Now()
	for _, st := range s.plan() {
		st := st
		ev := MsgrEvent{From: m.To, Time: m.Time.Add(st.stamp), Watermark: m.Time.Add(st.stamp - time.Millisecond)}
		switch {
		case st.status == "sent":
			continue // the Send API's answer says it; no webhook
		case st.status == "delivered" && acc.Network == Instagram:
			continue // Instagram reports reads only
		case st.status == "delivered":
			ev.Delivered = []string{m.ID}
		default:
			ev.Read, ev.ReadMID = true, m.ID
		}
		s.d.enqueue(acc.Account, MessengerEntry(acc.Account, ev), start.Add(st.post), func() { s.setStatus(acc.Network, m.To, m.ID, st.status, "") })
	}
}

// renderWhatsApp is what a WhatsApp message request looks like on the
// person's phone.
func renderWhatsApp(srv *Server, req map[string]any) Bubble {
	b := Bubble{Kind: "text"}
	switch str(req["type"]) {
	case "interactive":
		in, _ := req["interactive"].(map[string]any)
		h, _ := in["header"].(map[string]any)
		bd, _ := in["body"].(map[string]any)
		f, _ := in["footer"].(map[string]any)
		action, _ := in["action"].(map[string]any)
		b.Header, b.Text, b.Footer = str(h["text"]), str(bd["text"]), str(f["text"])
		if str(in["type"]) == "button" {
			b.Kind = "buttons"
			bs, _ := action["buttons"].([]any)
			for _, x := range bs {
				bt, _ := x.(map[string]any)
				r, _ := bt["reply"].(map[string]any)
				b.Choices = append(b.Choices, Choice{Kind: "button", ID: str(r["id"]), Title: str(r["title"])})
			}
			return b
		}
		b.Kind, b.ListButton = "list", str(action["button"])
		ss, _ := action["sections"].([]any)
		for _, x := range ss {
			sec, _ := x.(map[string]any)
			rs, _ := sec["rows"].([]any)
			for _, y := range rs {
				r, _ := y.(map[string]any)
				b.Choices = append(b.Choices, Choice{Kind: "row", ID: str(r["id"]), Title: str(r["title"]), Description: str(r["description"]), Section: str(sec["title"])})
			}
		}
	case "template":
		b.Kind = "template"
		name, lang := templateName(req)
		if t, ok := srv.Template(name, lang); ok {
			b.Text = t.Render(TemplateParams(req))
		} else {
			b.Text = "Template " + name + " (" + lang + ")"
		}
	default:
		t, _ := req["text"].(map[string]any)
		b.Text = str(t["body"])
	}
	return b
}

// ctaTitle is the words of an opt-in request's button.
func ctaTitle(cta string) string {
	switch cta {
	case "ALLOW":
		return "Allow messages"
	case "FREQUENCY":
		return "Choose frequency"
	case "OPT_IN":
		return "Opt in to messages"
	case "SIGN_UP":
		return "Sign up for messages"
	}
	return "Get messages"
}

// renderMessenger is what a Send API request looks like in Messenger or
// Instagram.
func renderMessenger(req map[string]any) Bubble {
	b := Bubble{Kind: "text"}
	msg, _ := req["message"].(map[string]any)
	b.Text = str(msg["text"])
	if att, ok := msg["attachment"].(map[string]any); ok {
		p, _ := att["payload"].(map[string]any)
		if str(p["template_type"]) == "notification_messages" {
			// Meta's opt-in request: the topic and one button.
			b.Kind, b.Text = "optin_request", str(p["title"])
			b.Choices = []Choice{{Kind: "optin", ID: cmp.Or(str(p["payload"]), "notification_messages"), Title: ctaTitle(str(p["notification_messages_cta_text"])),
				Description: str(p["notification_messages_frequency"])}}
			return b
		}
		b.Kind = "generic"
		els, _ := p["elements"].([]any)
		for _, x := range els {
			el, _ := x.(map[string]any)
			e := Element{Title: str(el["title"]), Subtitle: str(el["subtitle"]), ImageURL: str(el["image_url"])}
			bs, _ := el["buttons"].([]any)
			for _, y := range bs {
				bt, _ := y.(map[string]any)
				e.Buttons = append(e.Buttons, Choice{Kind: str(bt["type"]), ID: str(bt["payload"]), Title: str(bt["title"]), URL: str(bt["url"])})
			}
			b.Elements = append(b.Elements, e)
		}
	}
	if qs, ok := msg["quick_replies"].([]any); ok {
		if b.Kind == "text" {
			b.Kind = "quick_replies"
		}
		for _, x := range qs {
			q, _ := x.(map[string]any)
			if str(q["content_type"]) == "text" {
				b.Choices = append(b.Choices, Choice{Kind: "quick_reply", ID: str(q["payload"]), Title: str(q["title"])})
			}
		}
	}
	return b
}

// graphRE matches a Graph API path: /{version}/{node}/{edge}.
var graphRE = regexp.MustCompile(`^/v[0-9]+\.[0-9]+/([^/]+)/([a-z_]+)$`)

// serveGraph routes a Graph API request to the account it names: a
// WhatsApp number or WABA by id, a Page or Instagram account by id, or
// "me" by its token.
func (s *Sim) serveGraph(w http.ResponseWriter, r *http.Request, node string) {
	for _, a := range s.accounts {
		if a.wa != nil && (node == a.ID || node == a.wabaID()) {
			a.wa.ServeHTTP(w, r)
			return
		}
		if a.ms != nil && node == a.ID {
			a.ms.ServeHTTP(w, r)
			return
		}
	}
	if node == "me" {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			tok = r.URL.Query().Get("access_token")
		}
		var first *MessengerServer
		for _, a := range s.accounts {
			if a.ms == nil {
				continue
			}
			if first == nil {
				first = a.ms
			}
			if hmacEqual(tok, a.Token) {
				a.ms.ServeHTTP(w, r)
				return
			}
		}
		if first != nil {
			first.ServeHTTP(w, r) // refuses the token as Meta does
			return
		}
	}
	writeError(w, 400, 100, fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", node), "")
}
