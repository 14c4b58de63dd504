package identity_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
)

// A person signs in with a token; each app sees its own id for them.
func Example() {
	dir, _ := os.MkdirTemp("", "identity-example")
	defer os.RemoveAll(dir)
	db, _ := bbolt.Open(filepath.Join(dir, "passerelle.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	defer db.Close()
	ctx := context.Background()
	ids, _ := identity.Open(db, identity.Config{})

	alice, _, _ := ids.EnsurePerson(ctx, identity.Account{Surface: "web", External: "alice"}, "Alice")
	token, _ := ids.Issue(alice.ID, identity.RolePerson, time.Hour)
	subject, role, err := ids.Verify(token)
	fmt.Println(subject == alice.ID, role, err)

	shop := host.AppRef{Merchant: "acme", App: "shop", Version: "1.0.0"}
	ride := host.AppRef{Merchant: "acme", App: "ride", Version: "1.0.0"}
	fmt.Println(ids.OpenID(shop, alice.ID) == ids.OpenID(ride, alice.ID))
	fmt.Println(ids.UnionID("acme", alice.ID) == ids.UnionID("acme", alice.ID))
	// Output:
	// true person <nil>
	// false
	// true
}
