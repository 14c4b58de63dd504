package staff

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/bolt"
	"github.com/passerelle/passerelle/host"
)

// Lifetimes of the credentials (see the package doc).
const (
	LinkTTL      = 72 * time.Hour      // a sign-in link is good once, this long
	AccessTTL    = 15 * time.Minute    // an access token's life
	SessionIdle  = 7 * 24 * time.Hour  // a session not refreshed this long ends
	SessionMax   = 30 * 24 * time.Hour // a session ends this long after its sign-in
	RefreshGrace = 30 * time.Second    // the refresh secret just replaced is still taken this long
)

// Limits of what a merchant gives.
const (
	MaxName    = 60  // characters of a member's name
	MaxMembers = 500 // members per merchant
)

// Audience is the "aud" of the access tokens: they are good for the
// merchant inbox only.
const Audience = "passerelle-inbox"

// Errors, wrapped with details; all are *host.Error, so that an edge maps
// them from their code.
var (
	ErrInvalid  = &host.Error{Status: host.StatusBadRequest, Message: "staff: invalid request"}
	ErrNotFound = &host.Error{Status: host.StatusNotFound, Code: "member_not_found", Message: "no such member of staff"}
	ErrExists   = &host.Error{Status: host.StatusConflict, Code: "member_exists", Message: "a member of staff has that name already"}
	ErrFull     = &host.Error{Status: host.StatusQuota, Message: "staff: too many members"}
	// ErrSignIn is the kind of a refused sign-in code: unknown, used or
	// expired.
	ErrSignIn = &host.Error{Status: host.StatusPermissionDenied, Code: "signin_refused", Message: "this sign-in link does not work"}
	// ErrSession is the kind of a refused access or refresh token: the
	// session ended, or the token expired (the page refreshes it then).
	ErrSession = &host.Error{Status: host.StatusPermissionDenied, Code: "session_expired", Message: "the inbox session ended"}
)

// Member is one member of a merchant's staff.
type Member struct {
	ID       string `json:"id"`
	Merchant string `json:"merchant"`
	Name     string `json:"name"`               // shown to people and to colleagues
	Created  int64  `json:"created"`            // unix milliseconds
	SignedIn int64  `json:"signed_in,omitzero"` // the last sign-in, unix milliseconds
	// Sessions is how many sessions of the member are live (Members only).
	Sessions int `json:"sessions"`
}

// Link is a one-time sign-in code, shown once.
type Link struct {
	Code    string
	Expires time.Time
}

// Session is what a sign-in or a refresh gives: the access token, good
// for AccessTTL, and the refresh token that gets the next one.
type Session struct {
	ID             string
	Member         Member
	Access         string
	AccessExpires  time.Time
	Refresh        string
	RefreshExpires time.Time
}

// Config configures Open.
type Config struct {
	Now    func() time.Time // default time.Now
	Logger *slog.Logger
}

var (
	bucketMembers  = []byte("staff.members")  // merchant 0 id -> Member JSON
	bucketLinks    = []byte("staff.links")    // code digest (hex) -> link JSON
	bucketSessions = []byte("staff.sessions") // session id -> session JSON
	bucketKeys     = []byte("staff.keys")     // "access" -> HS256 key
)

var keyAccess = []byte("access")

type link struct {
	Member   string `json:"member"`
	Merchant string `json:"merchant"`
	Expires  int64  `json:"expires"`
}

type session struct {
	ID       string `json:"id"`
	Member   string `json:"member"`
	Merchant string `json:"merchant"`
	Created  int64  `json:"created"`
	Idle     int64  `json:"idle"`   // ends at this time unless refreshed
	Digest   string `json:"digest"` // of the current refresh secret
	Prev     string `json:"prev,omitempty"`
	Rotated  int64  `json:"rotated,omitempty"` // when Prev was replaced
}

func (s *session) end() int64 { return min(s.Idle, s.Created+SessionMax.Milliseconds()) }

// live is what memory keeps of a session, for Verify.
type live struct {
	member Member
	end    int64
}

// Store keeps members and sessions. It is safe for concurrent use.
type Store struct {
	db  *bbolt.DB
	now func() time.Time
	log *slog.Logger
	key []byte

	mu   sync.RWMutex
	live map[string]live // session id -> its member
}

