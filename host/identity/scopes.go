package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// Scope is something a person grants an app. Its values are the manifest
// permissions of the same name.
type Scope string

// Scopes a person may grant.
const (
	ScopeProfile = Scope(host.PermIdentityProfile) // display name
	ScopePhone   = Scope(host.PermIdentityPhone)   // phone number
)

func validScope(s Scope) bool { return s == ScopeProfile || s == ScopePhone }

// Grant is one scope a person granted (or revoked) to one app.
type Grant struct {
	Person   string     `json:"person"`
	Merchant string     `json:"merchant"`
	App      string     `json:"app"`
	Scope    Scope      `json:"scope"`
	Granted  time.Time  `json:"granted"`
	Surface  string     `json:"surface,omitempty"` // where the person granted it
	Revoked  *time.Time `json:"revoked,omitempty"`
}

// Active reports whether the grant is in force.
func (g Grant) Active() bool { return g.Revoked == nil }

// Prompt is a consent question waiting for a person's answer. A person has
// at most one pending prompt per app; when the app asks again before they
// answer, the prompt gains the new scopes and moves to the conversation and
// surface of the latest call.
type Prompt struct {
	ID           string    `json:"id"`
	Person       string    `json:"person"`
	Merchant     string    `json:"merchant"`
	App          string    `json:"app"`
	Scopes       []Scope   `json:"scopes"`
	Surface      string    `json:"surface,omitempty"`
	Conversation string    `json:"conversation,omitempty"` // where the app asked; "" for prompts stored before it was kept
	Created      time.Time `json:"created"`
}

// Ref names the app that asked (merchant and app id; the version is left
// empty: grants cover every version).
func (p Prompt) Ref() host.AppRef { return host.AppRef{Merchant: p.Merchant, App: p.App} }

// Event is the consent event that tells the app the person's answer.
func (p Prompt) Event(granted bool) host.ConsentEvent {
	scopes := make([]string, len(p.Scopes))
	for i, sc := range p.Scopes {
		scopes[i] = string(sc)
	}
	return host.ConsentEvent{Prompt: p.ID, Scopes: scopes, Granted: granted}
}

func grantKey(person, merchant, app string, sc Scope) []byte {
	return []byte(person + "\x00" + merchant + "\x00" + app + "\x00" + string(sc))
}

func promptKey(id string) []byte { return []byte("id\x00" + id) }

func pendingKey(person, merchant, app string) []byte {
	return []byte("pending\x00" + person + "\x00" + merchant + "\x00" + app)
}

// GrantScopes records that person grants scopes to the app ref.Merchant /
// ref.App (all versions), from surface.
func (s *Service) GrantScopes(ctx context.Context, person string, ref host.AppRef, scopes []Scope, surface string) error {
	for _, sc := range scopes {
		if !validScope(sc) {
			return host.Wrapf(ErrInvalid, "scope %q; use identity.profile or identity.phone", sc)
		}
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		return s.putGrants(tx, person, ref.Merchant, ref.App, scopes, surface)
	})
}

func (s *Service) putGrants(tx *bbolt.Tx, person, merchant, app string, scopes []Scope, surface string) error {
	if tx.Bucket(bucketPeople).Get([]byte(person)) == nil {
		return host.Wrapf(ErrNotFound, "no person %q", person)
	}
	b := tx.Bucket(bucketGrants)
	for _, sc := range scopes {
		g := Grant{Person: person, Merchant: merchant, App: app, Scope: sc, Granted: s.now().UTC(), Surface: surface}
		if err := putJSON(b, grantKey(person, merchant, app, sc), g); err != nil {
			return err
		}
	}
	return nil
}

