package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
)

// answer is one call of Config.Answered, with whether the answer was
// already committed when the hook ran.
type answer struct {
	prompt    identity.Prompt
	granted   bool
	committed bool
}

// TestAnswered: the hook learns every committed answer to a consent prompt,
// with the app, the person and the conversation where the app asked, and
// nothing else (a wrong person, a second answer).
func TestAnswered(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	var (
		mu      sync.Mutex
		answers []answer
		s       *identity.Service
	)
	s, err := identity.Open(db, identity.Config{Answered: func(ctx context.Context, p identity.Prompt, granted bool) {
		// The answer is visible to others when the hook runs.
		pending, _ := s.PendingPrompts(ctx, p.Person)
		has, _ := s.HasGrant(ctx, p.Person, p.Ref(), p.Scopes[0])
		mu.Lock()
		defer mu.Unlock()
		answers = append(answers, answer{p, granted, len(pending) == 0 && has == granted})
	}})
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := s.CreatePerson(ctx, "Alice", "+33600000001")
	bob, _ := s.CreatePerson(ctx, "Bob", "")
	ref := host.AppRef{Merchant: "acme", App: "lunch", Version: "1.2.0"}
	ask := func(t *testing.T, conv, fields string) identity.ConsentPromptBody {
		t.Helper()
		return askConsent(t, s, host.Caller{App: ref, Person: alice.ID, Conversation: conv, Surface: "whatsapp"}, fields)
	}
	take := func() []answer {
		mu.Lock()
		defer mu.Unlock()
		a := answers
		answers = nil
		return a
	}

	tests := []struct {
		name    string
		fields  string
		answer  func(prompt string) error
		granted bool
		scopes  []string
	}{
		{"grant", `{"fields":["name"]}`, func(id string) error { return s.Grant(ctx, alice.ID, id, "web") }, true, []string{"identity.profile"}},
		{"refuse", `{"fields":["name","phone"]}`, func(id string) error { return s.Refuse(ctx, alice.ID, id) }, false, []string{"identity.phone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Asked first in cv_1, then again in cv_2 before answering: the
			// answer goes to where the app asked last.
			ask(t, "cv_1", tt.fields)
			body := ask(t, "cv_2", tt.fields)
			if err := s.Grant(ctx, bob.ID, body.ID, "web"); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("Bob answering Alice's prompt: %v", err)
			}
			if got := take(); len(got) != 0 {
				t.Fatalf("a refused answer reached the hook: %+v", got)
			}
			if err := tt.answer(body.ID); err != nil {
				t.Fatal(err)
			}
			if err := tt.answer(body.ID); !errors.Is(err, identity.ErrNotFound) {
				t.Fatalf("second answer: %v", err)
			}
			got := take()
			if len(got) != 1 {
				t.Fatalf("hook called %d times, want once", len(got))
			}
			a := got[0]
			if a.granted != tt.granted || !a.committed {
				t.Fatalf("granted %v committed %v, want %v true", a.granted, a.committed, tt.granted)
			}
			p := a.prompt
			if p.ID != body.ID || p.Person != alice.ID || p.Conversation != "cv_2" || p.Surface != "whatsapp" ||
				p.Ref() != (host.AppRef{Merchant: "acme", App: "lunch"}) {
				t.Fatalf("prompt = %+v", p)
			}
			want := host.ConsentEvent{Prompt: body.ID, Scopes: tt.scopes, Granted: tt.granted}
			if ev := p.Event(a.granted); !reflect.DeepEqual(ev, want) {
				t.Fatalf("event = %+v, want %+v", ev, want)
			}
		})
	}
}

// askConsent makes the caller's app ask for its person's profile fields,
// which the person has not granted, and returns the prompt the service drew.
func askConsent(t *testing.T, s *identity.Service, caller host.Caller, fields string) identity.ConsentPromptBody {
	t.Helper()
	out := &outbox{}
	caller.Permissions = []host.Permission{host.PermIdentityProfile, host.PermIdentityPhone}
	if _, err := call(s, &host.Call{Out: out, Caller: caller}, fields); host.StatusOf(err) != host.StatusConsentRequired {
		t.Fatalf("profile without a grant: %v", err)
	}
	var body identity.ConsentPromptBody
	if err := json.Unmarshal(out.last().Prompt.Body, &body); err != nil {
		t.Fatal(err)
	}
	return body
}