// Open creates the store's buckets and key in db and loads the live
// sessions.
func Open(db *bbolt.DB, cfg Config) (*Store, error) {
	s := &Store{db: db, now: cfg.Now, log: cfg.Logger, live: map[string]live{}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := bolt.CreateBuckets(db, bucketMembers, bucketLinks, bucketSessions, bucketKeys); err != nil {
		return nil, fmt.Errorf("staff: create buckets: %w", err)
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		keys := tx.Bucket(bucketKeys)
		if v := keys.Get(keyAccess); v != nil {
			s.key = bytes.Clone(v)
		} else {
			s.key = make([]byte, 32)
			if _, err := rand.Read(s.key); err != nil {
				return err
			}
			if err := keys.Put(keyAccess, s.key); err != nil {
				return err
			}
		}
		now := s.now().UnixMilli()
		var ended [][]byte
		err := tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
			var se session
			if err := json.Unmarshal(v, &se); err != nil {
				return fmt.Errorf("session %s: %w", k, err)
			}
			m, err := getMember(tx, se.Merchant, se.Member)
			if errors.Is(err, ErrNotFound) || se.end() <= now {
				ended = append(ended, bytes.Clone(k))
				return nil
			}
			if err != nil {
				return err
			}
			s.live[se.ID] = live{member: m, end: se.end()}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range ended {
			if err := tx.Bucket(bucketSessions).Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("staff: open: %w", err)
	}
	return s, nil
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func digest(secret string) string {
	d := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(d[:])
}

func getMember(tx *bbolt.Tx, merchant, id string) (Member, error) {
	v := tx.Bucket(bucketMembers).Get(bolt.Key(merchant, id))
	if v == nil {
		return Member{}, host.Wrapf(ErrNotFound, "%q; list your staff with GET /v1/staff", id)
	}
	var m Member
	err := json.Unmarshal(v, &m)
	return m, err
}

func putJSON(b *bbolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

// CheckName checks a member's name: what people and colleagues will read
// as the sender of an answer.
func CheckName(name string) error {
	n := utf8.RuneCountInString(name)
	switch {
	case !utf8.ValidString(name):
		return host.Wrapf(ErrInvalid, "name: not valid UTF-8")
	case strings.TrimSpace(name) == "":
		return host.Wrapf(ErrInvalid, "name: empty; give the name people will see, such as \"Alice\"")
	case strings.TrimSpace(name) != name:
		return host.Wrapf(ErrInvalid, "name: %q starts or ends with spaces; remove them", name)
	case n > MaxName:
		return host.Wrapf(ErrInvalid, "name: %d characters, at most %d; shorten it", n, MaxName)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return host.Wrapf(ErrInvalid, "name: %q holds a control character; write it on one line", name)
	}
	return nil
}

// Add adds a member named name to merchant's staff and returns it with
// its sign-in link. Names are unique within a merchant's staff, whatever
// the case: colleagues tell answers apart by them.
func (s *Store) Add(_ context.Context, merchant, name string) (Member, Link, error) {
	if err := CheckName(name); err != nil {
		return Member{}, Link{}, err
	}
	now := s.now()
	m := Member{ID: "st_" + random(12), Merchant: merchant, Name: name, Created: now.UnixMilli()}
	var l Link
	err := s.db.Update(func(tx *bbolt.Tx) error {
		all, err := members(tx, merchant)
		if err != nil {
			return err
		}
		if len(all) >= MaxMembers {
			return host.Wrapf(ErrFull, "%d members, at most %d; remove those who left", len(all), MaxMembers)
		}
		for _, o := range all {
			if strings.EqualFold(o.Name, name) {
				return host.Wrapf(ErrExists, "%q is %s; choose another name (add a surname's initial)", name, o.ID)
			}
		}
		if err := putJSON(tx.Bucket(bucketMembers), bolt.Key(merchant, m.ID), m); err != nil {
			return err
		}
		l, err = s.newLink(tx, m, now)
		return err
	})
	if err != nil {
		return Member{}, Link{}, err
	}
	s.log.Info("member of staff added", "merchant", merchant, "member", m.ID)
	return m, l, nil
}

// newLink replaces m's unused sign-in links with a new one.
func (s *Store) newLink(tx *bbolt.Tx, m Member, now time.Time) (Link, error) {
	if err := s.dropLinks(tx, m.Merchant, m.ID); err != nil {
		return Link{}, err
	}
	l := Link{Code: "si_" + random(32), Expires: now.Add(LinkTTL)}
	err := putJSON(tx.Bucket(bucketLinks), []byte(digest(l.Code)), link{Member: m.ID, Merchant: m.Merchant, Expires: l.Expires.UnixMilli()})
	return l, err
}

func (s *Store) dropLinks(tx *bbolt.Tx, merchant, member string) error {
	b := tx.Bucket(bucketLinks)
	var drop [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var l link
		if err := json.Unmarshal(v, &l); err != nil {
			return err
		}
		if l.Merchant == merchant && l.Member == member || l.Expires <= s.now().UnixMilli() {
			drop = append(drop, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range drop {
		if err == nil {
			err = b.Delete(k)
		}
	}
	return err
}

// NewLink gives member id of merchant a new sign-in link (for another
// device, or a link that expired); the earlier unused one stops working.
func (s *Store) NewLink(_ context.Context, merchant, id string) (Member, Link, error) {
	var (
		m Member
		l Link
	)
	err := s.db.Update(func(tx *bbolt.Tx) (err error) {
		if m, err = getMember(tx, merchant, id); err != nil {
			return err
		}
		l, err = s.newLink(tx, m, s.now())
		return err
	})
	return m, l, err
}

func members(tx *bbolt.Tx, merchant string) ([]Member, error) {
	out := []Member{}
	prefix := bolt.Key(merchant, "")
	c := tx.Bucket(bucketMembers).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var m Member
		if err := json.Unmarshal(v, &m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Members returns merchant's staff by name, each with its count of live
// sessions.
func (s *Store) Members(_ context.Context, merchant string) ([]Member, error) {
	var out []Member
	err := s.db.View(func(tx *bbolt.Tx) (err error) { out, err = members(tx, merchant); return err })
	if err != nil {
		return nil, err
	}
	now := s.now().UnixMilli()
	s.mu.RLock()
	for _, l := range s.live {
		if l.end <= now {
			continue
		}
		for i := range out {
			if out[i].ID == l.member.ID && out[i].Merchant == l.member.Merchant {
				out[i].Sessions++
			}
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, nil
}

// Remove removes member id from merchant's staff: its sign-in link and
// every session of it stop working at once.
func (s *Store) Remove(_ context.Context, merchant, id string) (Member, error) {
	var m Member
	err := s.db.Update(func(tx *bbolt.Tx) (err error) {
		if m, err = getMember(tx, merchant, id); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMembers).Delete(bolt.Key(merchant, id)); err != nil {
			return err
		}
		if err := s.dropLinks(tx, merchant, id); err != nil {
			return err
		}
		b := tx.Bucket(bucketSessions)
		var drop [][]byte
		err = b.ForEach(func(k, v []byte) error {
			var se session
			if err := json.Unmarshal(v, &se); err != nil {
				return err
			}
			if se.Merchant == merchant && se.Member == id {
				drop = append(drop, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range drop {
			if err == nil {
				err = b.Delete(k)
			}
		}
		return err
	})
	if err != nil {
		return Member{}, err
	}
	s.mu.Lock()
	for sid, l := range s.live {
		if l.member.ID == id && l.member.Merchant == merchant {
			delete(s.live, sid)
		}
	}
	s.mu.Unlock()
	s.log.Info("member of staff removed", "merchant", merchant, "member", id)
	return m, nil
}

// SignIn exchanges a sign-in code for a session. The code is good once.
func (s *Store) SignIn(_ context.Context, code string) (Session, error) {
	now := s.now()
	var (
		m  Member
		se session
		rt string
	)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		key := []byte(digest(code))
		v := tx.Bucket(bucketLinks).Get(key)
		if v == nil {
			return host.Wrapf(ErrSignIn, "it was used already, replaced by a newer one, or never made; ask your merchant for a new one ('passerelle staff link')")
		}
		var l link
		if err := json.Unmarshal(v, &l); err != nil {
			return err
		}
		if err := tx.Bucket(bucketLinks).Delete(key); err != nil {
			return err
		}
		if l.Expires <= now.UnixMilli() {
			return errExpiredLink
		}
		var err error
		if m, err = getMember(tx, l.Merchant, l.Member); err != nil {
			return host.Wrapf(ErrSignIn, "its member of staff was removed")
		}
		m.SignedIn = now.UnixMilli()
		if err := putJSON(tx.Bucket(bucketMembers), bolt.Key(m.Merchant, m.ID), m); err != nil {
			return err
		}
		se = session{ID: "ss_" + random(12), Member: m.ID, Merchant: m.Merchant, Created: now.UnixMilli()}
		rt = s.rotate(&se, now)
		return putJSON(tx.Bucket(bucketSessions), []byte(se.ID), se)
	})
	if errors.Is(err, errExpiredLink) {
		// The used-up link is deleted all the same.
		if derr := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketLinks).Delete([]byte(digest(code))) }); derr != nil {
			return Session{}, derr
		}
		return Session{}, host.Wrapf(ErrSignIn, "it expired (links last %s); ask your merchant for a new one", LinkTTL)
	}
	if err != nil {
		return Session{}, err
	}
	s.log.Info("member of staff signed in", "merchant", m.Merchant, "member", m.ID, "session", se.ID)
	return s.issued(m, se, rt, now)
}

var errExpiredLink = errors.New("expired link")

// rotate gives se a new refresh secret, keeping the replaced one's digest
// for RefreshGrace, and returns the refresh token.
func (s *Store) rotate(se *session, now time.Time) string {
	secret := random(32)
	if se.Digest != "" {
		se.Prev, se.Rotated = se.Digest, now.UnixMilli()
	}
	se.Digest = digest(secret)
	se.Idle = now.Add(SessionIdle).UnixMilli()
	return se.ID + "." + secret
}

type claims struct {
	Merchant string `json:"mer"`
	Session  string `json:"sid"`
	jwt.RegisteredClaims
}

// issued makes the session's new access token and remembers it live.
func (s *Store) issued(m Member, se session, refresh string, now time.Time) (Session, error) {
	exp := now.Add(AccessTTL)
	c := claims{Merchant: m.Merchant, Session: se.ID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "passerelle", Subject: m.ID, Audience: jwt.ClaimStrings{Audience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp)}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
	if err != nil {
		return Session{}, fmt.Errorf("staff: sign access token: %w", err)
	}
	s.mu.Lock()
	s.live[se.ID] = live{member: m, end: se.end()}
	s.mu.Unlock()
	return Session{ID: se.ID, Member: m, Access: tok, AccessExpires: exp, Refresh: refresh,
		RefreshExpires: time.UnixMilli(se.end())}, nil
}

// Refresh exchanges a refresh token for a new access token and a new
// refresh token. A refresh token replaced more than RefreshGrace ago ends
// the session: someone kept a copy of it.
func (s *Store) Refresh(_ context.Context, token string) (Session, error) {
	sid, secret, ok := strings.Cut(token, ".")
	if !ok || sid == "" || secret == "" {
		return Session{}, host.Wrapf(ErrSession, "the refresh token is malformed; sign in again with a new link")
	}
	now := s.now()
	var (
		m      Member
		se     session
		rt     string
		reused bool
	)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		v := b.Get([]byte(sid))
		if v == nil {
			return host.Wrapf(ErrSession, "you signed out, or your merchant removed you from its staff; sign in again with a new link")
		}
		if err := json.Unmarshal(v, &se); err != nil {
			return err
		}
		d := digest(secret)
		switch {
		case se.end() <= now.UnixMilli():
			return b.Delete([]byte(sid))
		case hmac.Equal([]byte(d), []byte(se.Digest)):
		case se.Prev != "" && hmac.Equal([]byte(d), []byte(se.Prev)) && now.UnixMilli()-se.Rotated <= RefreshGrace.Milliseconds():
		default:
			reused = true
			return b.Delete([]byte(sid))
		}
		var err error
		if m, err = getMember(tx, se.Merchant, se.Member); errors.Is(err, ErrNotFound) {
			return b.Delete([]byte(sid)) // removed meanwhile: the session ends
		} else if err != nil {
			return err
		}
		rt = s.rotate(&se, now)
		return putJSON(b, []byte(sid), se)
	})
	if err != nil {
		return Session{}, err
	}
	if rt == "" {
		s.mu.Lock()
		delete(s.live, sid)
		s.mu.Unlock()
		if reused {
			s.log.Warn("a replaced refresh token was used again; session ended", "merchant", se.Merchant, "member", se.Member, "session", sid)
			return Session{}, host.Wrapf(ErrSession, "this sign-in was used from somewhere else, so it was ended; sign in again with a new link")
		}
		return Session{}, host.Wrapf(ErrSession, "it expired (or your merchant just removed you from its staff); sign in again with a new link")
	}
	return s.issued(m, se, rt, now)
}

// SignOut ends the session sid (Verify's), at once. Ending a session that
// already ended is no error.
func (s *Store) SignOut(_ context.Context, sid string) error {
	err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketSessions).Delete([]byte(sid)) })
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.live, sid)
	s.mu.Unlock()
	return nil
}

// Verify checks an access token: the signature, the audience, that it
// has not expired, and that its session is still live. It returns the
// member and the session id.
func (s *Store) Verify(token string) (Member, string, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer("passerelle"),
		jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now),
	)
	if errors.Is(err, jwt.ErrTokenExpired) {
		return Member{}, "", host.Wrapf(ErrSession, "the access token expired; refresh it (POST /v1/staff/session/refresh)")
	}
	if err != nil {
		return Member{}, "", host.Wrapf(ErrSession, "the access token is not valid (%v); sign in again", err)
	}
	s.mu.RLock()
	l, ok := s.live[c.Session]
	s.mu.RUnlock()
	if !ok || l.member.ID != c.Subject || l.member.Merchant != c.Merchant || l.end <= s.now().UnixMilli() {
		return Member{}, "", host.Wrapf(ErrSession, "you signed out, or your merchant removed you from its staff; sign in again with a new link")
	}
	return l.member, c.Session, nil
}
