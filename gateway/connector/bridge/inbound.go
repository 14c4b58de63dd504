package bridge

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/runtime/sched"
)

// inboxBatch is how many inbox events are read at once.
const inboxBatch = 64

// UnsupportedText answers a person who sent what the bridge cannot read
// (a photo, a location, a reaction): their message is kept in the
// conversation, and they are told what works.
const UnsupportedText = "Sorry, I can read text and button replies only. Please write your message as text."

// consume reads st's inbox in order and hands each event to handle: the
// events of one person (party) in order, those of different people at
// once, then marks the batch done. A failing event is tried again a few
// times, then logged and passed over, so that one bad event does not stop
// a connection. Events handled but not marked done when the server stops
// are handled again on the next start: every handler recognises what it
// did before (the message's id is its client id in the conversation, a
// status never moves a message back).
func consume[E any](b *Bridge, st *connector.Store[E], wake <-chan struct{}, party func(E) string, handle func(context.Context, E) error) {
	t := time.NewTicker(b.cfg.Poll)
	defer t.Stop()
	for {
		entries, err := st.Inbox(b.ctx, 0, inboxBatch)
		if err != nil && b.ctx.Err() == nil {
			b.log.Error("bridge: reading the inbox failed", "err", err)
		}
		groups := map[string][]connector.Entry[E]{}
		var order []string
		for _, e := range entries {
			k := party(e.Event)
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], e)
		}
		var wg sync.WaitGroup
		for _, k := range order {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, e := range groups[k] {
					b.handleOne(e.Seq, func() error { return handle(b.ctx, e.Event) })
				}
			}()
		}
		wg.Wait()
		if b.ctx.Err() != nil {
			return // not done: the next start handles them again
		}
		if len(entries) > 0 {
			if err := st.Done(b.ctx, entries[len(entries)-1].Seq); err != nil {
				b.log.Error("bridge: marking inbox events done failed", "err", err)
			}
		}
		if len(entries) == inboxBatch {
			continue
		}
		select {
		case <-b.ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
	}
}

