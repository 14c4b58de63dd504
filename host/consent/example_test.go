package consent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/consent"
)

// A person opts in to a shop's updates, receives one, types STOP on
// WhatsApp, and the shop's next message is refused on every surface.
func Example() {
	dir, _ := os.MkdirTemp("", "consent")
	defer os.RemoveAll(dir)
	db, err := bbolt.Open(filepath.Join(dir, "passerelle.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	svc, err := consent.Open(db, consent.Config{})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	grant, _ := svc.OptIn(ctx, consent.Grant{Person: "p_ann", Business: "shop", App: "store", Purpose: "updates",
		Surface: "web", Prompt: consent.OptInPrompt("The Shop", "updates")})
	update := consent.Message{Person: "p_ann", Business: "shop", App: "store", Purpose: "updates", Surface: "web"}
	d, err := svc.Check(ctx, update)
	fmt.Println(d.Rule, d.Relies == grant.Seq, err)

	r, _ := svc.Inbound(ctx, consent.Inbound{Person: "p_ann", Business: "shop", BusinessName: "The Shop", Surface: "whatsapp", Text: " stop "})
	fmt.Println(r.Keyword, r.Text)

	update.App, update.Surface = "outlet", "messenger"
	_, err = svc.Check(ctx, update)
	fmt.Println(host.StatusOf(err))

	head, _ := svc.Verify(ctx)
	fmt.Println(head.Seq, "records")
	// Output:
	// opt_in true <nil>
	// stop You will get no more messages from The Shop, on any surface. Reply START to get them again.
	// opted_out
	// 3 records
}