// Revoke withdraws a scope person granted to an app. The next call of the
// app that needs it is refused. Revoking a scope never granted returns
// ErrNotFound.
func (s *Service) Revoke(ctx context.Context, person string, ref host.AppRef, sc Scope) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketGrants)
		key := grantKey(person, ref.Merchant, ref.App, sc)
		var g Grant
		if err := getJSON(b, key, &g); err != nil {
			return host.Wrapf(ErrNotFound, "%s never granted %s to %s/%s", person, sc, ref.Merchant, ref.App)
		}
		if g.Revoked != nil {
			return nil
		}
		now := s.now().UTC()
		g.Revoked = &now
		return putJSON(b, key, g)
	})
}

// Grants lists every grant of person, active and revoked.
func (s *Service) Grants(ctx context.Context, person string) ([]Grant, error) {
	var out []Grant
	prefix := []byte(person + "\x00")
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketGrants).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var g Grant
			if err := json.Unmarshal(v, &g); err != nil {
				return err
			}
			out = append(out, g)
		}
		return nil
	})
	return out, err
}

// HasGrant reports whether person has an active grant of sc to the app.
func (s *Service) HasGrant(ctx context.Context, person string, ref host.AppRef, sc Scope) (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		ok = activeGrant(tx, person, ref.Merchant, ref.App, sc)
		return nil
	})
	return ok, err
}

func activeGrant(tx *bbolt.Tx, person, merchant, app string, sc Scope) bool {
	var g Grant
	if err := getJSON(tx.Bucket(bucketGrants), grantKey(person, merchant, app, sc), &g); err != nil {
		return false
	}
	return g.Active()
}

// PendingPrompts lists the consent prompts person has not answered yet.
func (s *Service) PendingPrompts(ctx context.Context, person string) ([]Prompt, error) {
	var out []Prompt
	prefix := []byte("pending\x00" + person + "\x00")
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketPrompts)
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var p Prompt
			if err := getJSON(b, promptKey(string(v)), &p); err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// Grant answers yes to consent prompt promptID: person grants its scopes to
// its app. surface is where the person answered, kept in the grant ("" for
// the surface where the app asked). Only the person the prompt was sent to
// may answer it; anyone else gets ErrNotFound, as does a prompt already
// answered. Once the grant is committed, Config.Answered learns it.
func (s *Service) Grant(ctx context.Context, person, promptID, surface string) error {
	return s.answer(ctx, person, promptID, surface, true)
}

// Refuse answers no to consent prompt promptID; nothing is granted and the
// prompt is gone. Once that is committed, Config.Answered learns it.
func (s *Service) Refuse(ctx context.Context, person, promptID string) error {
	return s.answer(ctx, person, promptID, "", false)
}

func (s *Service) answer(ctx context.Context, person, promptID, surface string, yes bool) error {
	var p Prompt
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketPrompts)
		p = Prompt{}
		if err := getJSON(b, promptKey(promptID), &p); err != nil || p.Person != person {
			return host.Wrapf(ErrNotFound, "no pending consent prompt %q for this person", promptID)
		}
		if err := b.Delete(promptKey(promptID)); err != nil {
			return err
		}
		if err := b.Delete(pendingKey(p.Person, p.Merchant, p.App)); err != nil {
			return err
		}
		if s.answered != nil {
			if err := putJSON(tx.Bucket(bucketAnswers), []byte(p.ID), keptAnswer{Prompt: p, Granted: yes}); err != nil {
				return err
			}
		}
		if !yes {
			s.log.Info("consent refused", "person", person, "merchant", p.Merchant, "app", p.App, "scopes", p.Scopes)
			return nil
		}
		if surface == "" {
			surface = p.Surface
		}
		return s.putGrants(tx, p.Person, p.Merchant, p.App, p.Scopes, surface)
	})
	if err != nil {
		return err
	}
	if s.answered != nil {
		s.answered(ctx, p, yes)
	}
	return nil
}

// keptAnswer is an answer in the outbox (bucketAnswers, keyed by prompt id).
type keptAnswer struct {
	Prompt  Prompt `json:"prompt"`
	Granted bool   `json:"granted"`
}

