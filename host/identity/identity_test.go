package identity_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
)

func openDB(t testing.TB) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "test.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newService(t testing.TB, db *bbolt.DB) (*identity.Service, *clock, *syncBuf) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	logs := &syncBuf{}
	s, err := identity.Open(db, identity.Config{Logger: slog.New(slog.NewTextHandler(logs, nil)), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, logs
}

func TestTokenRoundTrip(t *testing.T) {
	db := openDB(t)
	s, _, _ := newService(t, db)
	tok, err := s.Issue("p_alice", identity.RolePerson, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sub, role, err := s.Verify(tok)
	if err != nil || sub != "p_alice" || role != identity.RolePerson {
		t.Fatalf("Verify = %q, %q, %v; want p_alice, person, nil", sub, role, err)
	}
	// The key survives a restart: a second service on the same store accepts the token.
	s2, _, _ := newService(t, db)
	if _, _, err := s2.Verify(tok); err != nil {
		t.Fatalf("token refused after reopening the store: %v", err)
	}
}

func TestIssueRefusesBadInput(t *testing.T) {
	s, _, _ := newService(t, openDB(t))
	for _, tc := range []struct {
		name, sub, role string
		ttl             time.Duration
	}{
		{"empty subject", "", identity.RolePerson, time.Hour},
		{"unknown role", "x", "admin", time.Hour},
		{"zero ttl", "x", identity.RolePerson, 0},
		{"ttl too long", "x", identity.RolePerson, identity.MaxTTL + time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Issue(tc.sub, tc.role, tc.ttl); !errors.Is(err, identity.ErrInvalid) {
				t.Fatalf("Issue err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	s, clk, logs := newService(t, openDB(t))
	now := clk.Now()
	claims := func(mut func(*identity.Claims)) identity.Claims {
		c := identity.Claims{Role: identity.RolePerson, RegisteredClaims: jwt.RegisteredClaims{
			Issuer: identity.DefaultIssuer, Subject: "p_mallory", Audience: jwt.ClaimStrings{identity.DefaultAudience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		}}
		if mut != nil {
			mut(&c)
		}
		return c
	}
	_, foreign, _ := ed25519.GenerateKey(rand.Reader)
	sign := func(t *testing.T, m jwt.SigningMethod, key any, c identity.Claims) string {
		tok, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// A valid token, then its parts reused in forgeries.
	good, _ := s.Issue("p_alice", identity.RolePerson, time.Hour)
	parts := strings.Split(good, ".")

	for _, tc := range []struct {
		name   string
		token  func(t *testing.T) string
		reason string // a word the refusal reason must contain
	}{
		{"alg none", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil))
		}, "signing method"},
		{"HS256 with a random secret", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, []byte("secret"), claims(nil))
		}, "signing method"},
		{"HS256 keyed with the public key bytes", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, []byte(s.PublicKey()), claims(nil))
		}, "signing method"},
		{"foreign Ed25519 key", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodEdDSA, foreign, claims(nil))
		}, "signature"},
		{"tampered payload", func(t *testing.T) string {
			other, _ := s.Issue("p_mallory", identity.RoleOperator, time.Hour)
			return parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2]
		}, "signature"},
		{"wrong audience", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodEdDSA, foreign, claims(func(c *identity.Claims) { c.Audience = jwt.ClaimStrings{"elsewhere"} }))
		}, ""},
		{"wrong issuer", func(t *testing.T) string {
			tok, _ := identityWith(t, s, func(c *identity.Claims) { c.Issuer = "someone" })
			return tok
		}, "issuer"},
		{"wrong audience, our key", func(t *testing.T) string {
			tok, _ := identityWith(t, s, func(c *identity.Claims) { c.Audience = jwt.ClaimStrings{"elsewhere"} })
			return tok
		}, "audience"},
		{"expired", func(t *testing.T) string {
			tok, _ := identityWith(t, s, func(c *identity.Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) })
			return tok
		}, "expired"},
		{"no expiry", func(t *testing.T) string {
			tok, _ := identityWith(t, s, func(c *identity.Claims) { c.ExpiresAt = nil })
			return tok
		}, "exp"},
		{"not yet valid", func(t *testing.T) string {
			tok, _ := identityWith(t, s, func(c *identity.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) })
			return tok
		}, "not valid yet"},
		{"unknown role", func(t *testing.T) string {
			tok, _ := identityWith(t, s, func(c *identity.Claims) { c.Role = "root" })
			return tok
		}, "role"},
		{"garbage", func(t *testing.T) string { return "not.a.token" }, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub, _, err := s.Verify(tc.token(t))
			if !errors.Is(err, identity.ErrInvalidToken) {
				t.Fatalf("Verify = %q, %v; want ErrInvalidToken", sub, err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("reason %q does not mention %q", err, tc.reason)
			}
			if !strings.Contains(logs.String(), "token refused") {
				t.Errorf("refusal not logged")
			}
		})
	}

	// A token issued by a service with the same settings but another store is refused.
	other, _, _ := newService(t, openDB(t))
	tok, _ := other.Issue("p_alice", identity.RolePerson, time.Hour)
	if _, _, err := s.Verify(tok); !errors.Is(err, identity.ErrInvalidToken) {
		t.Fatalf("token of another installation accepted: %v", err)
	}

	// Time passes: the good token expires.
	clk.Add(2 * time.Hour)
	if _, _, err := s.Verify(good); !errors.Is(err, identity.ErrInvalidToken) {
		t.Fatalf("expired token accepted: %v", err)
	}
}