// handleOne runs an inbox event's handler, again after a failure, a few
// times.
func (b *Bridge) handleOne(seq uint64, handle func() error) {
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := handle()
		if err == nil || b.ctx.Err() != nil {
			return
		}
		if attempt >= 6 {
			b.met.inboundFailed.Inc()
			b.log.Error("bridge: an inbox event could not be handled; passed over", "seq", seq, "err", err)
			return
		}
		if !sleep(b.ctx, wait) {
			return
		}
		wait = min(wait*2, 2*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// inbound is a person's message from a network, whatever the network.
type inbound struct {
	conn        connector.Connection
	network     string
	from        string // wa_id, PSID, IGSID
	name        string // profile name, when the network gives one
	id          string // the network's message id (or the event's key)
	text        string // what the person wrote, or the title of what they tapped
	reply       string // a reply id: a button, row, quick reply or postback they tapped
	unsupported string // what they sent that the bridge cannot read
}

// whatsApp handles one WhatsApp webhook event.
func (b *Bridge) whatsApp(ctx context.Context, ev whatsapp.Event) error {
	b.met.inbound.WithLabelValues(connector.NetworkWhatsApp, string(ev.Kind)).Inc()
	if ev.Kind == whatsapp.KindStatus {
		st := map[whatsapp.Status]string{whatsapp.StatusSent: StateSent, whatsapp.StatusDelivered: StateDelivered,
			whatsapp.StatusRead: StateRead, whatsapp.StatusFailed: StateFailed}[ev.Status]
		var fail *connector.Error
		if ev.Status == whatsapp.StatusFailed {
			fail = &connector.Error{Network: connector.NetworkWhatsApp, Class: whatsapp.ClassUnknown, Message: "the status webhook said failed"}
			if len(ev.Errors) > 0 {
				e := ev.Errors[0]
				fail.Class, fail.Code, fail.Message, fail.Details = whatsapp.Classify(e.Code), e.Code, e.Title, e.Details
			}
		}
		return b.status(ctx, connector.NetworkWhatsApp, ev.Recipient, ev.MessageID, st, fail)
	}
	if ev.From == "" {
		b.log.Info("bridge: a WhatsApp event without a person", "raw", ev.Raw, "key", ev.Key)
		return nil
	}
	conn, err := b.cfg.Connections.ByAccount(ctx, connector.NetworkWhatsApp, ev.PhoneNumberID)
	if errors.Is(err, connector.ErrNoConnection) {
		b.met.inbound.WithLabelValues(connector.NetworkWhatsApp, "no_connection").Inc()
		b.log.Warn("bridge: a WhatsApp message to a number no connection has", "phone_number_id", ev.PhoneNumberID)
		return nil
	}
	if err != nil {
		return err
	}
	in := inbound{conn: conn, network: connector.NetworkWhatsApp, from: ev.From, name: ev.Name, id: ev.MessageID}
	if in.id == "" {
		in.id = ev.Key
	}
	switch ev.Kind {
	case whatsapp.KindText:
		in.text = ev.Text
	case whatsapp.KindButtonReply, whatsapp.KindListReply:
		in.reply, in.text = ev.ReplyID, ev.ReplyTitle
	default:
		in.unsupported = ev.Raw
	}
	return b.inbound(ctx, in)
}

// messenger handles one Messenger or Instagram webhook event.
func (b *Bridge) messenger(ctx context.Context, ev messenger.Event) error {
	network := connector.NetworkMessenger
	if ev.Network == messenger.Instagram {
		network = connector.NetworkInstagram
	}
	b.met.inbound.WithLabelValues(network, string(ev.Kind)).Inc()
	switch ev.Kind {
	case messenger.KindEcho:
		return b.echo(ctx, network, ev) // echo.go: our own sends, or the business answering from elsewhere
	case messenger.KindOptin:
		return b.optinEvent(ctx, network, ev)
	case messenger.KindDelivery:
		for _, mid := range ev.MessageIDs {
			if err := b.status(ctx, network, ev.Sender, mid, StateDelivered, nil); err != nil {
				return err
			}
		}
		if len(ev.MessageIDs) == 0 {
			return b.watermark(ctx, network, ev.AccountID, ev.Sender, ev.Watermark, StateDelivered)
		}
		return nil
	case messenger.KindRead:
		if ev.Watermark == 0 && ev.MessageID != "" { // Instagram names the message read
			return b.status(ctx, network, ev.Sender, ev.MessageID, StateRead, nil)
		}
		return b.watermark(ctx, network, ev.AccountID, ev.Sender, ev.Watermark, StateRead)
	}
	if ev.Sender == "" {
		b.log.Info("bridge: a Messenger event without a person", "raw", ev.Raw, "key", ev.Key)
		return nil
	}
	in := inbound{network: network, from: ev.Sender, id: ev.MessageID}
	if in.id == "" {
		in.id = ev.Key
	}
	switch ev.Kind {
	case messenger.KindText:
		in.text = ev.Text
	case messenger.KindQuickReply:
		in.reply, in.text = ev.Payload, ev.Text
	case messenger.KindPostback:
		in.reply, in.text = ev.Payload, ev.Title
	case messenger.KindReaction:
		return nil // a reaction needs no answer; Meta shows it on the message
	default:
		if !strings.HasPrefix(ev.Raw, "attachment:") && ev.Raw != "message_untyped" {
			b.log.Info("bridge: a Messenger event the bridge does not handle", "raw", ev.Raw, "key", ev.Key)
			return nil // standby, deletions, referrals: nothing to answer
		}
		in.unsupported = strings.TrimPrefix(ev.Raw, "attachment:")
	}
	conn, err := b.cfg.Connections.ByAccount(ctx, network, ev.AccountID)
	if errors.Is(err, connector.ErrNoConnection) {
		b.met.inbound.WithLabelValues(network, "no_connection").Inc()
		b.log.Warn("bridge: a message to an account no connection has", "network", network, "account", ev.AccountID)
		return nil
	}
	if err != nil {
		return err
	}
	in.conn = conn
	return b.inbound(ctx, in)
}

var linkRE = regexp.MustCompile(`(?i)^\s*link\s+(\d{6})\s*$`)

// inbound handles a person's message: the person, the conversation, the
// message stored, then the event for the app (or the host's prompt, form,
// link or polite refusal).
func (b *Bridge) inbound(ctx context.Context, in inbound) error {
	acct := identity.Account{Surface: in.network, External: in.from}
	if m := linkRE.FindStringSubmatch(in.text); m != nil && in.reply == "" {
		return b.link(ctx, in, acct, m[1])
	}
	name := strings.TrimSpace(in.name)
	if name == "" {
		name = defaultName(in.network, in.from)
	}
	p, err := b.cfg.Identity.PersonByAccount(ctx, acct) // a read: most messages come from people met before
	if errors.Is(err, identity.ErrNotFound) {
		p, _, err = b.cfg.Identity.EnsurePerson(ctx, acct, name)
	}
	if err != nil {
		return err
	}
	r, err := b.ensureRoute(ctx, in.conn, in.from, p.ID)
	if err != nil {
		return err
	}
	if err := b.seen(r.Conv, b.cfg.Now()); err != nil {
		return err
	}
	nm := gateway.NetworkMessage{Conv: r.Conv, Person: p.ID, Name: p.Name, Surface: in.network, ID: in.id, Text: in.text}
	if in.unsupported != "" {
		nm.Text = "[" + in.unsupported + "]"
		posted, err := b.srv.PostFromNetwork(ctx, nm)
		if err != nil || posted.Dup {
			return err
		}
		if b.optedOut(ctx, p.ID, r.Merchant) {
			b.met.inbound.WithLabelValues(in.network, "unsupported_withheld").Inc()
			return nil
		}
		b.met.inbound.WithLabelValues(in.network, "unsupported_answered").Inc()
		return b.srv.Emit(ctx, host.Outgoing{App: host.AppRef{Merchant: r.Merchant, App: r.App}, Conversation: r.Conv,
			Message: &host.Message{Text: UnsupportedText}})
	}
	if in.reply != "" {
		action, token := ParseReplyID(in.reply)
		if token != "" {
			return b.answerHost(ctx, r, in, nm, token)
		}
		nm.Action = action // nil for a reply id the bridge did not mint: the title goes as text
	}
	if nm.Action == nil && consent.ParseKeyword(in.text) == consent.KeywordNone {
		if f, err := b.form(r.Conv); err != nil {
			return err
		} else if f != nil {
			return b.formAnswer(ctx, r, in, nm, f)
		}
	}
	if strings.TrimSpace(nm.Text) == "" {
		nm.Text = "(empty)"
	}
	nm.Keep = true
	posted, err := b.srv.PostFromNetwork(ctx, nm)
	if err != nil {
		return err
	}
	if posted.Dup {
		b.met.inbound.WithLabelValues(in.network, "duplicate").Inc()
		return nil
	}
	b.dispatch(ctx, p.ID, posted)
	return nil
}

// dispatch hands ev to the app, waiting while the app's queue is full. A
// failure is logged: the message is stored, the person sees it.
func (b *Bridge) dispatch(ctx context.Context, person string, posted gateway.Posted) {
	ev := posted.Event
	wait := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := b.srv.DispatchFromNetwork(person, posted)
		if err == nil {
			return
		}
		if !errors.Is(err, sched.ErrQueueFull) || attempt >= 30 || !sleep(ctx, wait) {
			b.log.Warn("bridge: the app did not get a network message", "app", ev.App, "conv", ev.Conversation, "event", ev.ID, "err", err)
			return
		}
		wait = min(wait*2, time.Second)
	}
}

// defaultName names a person the network gave no name for.
func defaultName(network, from string) string {
	tail := from
	if len(tail) > 4 {
		tail = tail[len(tail)-4:]
	}
	return fmt.Sprintf("%s%s user %s", strings.ToUpper(network[:1]), network[1:], tail)
}

// ensureRoute makes sure person's conversation with conn's app exists and
// is routed to the network account from.
func (b *Bridge) ensureRoute(ctx context.Context, conn connector.Connection, from, person string) (*route, error) {
	conv, _, err := b.srv.EnsureNetworkConv(ctx, conn.App, conn.ID, person)
	if err != nil {
		return nil, err
	}
	if r := b.route(conv); r != nil && r.To == from && r.Conn == conn.ID {
		return r, nil
	}
	var r *route
	err = b.commit.Do(func(tx *bbolt.Tx) error {
		old, err := getRoute(tx, conv)
		if err != nil {
			return err
		}
		r = &route{Conv: conv, Conn: conn.ID, Network: conn.Network, To: from, Person: person, App: conn.App, Merchant: conn.Merchant}
		if old != nil {
			r.Handed, r.LastSeq, r.LastAt, r.Delivered, r.Read = old.Handed, old.LastSeq, old.LastAt, old.Delivered, old.Read
		}
		return putJSON(tx.Bucket(bucketRoutes), []byte(conv), r)
	})
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.routes[conv] = r
	b.mu.Unlock()
	return r, nil
}

// routeTo finds the route of a network account of connection account on
// network (for watermarks, which name the person but no message).
func (b *Bridge) routeTo(ctx context.Context, network, account, to string) (*route, error) {
	conn, err := b.cfg.Connections.ByAccount(ctx, network, account)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.routes {
		if r.Conn == conn.ID && r.To == to {
			return r, nil
		}
	}
	return nil, nil
}

// watermark marks what was sent to a person before a Messenger watermark
// delivered or read.
func (b *Bridge) watermark(ctx context.Context, network, account, to string, at int64, state string) error {
	r, err := b.routeTo(ctx, network, account, to)
	if errors.Is(err, connector.ErrNoConnection) || r == nil {
		return nil
	}
	if err != nil {
		return err
	}
	var seq uint64
	if err := b.cfg.DB.View(func(tx *bbolt.Tx) error {
		cur, err := getRoute(tx, r.Conv)
		if cur != nil && cur.LastAt <= at {
			seq = cur.LastSeq
		}
		return err
	}); err != nil || seq == 0 {
		return err
	}
	if err := b.srv.MarkFromNetwork(ctx, r.Conv, r.Person, markState(state), seq); err != nil {
		return err
	}
	return b.watermarkStates(ctx, r, seq, state)
}

func markState(state string) string {
	if state == StateRead {
		return gateway.MarkRead
	}
	return gateway.MarkDelivered
}

// link redeems a link code sent from a network account.
func (b *Bridge) link(ctx context.Context, in inbound, acct identity.Account, code string) error {
	p, err := b.cfg.Identity.RedeemLinkCode(ctx, code, acct)
	text := ""
	if err != nil {
		text = "That code did not link this account: " + host.MessageOf(err)
		b.met.links.WithLabelValues(in.network, "refused").Inc()
	} else {
		text = fmt.Sprintf("Linked: this %s account is now part of %s's account. STOP, payments and consents follow you everywhere.", in.network, p.Name)
		b.met.links.WithLabelValues(in.network, "linked").Inc()
	}
	person := p.ID
	if err != nil {
		if q, qerr := b.cfg.Identity.PersonByAccount(ctx, acct); qerr == nil {
			person = q.ID
		}
	}
	return b.hostText(ctx, in.conn, in.to(), person, "link:"+in.network+":"+in.id, text)
}

func (in inbound) to() string { return in.from }
