package staff_test

import (
	"context"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host/identity"
)

// BenchmarkVerify is what every inbox request of a member costs to
// authenticate (the access token's HS256 signature, its claims, the live
// session looked up); the baseline is the merchant token's check that
// every other /v1 request pays (an EdDSA signature, host/identity).
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	s, db, _, _ := open(b)
	_, l, err := s.Add(ctx, "bistro", "Alice")
	if err != nil {
		b.Fatal(err)
	}
	se, err := s.SignIn(ctx, l.Code)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("member_session", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := s.Verify(se.Access); err != nil {
				b.Fatal(err)
			}
		}
	})
	ids, err := identity.Open(db, identity.Config{})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := ids.Issue("bistro", identity.RoleMerchant, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline_merchant_token", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := ids.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