// TestPromptWithoutConversation: a prompt stored before prompts kept their
// conversation is answered as before, with an empty conversation.
func TestPromptWithoutConversation(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	var got []identity.Prompt
	s, err := identity.Open(db, identity.Config{Answered: func(_ context.Context, p identity.Prompt, _ bool) { got = append(got, p) }})
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := s.CreatePerson(ctx, "Alice", "")
	old := `{"id":"cp_old","person":"` + alice.ID + `","merchant":"acme","app":"lunch","scopes":["identity.profile"],"created":"2026-01-01T00:00:00Z"}`
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("identity.prompts"))
		if err := b.Put([]byte("id\x00cp_old"), []byte(old)); err != nil {
			return err
		}
		return b.Put([]byte("pending\x00"+alice.ID+"\x00acme\x00lunch"), []byte("cp_old"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Grant(ctx, alice.ID, "cp_old", "web"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "cp_old" || got[0].Conversation != "" {
		t.Fatalf("answered = %+v", got)
	}
}

// TestAnswersKeptUntilDelivered: an answer stays in the service's outbox
// until AnswerDelivered; a restarted service (Open on the same store)
// hands the answers still kept to the hook again, once.
func TestAnswersKeptUntilDelivered(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	type got struct {
		id      string
		granted bool
	}
	var calls []got
	hook := identity.Config{Answered: func(_ context.Context, p identity.Prompt, granted bool) {
		calls = append(calls, got{p.ID, granted})
	}}
	s, err := identity.Open(db, hook)
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := s.CreatePerson(ctx, "Alice", "+33600000001")
	ref := host.AppRef{Merchant: "acme", App: "lunch", Version: "1.0.0"}
	ask := func(s *identity.Service, fields string) string {
		t.Helper()
		return askConsent(t, s, host.Caller{App: ref, Person: alice.ID, Conversation: "cv_1", Surface: "web"}, fields).ID
	}
	undelivered := func(s *identity.Service) int {
		t.Helper()
		n, err := s.UndeliveredAnswers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	granted := ask(s, `{"fields":["name"]}`)
	if err := s.Grant(ctx, alice.ID, granted, "web"); err != nil {
		t.Fatal(err)
	}
	refused := ask(s, `{"fields":["phone"]}`)
	if err := s.Refuse(ctx, alice.ID, refused); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || undelivered(s) != 2 {
		t.Fatalf("after two answers: hook %+v, %d kept; want 2 calls and 2 kept", calls, undelivered(s))
	}
	if n := s.Redeliver(ctx); n != 0 {
		t.Fatalf("Redeliver in the run that took the answers handed over %d", n)
	}
	if err := s.AnswerDelivered(ctx, granted); err != nil {
		t.Fatal(err)
	}

	// The process stops before the refusal reached the app.
	calls = nil
	s2, err := identity.Open(db, hook)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 {
		t.Fatalf("Open called the hook: %+v", calls)
	}
	if n := s2.Redeliver(ctx); n != 1 || len(calls) != 1 || calls[0] != (got{refused, false}) {
		t.Fatalf("Redeliver after the restart: %d, hook %+v; want the refusal of %s once", n, calls, refused)
	}
	if n := s2.Redeliver(ctx); n != 0 {
		t.Fatalf("a second Redeliver handed over %d again", n)
	}
	if err := s2.AnswerDelivered(ctx, refused); err != nil {
		t.Fatal(err)
	}
	if err := s2.AnswerDelivered(ctx, "cp_unknown"); err != nil {
		t.Fatalf("forgetting an unknown prompt: %v", err)
	}
	if n := undelivered(s2); n != 0 {
		t.Fatalf("%d answers kept after both were delivered", n)
	}

	// Without a hook nothing is kept.
	s3, err := identity.Open(db, identity.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.Grant(ctx, alice.ID, ask(s3, `{"fields":["phone"]}`), "web"); err != nil {
		t.Fatal(err)
	}
	if n := undelivered(s3); n != 0 {
		t.Fatalf("a service without Answered kept %d answers", n)
	}
}
