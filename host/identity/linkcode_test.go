package identity_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/passerelle/passerelle/host/identity"
)

// TestLinkCode: a code moves a surface account from the person the
// platform made for it to the person who asked for the code, once; an
// expired, spent or replaced code links nothing.
func TestLinkCode(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newService(t, openDB(t))
	ana, err := s.CreatePerson(ctx, "Ana", "")
	if err != nil {
		t.Fatal(err)
	}
	wa := identity.Account{Surface: "whatsapp", External: "15550001"}
	auto, _, err := s.EnsurePerson(ctx, wa, "Ana on WhatsApp")
	if err != nil {
		t.Fatal(err)
	}
	code, exp, err := s.IssueLinkCode(ctx, ana.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d{6}$`).MatchString(code) || exp.Sub(clk.Now()) != identity.LinkCodeTTL {
		t.Fatalf("code %q expiring %v", code, exp)
	}
	p, err := s.RedeemLinkCode(ctx, code, wa)
	if err != nil || p.ID != ana.ID || !slices.Contains(p.Accounts, wa) {
		t.Fatalf("redeemed for %+v, %v", p, err)
	}
	if got, err := s.PersonByAccount(ctx, wa); err != nil || got.ID != ana.ID {
		t.Fatalf("the account belongs to %+v (%v)", got, err)
	}
	if old, _ := s.Person(ctx, auto.ID); slices.Contains(old.Accounts, wa) {
		t.Fatalf("the account is still listed on the person made for it: %+v", old)
	}
	if _, err := s.RedeemLinkCode(ctx, code, identity.Account{Surface: "messenger", External: "psid"}); !errors.Is(err, identity.ErrLinkCode) {
		t.Fatalf("a spent code: %v", err)
	}

	old, _, _ := s.IssueLinkCode(ctx, ana.ID)
	fresh, _, _ := s.IssueLinkCode(ctx, ana.ID)
	if old != fresh {
		if _, err := s.RedeemLinkCode(ctx, old, identity.Account{Surface: "messenger", External: "psid"}); !errors.Is(err, identity.ErrLinkCode) {
			t.Fatalf("a replaced code: %v", err)
		}
	}
	clk.Add(identity.LinkCodeTTL)
	if _, err := s.RedeemLinkCode(ctx, fresh, identity.Account{Surface: "messenger", External: "psid2"}); !errors.Is(err, identity.ErrLinkCode) {
		t.Fatalf("an expired code: %v", err)
	}
}

// TestLinkCodeGuessing: an account that sends wrong codes is refused
// after MaxLinkAttempts, even with the right code, until the time passes.
func TestLinkCodeGuessing(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newService(t, openDB(t))
	ana, _ := s.CreatePerson(ctx, "Ana", "")
	code, _, err := s.IssueLinkCode(ctx, ana.ID)
	if err != nil {
		t.Fatal(err)
	}
	mallory := identity.Account{Surface: "whatsapp", External: "15559999"}
	for i := 0; i < identity.MaxLinkAttempts; i++ {
		guess := fmt.Sprintf("%06d", i)
		if guess == code {
			guess = "999999"
		}
		if _, err := s.RedeemLinkCode(ctx, guess, mallory); !errors.Is(err, identity.ErrLinkCode) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, err := s.RedeemLinkCode(ctx, code, mallory); err == nil {
		t.Fatal("the right code after too many guesses linked the account")
	}
	clk.Add(identity.LinkCodeTTL)
	code, _, _ = s.IssueLinkCode(ctx, ana.ID)
	if _, err := s.RedeemLinkCode(ctx, code, mallory); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}
