package staff_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/staff"
	"github.com/passerelle/passerelle/host"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func open(t testing.TB) (*staff.Store, *bbolt.DB, *clock, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "staff.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	s, err := staff.Open(db, staff.Config{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, db, c, path
}

func TestMembersAddListRemove(t *testing.T) {
	ctx := context.Background()
	s, _, _, _ := open(t)
	alice, link, err := s.Add(ctx, "bistro", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link.Code, "si_") || alice.Name != "Alice" || alice.Merchant != "bistro" {
		t.Fatalf("added %+v with %+v", alice, link)
	}
	if _, _, err := s.Add(ctx, "bistro", "Bob"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Add(ctx, "garage", "Carol"); err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name, merchant, member, code, msg string
	}{
		{"same name, other case", "bistro", "alice", "member_exists", "choose another name"},
		{"empty", "bistro", " ", "bad_request", "empty"},
		{"spaces around", "bistro", " Dan", "bad_request", "spaces"},
		{"control character", "bistro", "Dan\nEve", "bad_request", "one line"},
		{"too long", "bistro", strings.Repeat("é", staff.MaxName+1), "bad_request", "at most 60"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.Add(ctx, tt.merchant, tt.member)
			if host.CodeOf(err) != tt.code || !strings.Contains(host.MessageOf(err), tt.msg) {
				t.Fatalf("Add(%q) = %v, want %s mentioning %q", tt.member, err, tt.code, tt.msg)
			}
		})
	}
	// The same name at another merchant is fine.
	if _, _, err := s.Add(ctx, "garage", "Alice"); err != nil {
		t.Fatal(err)
	}
	list, err := s.Members(ctx, "bistro")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "Alice" || list[1].Name != "Bob" {
		t.Fatalf("bistro's staff: %+v", list)
	}
	if _, err := s.Remove(ctx, "garage", alice.ID); !errors.Is(err, staff.ErrNotFound) {
		t.Fatalf("another merchant removed Alice: %v", err)
	}
	if _, err := s.Remove(ctx, "bistro", alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignIn(ctx, link.Code); !errors.Is(err, staff.ErrSignIn) {
		t.Fatalf("a removed member's link signed in: %v", err)
	}
	list, _ = s.Members(ctx, "bistro")
	if len(list) != 1 || list[0].Name != "Bob" {
		t.Fatalf("after removing Alice: %+v", list)
	}
}