// AnswerDelivered forgets the answer to prompt promptID once the app it
// belongs to has been given it (or cannot be, for good): Redeliver will
// not hand it over again. Forgetting an unknown prompt is not an error.
func (s *Service) AnswerDelivered(ctx context.Context, promptID string) error {
	err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketAnswers).Delete([]byte(promptID)) })
	if err != nil {
		return fmt.Errorf("identity: forget answer %s: %w", promptID, err)
	}
	return nil
}

// Redeliver hands Config.Answered, once, the answers a previous run of the
// process committed but never marked delivered (AnswerDelivered), in the
// order of their prompt ids, and returns how many. Answers given since Open
// are handed over by Grant and Refuse themselves. Without Config.Answered
// it does nothing.
func (s *Service) Redeliver(ctx context.Context) int {
	s.mu.Lock()
	backlog := s.backlog
	s.backlog = nil
	s.mu.Unlock()
	if s.answered == nil {
		return 0
	}
	for _, a := range backlog {
		s.log.Info("consent answer handed over again", "prompt", a.Prompt.ID, "merchant", a.Prompt.Merchant, "app", a.Prompt.App)
		s.answered(ctx, a.Prompt, a.Granted)
	}
	return len(backlog)
}

// UndeliveredAnswers returns how many answers are kept until their app has
// them (AnswerDelivered).
func (s *Service) UndeliveredAnswers(ctx context.Context) (int, error) {
	var n int
	err := s.db.View(func(tx *bbolt.Tx) error { n = tx.Bucket(bucketAnswers).Stats().KeyN; return nil })
	return n, err
}

// ensurePrompt returns the pending prompt of person for the app, creating
// it or adding the missing scopes to it.
func (s *Service) ensurePrompt(c *host.Caller, missing []Scope) (Prompt, error) {
	var p Prompt
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketPrompts)
		pk := pendingKey(c.Person, c.App.Merchant, c.App.App)
		p = Prompt{}
		if id := b.Get(pk); id != nil {
			if err := getJSON(b, promptKey(string(id)), &p); err != nil {
				return err
			}
		} else {
			p = Prompt{ID: newID("cp_"), Person: c.Person, Merchant: c.App.Merchant, App: c.App.App, Created: s.now().UTC()}
		}
		p.Surface, p.Conversation = c.Surface, c.Conversation
		for _, sc := range missing {
			found := false
			for _, have := range p.Scopes {
				found = found || have == sc
			}
			if !found {
				p.Scopes = append(p.Scopes, sc)
			}
		}
		p.Scopes = sortedScopes(p.Scopes)
		if err := putJSON(b, promptKey(p.ID), p); err != nil {
			return err
		}
		return b.Put(pk, []byte(p.ID))
	})
	return p, err
}

// ConsentPromptBody is the Body of the consent prompt emitted to a person.
type ConsentPromptBody struct {
	Type     string `json:"type"` // "consent"
	ID       string `json:"id"`   // answer with Grant or Refuse
	Merchant string `json:"merchant"`
	// MerchantName is the merchant's display name, so that the host can
	// say who asks in plain words; empty when the merchant is unknown.
	MerchantName string  `json:"merchant_name,omitempty"`
	App          string  `json:"app"`
	Scopes       []Scope `json:"scopes"`
}

// ProfileRequest is the request of identity.profile.
type ProfileRequest struct {
	Fields []string `json:"fields"` // "name", "phone"; empty means ["name"]
}

// ProfileResponse is the response of identity.profile.
type ProfileResponse struct {
	User  string `json:"user"`  // OpenID
	Union string `json:"union"` // UnionID
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
}

var fieldScopes = map[string]Scope{"name": ScopeProfile, "phone": ScopePhone}

// Funcs returns the host operations of the identity API: identity.profile.
func (s *Service) Funcs() []host.Func {
	return []host.Func{{Op: "identity.profile", Permission: host.PermIdentityProfile, Handle: s.profile}}
}

