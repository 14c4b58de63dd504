package bridge_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/bridge"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/gateway/promptstore"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
)

// cardApp is an app that answers every message with a card of five
// buttons and records the events it gets.
type cardApp struct {
	out host.Outbox
	mu  sync.Mutex
	evs []host.Event
}

func (a *cardApp) Submit(app string, ev host.AppEvent, done func(error)) error {
	a.mu.Lock()
	a.evs = append(a.evs, ev.Event)
	a.mu.Unlock()
	if ev.Event.Type == host.EventMessage {
		var bs []host.Button
		for i := 1; i <= 5; i++ {
			bs = append(bs, host.Button{ID: fmt.Sprint("b", i), Title: fmt.Sprint("Choice ", i), Value: fmt.Sprint("v", i)})
		}
		go ev.Out.Emit(context.Background(), host.Outgoing{App: host.AppRef{Merchant: merchant, App: app}, Conversation: ev.Conversation,
			Message: &host.Message{Card: &host.Card{Text: "Pick one", Buttons: bs}}})
	}
	if done != nil {
		done(nil)
	}
	return nil
}

func (a *cardApp) Catalog(context.Context) ([]host.AppInfo, error) {
	return []host.AppInfo{{ID: "cards", Name: "Cards"}}, nil
}

func (a *cardApp) actions() []host.Action {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []host.Action
	for _, e := range a.evs {
		if e.Type == host.EventAction {
			out = append(out, *e.Action)
		}
	}
	return out
}

// TestChoicesComeBackAsActions: a card too big for WhatsApp's buttons
// goes out as a numbered menu and "2" comes back as the second choice; on
// Messenger the same card is quick replies and a tap comes back as the
// tapped choice. Both reach the app as the action a web client sends.
func TestChoicesComeBackAsActions(t *testing.T) {
	ctx := context.Background()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "p.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ids, err := identity.Open(db, identity.Config{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := convlog.Open(db, convlog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	prompts, err := promptstore.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	app := &cardApp{}
	gw, err := gateway.New(gateway.Config{Log: msgs, PromptStore: prompts, Auth: ids, Directory: ids, Apps: app})
	if err != nil {
		t.Fatal(err)
	}
	wa := metasim.New(metasim.Config{PhoneNumberID: phoneID, Token: waToken})
	ms := metasim.NewMessenger(metasim.MessengerConfig{Token: pageToken})
	ig := metasim.NewMessenger(metasim.MessengerConfig{Token: "ig-token", Instagram: true})
	waSim, msSim, igSim := httptest.NewServer(wa), httptest.NewServer(ms), httptest.NewServer(ig)
	cs := &conns{list: []connector.Connection{
		{ID: "c_wa", Merchant: merchant, Network: connector.NetworkWhatsApp, Account: phoneID, App: "cards", BaseURL: waSim.URL,
			Secrets: connector.Secrets{AccessToken: waToken}},
		{ID: "c_page", Merchant: merchant, Network: connector.NetworkMessenger, Account: pageID, App: "cards", BaseURL: msSim.URL,
			Secrets: connector.Secrets{AccessToken: pageToken}},
		{ID: "c_ig", Merchant: merchant, Network: connector.NetworkInstagram, Account: "ig-1", App: "cards", BaseURL: igSim.URL,
			Secrets: connector.Secrets{AccessToken: "ig-token"}},
	}}
	waStore, err := whatsapp.OpenStore(db, whatsapp.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msStore, err := messenger.OpenStore(db, connector.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bridge.New(bridge.Config{Server: gw, Connections: cs, DB: db, Identity: ids, WhatsApp: waStore, Messenger: msStore,
		PairInterval: -1, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Close()
		gw.Close(ctx)
		waStore.Close()
		msStore.Close()
		waSim.Close()
		msSim.Close()
		igSim.Close()
		msgs.Close()
		prompts.Close()
	})
	record := func(e whatsapp.Event) {
		if _, err := waStore.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
		b.Wake()
	}
	record(whatsapp.Event{Key: "msg:w1", Kind: whatsapp.KindText, PhoneNumberID: phoneID, From: "15550020", Name: "Lou", MessageID: "w1", Text: "hi"})
	waitFor(t, "the menu", func() bool { return len(wa.Sent()) == 1 })
	menu := decodeWA(wa.Sent()[0])
	if menu.Type != "text" || !strings.Contains(menu.Text, "5. Choice 5") {
		t.Fatalf("five buttons went out on WhatsApp as %+v", menu)
	}
	record(whatsapp.Event{Key: "msg:w2", Kind: whatsapp.KindText, PhoneNumberID: phoneID, From: "15550020", MessageID: "w2", Text: "2"})
	waitFor(t, "the action", func() bool { return len(app.actions()) == 1 })
	if a := app.actions()[0]; a.ID != "b2" || a.Value != "v2" {
		t.Fatalf(`"2" came back as %+v`, a)
	}

	if _, err := msStore.Record(ctx, messenger.Event{Key: "mid:m1", Network: messenger.Messenger, Kind: messenger.KindText,
		AccountID: pageID, Sender: "psid-lou", MessageID: "m1", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	b.Wake()
	waitFor(t, "the quick replies", func() bool { return len(ms.Sent()) == 1 })
	qr := decodeMS(ms.Sent()[0].Body)
	if len(qr.Quick) != 5 || qr.Text != "Pick one" {
		t.Fatalf("five buttons went out on Messenger as %+v", qr)
	}
	if _, err := msStore.Record(ctx, messenger.Event{Key: "mid:m2", Network: messenger.Messenger, Kind: messenger.KindQuickReply,
		AccountID: pageID, Sender: "psid-lou", MessageID: "m2", Text: qr.Quick[3], Payload: qr.Payloads[3]}); err != nil {
		t.Fatal(err)
	}
	b.Wake()
	waitFor(t, "the second action", func() bool { return len(app.actions()) == 2 })
	if a := app.actions()[1]; a.ID != "b4" || a.Value != "v4" {
		t.Fatalf("the quick reply came back as %+v", a)
	}

	// Instagram: the same card, the same way back, to the Instagram account.
	if _, err := msStore.Record(ctx, messenger.Event{Key: "mid:i1", Network: messenger.Instagram, Kind: messenger.KindText,
		AccountID: "ig-1", Sender: "igsid-lou", MessageID: "i1", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	b.Wake()
	waitFor(t, "the quick replies on Instagram", func() bool { return len(ig.Sent()) == 1 })
	qr = decodeMS(ig.Sent()[0].Body)
	if len(qr.Quick) != 5 || ig.Sent()[0].To != "igsid-lou" {
		t.Fatalf("five buttons went out on Instagram as %+v", qr)
	}
	if _, err := msStore.Record(ctx, messenger.Event{Key: "mid:i2", Network: messenger.Instagram, Kind: messenger.KindQuickReply,
		AccountID: "ig-1", Sender: "igsid-lou", MessageID: "i2", Text: qr.Quick[0], Payload: qr.Payloads[0]}); err != nil {
		t.Fatal(err)
	}
	b.Wake()
	waitFor(t, "the Instagram action", func() bool { return len(app.actions()) == 3 })
	if a := app.actions()[2]; a.ID != "b1" {
		t.Fatalf("the Instagram quick reply came back as %+v", a)
	}
	if p, err := ids.PersonByAccount(ctx, identity.Account{Surface: connector.NetworkInstagram, External: "igsid-lou"}); err != nil || p.Name != "Instagram user -lou" {
		t.Fatalf("the Instagram person: %+v %v", p, err)
	}
}