// identityWith forges a token signed with the service's own key.
func identityWith(t *testing.T, s *identity.Service, mut func(*identity.Claims)) (string, error) {
	t.Helper()
	return s.IssueClaims(mut)
}

func TestPeopleAndMerchants(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t, openDB(t))
	web := identity.Account{Surface: "web", External: "alice"}
	p, created, err := s.EnsurePerson(ctx, web, "Alice")
	if err != nil || !created {
		t.Fatalf("EnsurePerson = %v, %v", created, err)
	}
	again, created, err := s.EnsurePerson(ctx, web, "Alice B")
	if err != nil || created || again.ID != p.ID {
		t.Fatalf("second EnsurePerson = %+v, %v, %v; want the same person", again, created, err)
	}
	wa := identity.Account{Surface: "whatsapp", External: "+33600000001"}
	if err := s.LinkAccount(ctx, p.ID, wa); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkAccount(ctx, p.ID, wa); err != nil {
		t.Fatalf("relinking the same account: %v", err)
	}
	bob, _ := s.CreatePerson(ctx, "Bob", "")
	if err := s.LinkAccount(ctx, bob.ID, wa); !errors.Is(err, identity.ErrExists) {
		t.Fatalf("linking Alice's account to Bob: %v, want ErrExists", err)
	}
	got, err := s.PersonByAccount(ctx, wa)
	if err != nil || got.ID != p.ID || len(got.Accounts) != 2 {
		t.Fatalf("PersonByAccount = %+v, %v", got, err)
	}
	if _, err := s.Person(ctx, "p_nobody"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("Person(unknown) err = %v", err)
	}
	people, _ := s.People(ctx)
	if len(people) != 2 {
		t.Fatalf("People = %d, want 2", len(people))
	}
	for _, tc := range []struct {
		query string
		want  int
	}{{"", 2}, {"ali", 1}, {"BOB", 1}, {"zed", 0}} {
		if found, _ := s.FindPeople(ctx, tc.query, 10); len(found) != tc.want {
			t.Errorf("FindPeople(%q) = %d people, want %d", tc.query, len(found), tc.want)
		}
	}
	for _, tc := range []struct {
		id      string
		wantErr error
	}{{"acme", nil}, {"acme", identity.ErrExists}, {"Acme!", identity.ErrInvalid}, {"a", identity.ErrInvalid}} {
		if _, err := s.CreateMerchant(ctx, tc.id, "Acme"); !errors.Is(err, tc.wantErr) {
			t.Errorf("CreateMerchant(%q) = %v, want %v", tc.id, err, tc.wantErr)
		}
	}
	if m, created, err := s.EnsureMerchant(ctx, "acme", "x"); err != nil || created || m.Name != "Acme" {
		t.Fatalf("EnsureMerchant = %+v %v %v", m, created, err)
	}
}

