package broadcast_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/broadcast"
	"github.com/passerelle/passerelle/host/consent"
)

// printer delivers by printing; each person's conversation is named after them.
type printer struct{}

func (printer) Conversation(_ context.Context, app host.AppRef, person string) (string, error) {
	return app.App + "/" + person, nil
}

func (printer) Send(_ context.Context, out host.Outgoing) error {
	fmt.Printf("to %s: %s\n", out.Conversation, out.Message.Text)
	return nil
}

func (printer) Sent(context.Context, host.Outgoing, time.Time) (bool, error) { return false, nil }

// A shop broadcasts its news to the two people who opted in; one of them
// sends STOP while it runs and is skipped.
func Example() {
	dir, _ := os.MkdirTemp("", "broadcast")
	defer os.RemoveAll(dir)
	db, err := bbolt.Open(filepath.Join(dir, "passerelle.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	ctx := context.Background()
	svc, _ := consent.Open(db, consent.Config{})
	for _, p := range []string{"ana", "bo"} {
		svc.OptIn(ctx, consent.Grant{Person: p, Business: "shop-co", App: "shop", Purpose: "news", Prompt: consent.OptInPrompt("Shop", "news")})
	}
	eng, _ := broadcast.Open(db, broadcast.Config{Consent: svc, Sender: printer{}, Pseudonyms: ids{}})

	b, _, err := eng.Create(ctx, "shop-co", broadcast.Request{ID: "winter", App: "shop", Purpose: "news",
		Message: host.Message{Text: "The winter collection is in"}})
	if err != nil {
		panic(err)
	}
	fmt.Println(b.State, b.Total, "people")
	eng.Step(ctx, "shop-co", "winter") // ana
	svc.Inbound(ctx, consent.Inbound{Person: "bo", Business: "shop-co", App: "shop", Text: "STOP"})
	b, _, _ = eng.Step(ctx, "shop-co", "winter") // bo
	fmt.Println(b.State, b.Sent, "sent,", b.ByReason[broadcast.ReasonOptedOut], "opted out")
	// Output:
	// running 2 people
	// to shop/ana: The winter collection is in
	// done 1 sent, 1 opted out
}
