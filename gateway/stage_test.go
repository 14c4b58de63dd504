package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/promptstore"
	"github.com/passerelle/passerelle/host"
)

var errAbort = errors.New("the event's commit failed")

// apply runs the effects' Apply in one transaction that commits, or rolls
// back when abort is set.
func (e *env) apply(abort bool, effects ...host.Effect) {
	e.t.Helper()
	err := e.db.Update(func(tx *bbolt.Tx) error {
		for _, eff := range effects {
			if err := eff.Apply(tx); err != nil {
				return err
			}
		}
		if abort {
			return errAbort
		}
		return nil
	})
	if abort && !errors.Is(err, errAbort) || !abort && err != nil {
		e.t.Fatalf("transaction: %v", err)
	}
}

// stage stages an app's message with text in conv.
func (e *env) stage(conv, text string) host.Effect {
	e.t.Helper()
	eff, err := e.srv.Stage(context.Background(), host.Outgoing{App: host.AppRef{Merchant: "m", App: "lunch", Version: "1"},
		Conversation: conv, Message: &host.Message{Text: text}, ID: "msg_" + text})
	if err != nil {
		e.t.Fatal(err)
	}
	return eff
}

// openLunch opens alice's conversation with the lunch app.
func openLunch(t *testing.T, e *env) (*client, string) {
	t.Helper()
	got := make(chan host.AppEvent, 8)
	e.apps.set(nil, got)
	alice, _ := e.connect("alice", "web", nil)
	conv := alice.request(map[string]any{"type": "open", "id": "o", "app": "lunch"})["conv"].(string)
	<-got
	return alice, conv
}

// A staged message whose transaction rolls back leaves no trace: the next
// message takes its seq and reaches the person without a gap. Applied
// again in a transaction that commits, it is stored and, once Committed,
// delivered.
func TestStagedMessageRolledBack(t *testing.T) {
	e := newEnv(t, nil)
	alice, conv := openLunch(t, e)
	staged := e.stage(conv, "staged")
	e.apply(true, staged, e.stage(conv, "with it"))
	if err := e.srv.Emit(context.Background(), host.Outgoing{App: host.AppRef{App: "lunch"}, Conversation: conv, Message: &host.Message{Text: "emitted"}}); err != nil {
		t.Fatal(err)
	}
	if got := msgTexts([]map[string]any{alice.until("msg")}); fmt.Sprint(got) != "[1:emitted]" {
		t.Fatalf("after the rollback alice got %v, want 1:emitted", got)
	}
	e.apply(false, staged)
	staged.Committed()
	if got := msgTexts([]map[string]any{alice.until("msg")}); fmt.Sprint(got) != "[2:staged]" {
		t.Fatalf("once committed alice got %v, want 2:staged", got)
	}
	if got, want := fmt.Sprint(e.texts(conv)), "[1:emitted 2:staged]"; got != want {
		t.Fatalf("stored %s, want %s", got, want)
	}
}

// A staged message committed but not yet handed to the fan-out keeps its
// turn: a message stored after it reaches the members after it, even when
// the server keeps the delivery state of one conversation only and other
// conversations pushed this one's out meanwhile.
func TestStagedMessageKeepsItsTurn(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxConversations = 1 })
	alice, conv := openLunch(t, e)
	staged := e.stage(conv, "staged")
	e.apply(false, staged) // seq 1, committed; Committed not run yet
	for i := range 3 {     // the other conversations use the one state
		alice.request(map[string]any{"type": "send", "id": fmt.Sprint("b", i), "to": "bob", "text": "hi bob"})
		alice.request(map[string]any{"type": "send", "id": fmt.Sprint("c", i), "to": "carol", "text": "hi carol"})
	}
	// alice's connection serves her frames one after the other: once the
	// answer to the next one is there, her message was stored (as seq 2)
	// and handed to the fan-out.
	alice.send(map[string]any{"type": "send", "id": "m", "conv": conv, "text": "hello"})
	alice.send(map[string]any{"type": "conversations", "id": "after"})
	var order []string
	record := func(f map[string]any) {
		switch {
		case f["type"] == "msg" && f["conv"] == conv:
			order = append(order, fmt.Sprint("msg ", f["seq"]))
		case f["type"] == "ack" && f["id"] == "m":
			order = append(order, fmt.Sprint("ack ", f["seq"]))
		}
	}
	for f := alice.next(); f["id"] != "after"; f = alice.next() {
		record(f)
	}
	if len(order) > 0 {
		t.Fatalf("before the staged message was handed to the fan-out alice got %v; its seq 1 comes first", order)
	}
	staged.Committed()
	for len(order) < 2 {
		record(alice.next())
	}
	if fmt.Sprint(order) != "[msg 1 ack 2]" {
		t.Fatalf("alice got %v, want the staged message (seq 1) before the ack of hers (seq 2)", order)
	}
}

// A staged prompt is stored and shown only once its transaction commits.
func TestStagedPrompt(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.connect("alice", "web", nil)
	eff, err := e.srv.Stage(context.Background(), e.prompt("consent", "pr_1", "alice", `{"scopes":["identity.profile"]}`))
	if err != nil {
		t.Fatal(err)
	}
	e.apply(true, eff)
	if _, err := e.pr.Get(context.Background(), "pr_1"); !errors.Is(err, promptstore.ErrNotFound) {
		t.Fatalf("a prompt of a rolled-back transaction: %v, want not found", err)
	}
	e.apply(false, eff)
	eff.Committed()
	f := alice.until("prompt")
	if p := f["prompt"].(map[string]any); p["id"] != "pr_1" || p["type"] != "consent" {
		t.Fatalf("prompt frame %v", f)
	}
	if pending, err := e.pr.Pending(context.Background(), "alice"); err != nil || len(pending) != 1 {
		t.Fatalf("pending prompts %v %v", pending, err)
	}
}

// Stage refuses what Emit refuses, saying what is wrong.
func TestStageRefusals(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name string
		out  host.Outgoing
	}{
		{"nothing", host.Outgoing{Conversation: "c"}},
		{"empty message", host.Outgoing{Conversation: "c", Message: &host.Message{}}},
		{"no conversation", host.Outgoing{Message: &host.Message{Text: "x"}}},
		{"prompt without person", host.Outgoing{Prompt: &host.Prompt{Kind: &host.PromptKind{Name: "consent"}, Body: []byte("{}")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.srv.Stage(context.Background(), tc.out); !errors.Is(err, gateway.ErrBadOutgoing) {
				t.Fatalf("Stage: %v, want ErrBadOutgoing", err)
			}
		})
	}
	// A message to a conversation that does not exist is refused at once,
	// as by Emit.
	if _, err := e.srv.Stage(context.Background(), host.Outgoing{Conversation: "nope", Message: &host.Message{Text: "x"}}); host.StatusOf(err) != host.StatusNotFound {
		t.Fatalf("Stage to a missing conversation: %v, want not found", err)
	}
}