func TestPseudonyms(t *testing.T) {
	db := openDB(t)
	s, _, _ := newService(t, db)
	shop := host.AppRef{Merchant: "acme", App: "shop", Version: "1.0.0"}
	shop2 := host.AppRef{Merchant: "acme", App: "shop", Version: "2.0.0"}
	ride := host.AppRef{Merchant: "acme", App: "ride", Version: "1.0.0"}
	other := host.AppRef{Merchant: "globex", App: "shop", Version: "1.0.0"}
	// Crafted so that naive concatenation would collide with shop.
	collide := host.AppRef{Merchant: "acmes", App: "hop", Version: "1.0.0"}

	a := s.OpenID(shop, "p_alice")
	if a != s.OpenID(shop2, "p_alice") {
		t.Error("OpenID changes across versions of the same app")
	}
	for name, ref := range map[string]host.AppRef{"other app": ride, "other merchant": other, "crafted ids": collide} {
		if s.OpenID(ref, "p_alice") == a {
			t.Errorf("%s: same OpenID", name)
		}
	}
	if s.OpenID(shop, "p_bob") == a {
		t.Error("two people share an OpenID")
	}
	if strings.Contains(a, "alice") {
		t.Error("OpenID leaks the platform id")
	}
	if s.UnionID("acme", "p_alice") == s.UnionID("globex", "p_alice") {
		t.Error("UnionID equal across merchants")
	}
	if s.UnionID("acme", "p_alice") == a {
		t.Error("UnionID equals OpenID")
	}
	s2, _, _ := newService(t, db)
	if s2.OpenID(shop, "p_alice") != a {
		t.Error("OpenID changes after a restart")
	}
	s3, _, _ := newService(t, openDB(t))
	if s3.OpenID(shop, "p_alice") == a {
		t.Error("OpenID does not depend on the server secret")
	}
}

type outbox struct {
	mu  sync.Mutex
	out []host.Outgoing
}

func (o *outbox) Emit(ctx context.Context, g host.Outgoing) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.out = append(o.out, g)
	return nil
}

func (o *outbox) last() host.Outgoing {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.out) == 0 {
		return host.Outgoing{}
	}
	return o.out[len(o.out)-1]
}

func call(s *identity.Service, c *host.Call, req string) ([]byte, error) {
	for _, f := range s.Funcs() {
		if f.Op == "identity.profile" {
			if !c.Caller.Has(f.Permission) {
				return nil, host.Errorf(host.StatusPermissionDenied, "denied")
			}
			return f.Handle(context.Background(), c, []byte(req))
		}
	}
	panic("no identity.profile")
}

