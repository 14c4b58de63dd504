package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
)

// lockedBuffer is a log destination safe for the platform's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// nopOutbox drops what the identity service emits.
type nopOutbox struct{}

func (nopOutbox) Emit(context.Context, host.Outgoing) error { return nil }

// TestConsentAnswerReachesTheRouter: an answer to a consent prompt returns
// at once to the caller (the gateway) and is handed to the app router as a
// consent event for the app that asked. The app here is not published, so
// the router refuses it and says so in the log.
func TestConsentAnswerReachesTheRouter(t *testing.T) {
	ctx := context.Background()
	cfg := defaultConfig()
	cfg.Addr, cfg.Data = "127.0.0.1:0", t.TempDir()
	sharedCompileCache(&cfg)
	logs := &lockedBuffer{}
	p, err := startPlatform(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close(ctx)

	for _, grant := range []bool{true, false} {
		person, err := p.svc.Identity.CreatePerson(ctx, "Ana", "")
		if err != nil {
			t.Fatal(err)
		}
		var profile host.Func
		for _, f := range p.svc.Identity.Funcs() {
			if f.Op == "identity.profile" {
				profile = f
			}
		}
		call := &host.Call{Out: nopOutbox{}, Caller: host.Caller{App: host.AppRef{Merchant: "labs", App: "unpublished", Version: "1"},
			Permissions: []host.Permission{host.PermIdentityProfile}, Person: person.ID, Conversation: "cv_1"}}
		if _, err := profile.Handle(ctx, call, []byte(`{}`)); host.StatusOf(err) != host.StatusConsentRequired {
			t.Fatalf("profile without a grant: %v", err)
		}
		prompts, err := p.svc.Identity.PendingPrompts(ctx, person.ID)
		if err != nil || len(prompts) != 1 {
			t.Fatalf("pending prompts %+v, %v", prompts, err)
		}
		id := prompts[0].ID
		answerCtx, cancel := context.WithTimeout(ctx, time.Minute)
		if grant {
			err = p.svc.Identity.Grant(answerCtx, person.ID, id, "web")
		} else {
			err = p.svc.Identity.Refuse(answerCtx, person.ID, id)
		}
		if err != nil || answerCtx.Err() != nil {
			t.Fatalf("answer: %v (context: %v)", err, answerCtx.Err())
		}
		cancel()
		want := `msg="consent event not delivered" prompt=` + id + ` app=labs/unpublished@`
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(logs.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("the answer (granted %v) never reached the router; log:\n%s", grant, logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		waitForgotten(t, p)
	}
}

// waitForgotten waits until the identity service keeps no answer for
// delivery: the platform forgets one once the router had it.
func waitForgotten(t *testing.T, p *platform) {
	t.Helper()
	waitNone(t, "consent answers", func() (int, error) { return p.svc.Identity.UndeliveredAnswers(context.Background()) })
}

// waitNone waits up to a minute until count reports none of what is counted:
// things kept until their delivery is done.
func waitNone(t *testing.T, what string, count func() (int, error)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := count()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s still kept after their delivery", n, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConsentAnswerHandedOverAfterRestart: an answer committed by a process
// that stopped before its app had it reaches the router when the server
// starts again on the same data.
func TestConsentAnswerHandedOverAfterRestart(t *testing.T) {
	ctx := context.Background()
	cfg := defaultConfig()
	cfg.Addr, cfg.Data = "127.0.0.1:0", t.TempDir()
	sharedCompileCache(&cfg)

	// The first run: the answer is committed, the process stops before
	// handing it over (its hook does nothing).
	db, err := openStore(cfg.Data, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.Open(db, identity.Config{Answered: func(context.Context, identity.Prompt, bool) {}})
	if err != nil {
		t.Fatal(err)
	}
	person, err := id.CreatePerson(ctx, "Ana", "")
	if err != nil {
		t.Fatal(err)
	}
	call := &host.Call{Out: nopOutbox{}, Caller: host.Caller{App: host.AppRef{Merchant: "labs", App: "unpublished", Version: "1"},
		Permissions: []host.Permission{host.PermIdentityProfile}, Person: person.ID, Conversation: "cv_1"}}
	for _, f := range id.Funcs() {
		if f.Op == "identity.profile" {
			if _, err := f.Handle(ctx, call, []byte(`{}`)); host.StatusOf(err) != host.StatusConsentRequired {
				t.Fatalf("profile without a grant: %v", err)
			}
		}
	}
	prompts, err := id.PendingPrompts(ctx, person.ID)
	if err != nil || len(prompts) != 1 {
		t.Fatalf("pending prompts %+v, %v", prompts, err)
	}
	if err := id.Grant(ctx, person.ID, prompts[0].ID, "web"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	logs := &lockedBuffer{}
	p, err := startPlatform(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close(ctx)
	want := `msg="consent event not delivered" prompt=` + prompts[0].ID + ` app=labs/unpublished@`
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the kept answer never reached the router after the restart; log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitForgotten(t, p)
}