func (s *Service) profile(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
	var r ProfileRequest
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, host.Errorf(host.StatusBadRequest, "identity.profile: request must be {\"fields\":[\"name\",\"phone\"]}: %v", err)
	}
	if len(r.Fields) == 0 {
		r.Fields = []string{"name"}
	}
	if c.Caller.Person == "" {
		return nil, host.Errorf(host.StatusBadRequest, "identity.profile: this event has no person; call it while handling an event a person caused")
	}
	var want []Scope
	for _, f := range r.Fields {
		sc, ok := fieldScopes[f]
		if !ok {
			return nil, host.Errorf(host.StatusBadRequest, "identity.profile: unknown field %q; ask for \"name\" or \"phone\"", f)
		}
		if !c.Caller.Has(host.Permission(sc)) {
			return nil, host.Errorf(host.StatusPermissionDenied, "identity.profile: field %q needs the permission %q; add it to the permissions in manifest.json", f, sc)
		}
		want = append(want, sc)
	}
	var missing []Scope
	var p Person
	err := s.db.View(func(tx *bbolt.Tx) error {
		for _, sc := range want {
			if !activeGrant(tx, c.Caller.Person, c.Caller.App.Merchant, c.Caller.App.App, sc) {
				missing = append(missing, sc)
			}
		}
		return getJSON(tx.Bucket(bucketPeople), []byte(c.Caller.Person), &p)
	})
	if err != nil {
		return nil, host.Errorf(host.StatusNotFound, "identity.profile: the person of this event is not known to the platform")
	}
	if len(missing) > 0 {
		prompt, err := s.ensurePrompt(&c.Caller, missing)
		if err != nil {
			return nil, fmt.Errorf("identity.profile: store consent prompt: %w", err)
		}
		pb := ConsentPromptBody{Type: s.prompt.Name, ID: prompt.ID, Merchant: prompt.Merchant, App: prompt.App, Scopes: prompt.Scopes}
		if m, err := s.Merchant(ctx, prompt.Merchant); err == nil {
			pb.MerchantName = m.Name
		}
		body, _ := json.Marshal(pb)
		if err := c.Emit(ctx, host.Outgoing{App: c.Caller.App, Conversation: c.Caller.Conversation,
			Prompt: &host.Prompt{ID: prompt.ID, Kind: s.prompt, Person: c.Caller.Person, Body: body}}); err != nil {
			return nil, host.Errorf(host.StatusUnavailable, "identity.profile: the consent prompt could not be sent; try again later")
		}
		return nil, host.Errorf(host.StatusConsentRequired, "identity.profile: the person has not granted %v; a consent prompt was sent to them; ask again after they answer", missing)
	}
	resp := ProfileResponse{User: s.OpenID(c.Caller.App, p.ID), Union: s.UnionID(c.Caller.App.Merchant, p.ID)}
	for _, sc := range want {
		switch sc {
		case ScopeProfile:
			resp.Name = p.Name
		case ScopePhone:
			resp.Phone = p.Phone
		}
	}
	return json.Marshal(resp)
}

// Answers to a consent prompt.
const (
	AnswerGrant  = "grant"
	AnswerRefuse = "refuse"
)

// PromptKind returns the consent prompt: grant (Grant) or refuse (Refuse)
// the scopes an app asked for. An answer that finds the prompt gone (it was
// answered elsewhere) settles it too.
func (s *Service) PromptKind() *host.PromptKind { return s.prompt }

func (s *Service) newPromptKind() *host.PromptKind {
	return &host.PromptKind{
		Name:    "consent",
		Answers: []string{AnswerGrant, AnswerRefuse},
		Apply: func(ctx context.Context, a host.Answer) (bool, error) {
			var err error
			if a.Choice == AnswerGrant {
				err = s.Grant(ctx, a.Person, a.Prompt, a.Surface)
			} else {
				err = s.Refuse(ctx, a.Person, a.Prompt)
			}
			return host.Settles(err, host.StatusNotFound), err
		},
	}
}