func TestProfileConsent(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t, openDB(t))
	alice, _ := s.CreatePerson(ctx, "Alice", "+33600000001")
	bob, _ := s.CreatePerson(ctx, "Bob", "")
	if _, err := s.CreateMerchant(ctx, "acme", "Acme Shirts"); err != nil {
		t.Fatal(err)
	}
	ref := host.AppRef{Merchant: "acme", App: "shop", Version: "1.0.0"}
	out := &outbox{}
	caller := host.Caller{App: ref, Person: alice.ID, Conversation: "c1", Surface: "web",
		Permissions: []host.Permission{host.PermIdentityProfile}}
	c := &host.Call{Caller: caller, Out: out}

	// Phone without the phone permission: denied, no prompt.
	if _, err := call(s, c, `{"fields":["phone"]}`); host.StatusOf(err) != host.StatusPermissionDenied {
		t.Fatalf("phone without permission: %v", err)
	}
	if _, err := call(s, c, `{"fields":["age"]}`); host.StatusOf(err) != host.StatusBadRequest {
		t.Fatalf("unknown field: %v", err)
	}
	// Name without a grant: consent required, prompt to Alice only.
	if _, err := call(s, c, `{"fields":["name"]}`); host.StatusOf(err) != host.StatusConsentRequired {
		t.Fatalf("without grant: %v", err)
	}
	prompt := out.last()
	var body identity.ConsentPromptBody
	if prompt.Prompt == nil || json.Unmarshal(prompt.Prompt.Body, &body) != nil {
		t.Fatalf("emitted %+v, want a prompt", prompt)
	}
	if prompt.Prompt.Kind != s.PromptKind() || prompt.Prompt.ID != body.ID || prompt.Prompt.Person != alice.ID || body.Type != "consent" || body.App != "shop" ||
		len(body.Scopes) != 1 || body.Scopes[0] != identity.ScopeProfile || body.ID == "" || body.MerchantName != "Acme Shirts" {
		t.Fatalf("prompt = %+v body %+v", prompt, body)
	}
	pending, _ := s.PendingPrompts(ctx, alice.ID)
	if len(pending) != 1 || pending[0].ID != body.ID {
		t.Fatalf("pending prompts = %+v", pending)
	}
	// Bob cannot answer Alice's prompt.
	if err := s.Grant(ctx, bob.ID, body.ID, "web"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("Bob granting Alice's prompt: %v", err)
	}
	if err := s.Grant(ctx, alice.ID, body.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Grant(ctx, alice.ID, body.ID, ""); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("answering twice: %v", err)
	}
	resp, err := call(s, c, `{"fields":["name"]}`)
	if err != nil {
		t.Fatal(err)
	}
	var pr identity.ProfileResponse
	_ = json.Unmarshal(resp, &pr)
	if pr.Name != "Alice" || pr.Phone != "" || pr.User != s.OpenID(ref, alice.ID) || pr.Union != s.UnionID("acme", alice.ID) {
		t.Fatalf("profile = %+v", pr)
	}
	if bytes.Contains(resp, []byte(alice.ID)) {
		t.Fatal("profile response leaks the platform id")
	}
	grants, _ := s.Grants(ctx, alice.ID)
	if len(grants) != 1 || grants[0].Surface != "web" || !grants[0].Active() {
		t.Fatalf("grants = %+v", grants)
	}

	// Phone with the permission: a new prompt; refused; still required.
	c.Caller.Permissions = append(c.Caller.Permissions, host.PermIdentityPhone)
	if _, err := call(s, c, `{"fields":["name","phone"]}`); host.StatusOf(err) != host.StatusConsentRequired {
		t.Fatalf("phone without grant: %v", err)
	}
	_ = json.Unmarshal(out.last().Prompt.Body, &body)
	if len(body.Scopes) != 1 || body.Scopes[0] != identity.ScopePhone {
		t.Fatalf("second prompt scopes = %v, want only the phone", body.Scopes)
	}
	if err := s.Refuse(ctx, alice.ID, body.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := call(s, c, `{"fields":["phone"]}`); host.StatusOf(err) != host.StatusConsentRequired {
		t.Fatalf("after refusal: %v", err)
	}
	_ = json.Unmarshal(out.last().Prompt.Body, &body)
	_ = s.Grant(ctx, alice.ID, body.ID, "whatsapp")
	resp, err = call(s, c, `{"fields":["name","phone"]}`)
	if err != nil || !strings.Contains(string(resp), "+33600000001") {
		t.Fatalf("after grant: %s %v", resp, err)
	}
	grants, _ = s.Grants(ctx, alice.ID)
	for _, g := range grants {
		if g.Scope == identity.ScopePhone && g.Surface != "whatsapp" {
			t.Errorf("phone grant surface = %q, want where Alice answered", g.Surface)
		}
	}

	// Another app of the same merchant has no grant.
	c2 := &host.Call{Caller: caller, Out: out}
	c2.Caller.App.App = "ride"
	if _, err := call(s, c2, `{}`); host.StatusOf(err) != host.StatusConsentRequired {
		t.Fatalf("other app: %v", err)
	}

	// Revoked: refused from the next call on.
	if err := s.Revoke(ctx, alice.ID, ref, identity.ScopePhone); err != nil {
		t.Fatal(err)
	}
	if _, err := call(s, c, `{"fields":["phone"]}`); host.StatusOf(err) != host.StatusConsentRequired {
		t.Fatalf("after revoke: %v", err)
	}
	if _, err := call(s, c, `{"fields":["name"]}`); err != nil {
		t.Fatalf("name still granted: %v", err)
	}
	// No person on the event.
	c3 := &host.Call{Caller: caller, Out: out}
	c3.Caller.Person = ""
	if _, err := call(s, c3, `{}`); host.StatusOf(err) != host.StatusBadRequest {
		t.Fatalf("no person: %v", err)
	}
}

// FuzzVerify: no string an outsider sends verifies, and none panics.
func FuzzVerify(f *testing.F) {
	s, _, _ := newService(f, openDB(f))
	good, _ := s.Issue("p_alice", identity.RolePerson, time.Hour)
	f.Add(good[:len(good)-2] + "AA")
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		if tok == good {
			return
		}
		if sub, _, err := s.Verify(tok); err == nil {
			t.Fatalf("forged token %q verified as %q", tok, sub)
		}
	})
}

// TestEnsurePersonConcurrent: many first sign-ins of the same surface
// account at once create exactly one person.
func TestEnsurePersonConcurrent(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t, openDB(t))
	acct := identity.Account{Surface: "whatsapp", External: "+33611111111"}
	ids := make([]string, 16)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, _, err := s.EnsurePerson(ctx, acct, "Chloé")
			if err != nil {
				t.Error(err)
			}
			ids[i] = p.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("two people for one account: %s and %s", ids[0], id)
		}
	}
	if people, _ := s.People(ctx); len(people) != 1 {
		t.Fatalf("%d people, want 1", len(people))
	}
}
