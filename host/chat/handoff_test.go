package chat_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/chat"
	"github.com/passerelle/passerelle/host/handoff"
)

func handoffService(t *testing.T) (*handoff.Service, *bbolt.DB) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "chat.db"), 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hs, err := handoff.Open(db, handoff.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return hs, db
}

func TestHandoffRefusals(t *testing.T) {
	hs, _ := handoffService(t)
	ho := op(chat.New(chat.Config{Handoffs: hs}), "chat.handoff")
	if ho.Permission != host.PermChat {
		t.Fatalf("chat.handoff needs %q, want chat", ho.Permission)
	}
	noPerson := newCall(&outbox{})
	noPerson.Caller.Person = ""
	tests := []struct {
		name string
		call *host.Call
		req  string
		want host.Status
		msg  string
	}{
		{"not JSON of a request", newCall(&outbox{}), `{"reason":1}`, host.StatusBadRequest, "request must be"},
		{"no reason", newCall(&outbox{}), `{"summary":"s"}`, host.StatusBadRequest, "chat.handoff: handoff: invalid request: reason: empty"},
		{"too many characters", newCall(&outbox{}), `{"reason":"` + strings.Repeat("x", 201) + `"}`, host.StatusBadRequest, "at most 200"},
		{"no person", noPerson, `{"reason":"r"}`, host.StatusBadRequest, "no person and conversation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ho.Handle(context.Background(), tt.call, []byte(tt.req))
			if host.StatusOf(err) != tt.want || !strings.Contains(host.MessageOf(err), tt.msg) {
				t.Fatalf("%v (%s), want %s containing %q", err, host.StatusOf(err), tt.want, tt.msg)
			}
		})
	}
	if held, _ := hs.Holds(context.Background(), "c-alice-shop"); held {
		t.Fatal("a refused handoff holds the conversation")
	}
	none := op(chat.New(chat.Config{}), "chat.handoff")
	if _, err := none.Handle(context.Background(), newCall(&outbox{}), []byte(`{"reason":"r"}`)); host.StatusOf(err) != host.StatusUnavailable {
		t.Fatalf("without a merchant inbox: %v, want unavailable", err)
	}
}

// TestHandoffCommits: outside an event's transaction chat.handoff takes
// effect at once; inside one, only once the event's effects commit.
func TestHandoffCommits(t *testing.T) {
	ctx := context.Background()
	hs, db := handoffService(t)
	ho := op(chat.New(chat.Config{Handoffs: hs}), "chat.handoff")
	resp, err := ho.Handle(ctx, newCall(&outbox{}), []byte(`{"reason":"asked for a person","summary":"late parcel","fields":{"order":"42"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var r chat.HandoffResponse
	if err := json.Unmarshal(resp, &r); err != nil || r.ID == "" || r.Status != "waiting" || r.Already {
		t.Fatalf("response %s (%v)", resp, err)
	}
	if held, _ := hs.Holds(ctx, "c-alice-shop"); !held {
		t.Fatal("the conversation is not held after chat.handoff")
	}
	h, err := hs.Get(ctx, "acme", r.ID)
	if err != nil || h.App.App != "shop" || h.Person != "alice" || h.Summary != "late parcel" || h.Fields["order"] != "42" {
		t.Fatalf("stored %+v, %v", h, err)
	}
	resp, _ = ho.Handle(ctx, newCall(&outbox{}), []byte(`{"reason":"again"}`))
	if json.Unmarshal(resp, &r); !r.Already || r.ID != h.ID {
		t.Fatalf("handing off again: %s", resp)
	}

	c := newCall(&outbox{})
	c.Caller.Conversation = "c-bob-shop"
	c.Tx = &host.Tx{}
	if _, err := ho.Handle(ctx, c, []byte(`{"reason":"r"}`)); err != nil {
		t.Fatal(err)
	}
	if held, _ := hs.Holds(ctx, "c-bob-shop"); held {
		t.Fatal("a staged handoff holds the conversation before the event commits")
	}
	effects := c.Tx.Effects()
	if len(effects) != 1 {
		t.Fatalf("%d effects staged, want 1", len(effects))
	}
	if err := db.Update(effects[0].Apply); err != nil {
		t.Fatal(err)
	}
	effects[0].Committed()
	if held, _ := hs.Holds(ctx, "c-bob-shop"); !held {
		t.Fatal("the committed handoff does not hold the conversation")
	}
}

// FuzzHandoffRequest: whatever bytes a guest sends chat.handoff, the host
// answers without panicking; a handoff it accepts is within every limit
// and holds the conversation, and a refusal is a bad request that holds
// nothing.
func FuzzHandoffRequest(f *testing.F) {
	for _, s := range []string{`{"reason":"asked for a person"}`, `{"reason":"r","summary":"s","fields":{"order":"42"}}`,
		`{"reason":""}`, `{"reason":"r","fields":{"":"x"}}`, `{"reason":"\u00e9\ud800"}`, `[]`, `{"reason":"r","fields":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, req []byte) {
		hs, _ := handoffService(t)
		ho := op(chat.New(chat.Config{Handoffs: hs}), "chat.handoff")
		resp, err := ho.Handle(context.Background(), newCall(&outbox{}), req)
		held, _ := hs.Holds(context.Background(), "c-alice-shop")
		if err != nil {
			if host.StatusOf(err) != host.StatusBadRequest || held {
				t.Fatalf("%q: %v (%s), held %v; want a bad request holding nothing", req, err, host.StatusOf(err), held)
			}
			return
		}
		var r chat.HandoffResponse
		if json.Unmarshal(resp, &r) != nil || !held {
			t.Fatalf("%q: accepted with %s, held %v", req, resp, held)
		}
		h, err := hs.Get(context.Background(), "acme", r.ID)
		if err != nil || strings.TrimSpace(h.Reason) == "" || len([]rune(h.Reason)) > handoff.MaxReason || len(h.Fields) > handoff.MaxFields {
			t.Fatalf("%q: stored %+v, %v", req, h, err)
		}
	})
}