func TestSignInLinkIsOneTimeAndStoredHashed(t *testing.T) {
	ctx := context.Background()
	s, db, c, path := open(t)
	m, link, err := s.Add(ctx, "bistro", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	se, err := s.SignIn(ctx, link.Code)
	if err != nil {
		t.Fatal(err)
	}
	if se.Member.ID != m.ID || se.Access == "" || se.Refresh == "" || !se.AccessExpires.Equal(c.Now().Add(staff.AccessTTL)) {
		t.Fatalf("session %+v", se)
	}
	if _, err := s.SignIn(ctx, link.Code); !errors.Is(err, staff.ErrSignIn) || !strings.Contains(host.MessageOf(err), "used already") {
		t.Fatalf("a used link signed in again: %v", err)
	}
	// An expired link is refused, and a new link replaces the old one.
	_, old, _ := s.NewLink(ctx, "bistro", m.ID)
	_, fresh, err := s.NewLink(ctx, "bistro", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignIn(ctx, old.Code); !errors.Is(err, staff.ErrSignIn) {
		t.Fatalf("a replaced link signed in: %v", err)
	}
	c.Add(staff.LinkTTL + time.Second)
	if _, err := s.SignIn(ctx, fresh.Code); !errors.Is(err, staff.ErrSignIn) || !strings.Contains(host.MessageOf(err), "expired") {
		t.Fatalf("an expired link signed in: %v", err)
	}
	// Nothing secret is on disk: neither the codes nor the refresh secret.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, secret, _ := strings.Cut(se.Refresh, ".")
	for _, s := range []string{link.Code, old.Code, fresh.Code, secret} {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("%q is stored in clear", s)
		}
	}
}

func TestRemovedMemberSessionsEndAtOnce(t *testing.T) {
	ctx := context.Background()
	s, _, _, _ := open(t)
	m, l1, _ := s.Add(ctx, "bistro", "Alice")
	phone, err := s.SignIn(ctx, l1.Code)
	if err != nil {
		t.Fatal(err)
	}
	_, l2, _ := s.NewLink(ctx, "bistro", m.ID)
	laptop, err := s.SignIn(ctx, l2.Code)
	if err != nil {
		t.Fatal(err)
	}
	for _, se := range []staff.Session{phone, laptop} {
		got, sid, err := s.Verify(se.Access)
		if err != nil || got.Name != "Alice" || sid != se.ID {
			t.Fatalf("Verify = %+v %s %v", got, sid, err)
		}
	}
	list, _ := s.Members(ctx, "bistro")
	if list[0].Sessions != 2 || list[0].SignedIn == 0 {
		t.Fatalf("listed %+v, want 2 sessions and a sign-in time", list[0])
	}
	if _, err := s.Remove(ctx, "bistro", m.ID); err != nil {
		t.Fatal(err)
	}
	// The access tokens have not expired, yet they no longer open anything.
	for _, se := range []staff.Session{phone, laptop} {
		if _, _, err := s.Verify(se.Access); !errors.Is(err, staff.ErrSession) {
			t.Fatalf("a removed member's access token still works: %v", err)
		}
		if _, err := s.Refresh(ctx, se.Refresh); !errors.Is(err, staff.ErrSession) {
			t.Fatalf("a removed member's refresh token still works: %v", err)
		}
	}
}

func TestRefreshRotatesAndDetectsReuse(t *testing.T) {
	ctx := context.Background()
	s, _, c, _ := open(t)
	_, l, _ := s.Add(ctx, "bistro", "Alice")
	first, err := s.SignIn(ctx, l.Code)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(staff.AccessTTL + time.Second)
	if _, _, err := s.Verify(first.Access); !errors.Is(err, staff.ErrSession) || !strings.Contains(host.MessageOf(err), "refresh") {
		t.Fatalf("an expired access token: %v", err)
	}
	second, err := s.Refresh(ctx, first.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	if second.Refresh == first.Refresh || second.ID != first.ID {
		t.Fatalf("refresh did not rotate: %+v", second)
	}
	if m, _, err := s.Verify(second.Access); err != nil || m.Name != "Alice" {
		t.Fatalf("the refreshed access token: %+v %v", m, err)
	}
	// Another tab refreshing with the replaced token at the same moment
	// is served.
	if _, err := s.Refresh(ctx, first.Refresh); err != nil {
		t.Fatalf("within the grace: %v", err)
	}
	c.Add(staff.RefreshGrace + time.Second)
	// second's token was replaced by the grace refresh, now long ago.
	_, err = s.Refresh(ctx, second.Refresh)
	if err == nil {
		t.Fatal("a refresh token replaced long ago was taken")
	}
	if !errors.Is(err, staff.ErrSession) || !strings.Contains(host.MessageOf(err), "somewhere else") {
		t.Fatalf("reuse: %v", err)
	}
	// The whole session ended, whichever token.
	if _, _, err := s.Verify(second.Access); !errors.Is(err, staff.ErrSession) {
		t.Fatalf("the session survived a reuse: %v", err)
	}
}

func TestSessionsSurviveRestartAndEnd(t *testing.T) {
	ctx := context.Background()
	s, db, c, _ := open(t)
	_, l, _ := s.Add(ctx, "bistro", "Alice")
	se, err := s.SignIn(ctx, l.Code)
	if err != nil {
		t.Fatal(err)
	}
	again, err := staff.Open(db, staff.Config{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if m, _, err := again.Verify(se.Access); err != nil || m.Name != "Alice" {
		t.Fatalf("after a restart: %+v %v", m, err)
	}
	if err := again.SignOut(ctx, se.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := again.Verify(se.Access); !errors.Is(err, staff.ErrSession) {
		t.Fatalf("signed out, still verified: %v", err)
	}
	if _, err := again.Refresh(ctx, se.Refresh); !errors.Is(err, staff.ErrSession) {
		t.Fatalf("signed out, still refreshed: %v", err)
	}
	// A session left idle ends.
	_, l2, _ := again.NewLink(ctx, "bistro", se.Member.ID)
	idle, err := again.SignIn(ctx, l2.Code)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(staff.SessionIdle + time.Minute)
	if _, err := again.Refresh(ctx, idle.Refresh); !errors.Is(err, staff.ErrSession) || !strings.Contains(host.MessageOf(err), "expired") {
		t.Fatalf("an idle session refreshed: %v", err)
	}
}

func TestVerifyRefusesForgedTokens(t *testing.T) {
	ctx := context.Background()
	s, _, _, _ := open(t)
	other, _, _, _ := open(t)
	_, l, _ := other.Add(ctx, "bistro", "Mallory")
	forged, err := other.SignIn(ctx, l.Code)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"another server's key": forged.Access,
		"garbage":              "not-a-jwt",
		"alg none":             "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.",
	} {
		if _, _, err := s.Verify(tok); !errors.Is(err, staff.ErrSession) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := s.Refresh(ctx, "nodot"); !errors.Is(err, staff.ErrSession) {
		t.Errorf("a malformed refresh token: %v", err)
	}
}
