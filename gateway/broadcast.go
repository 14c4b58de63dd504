package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/host"
)

// What a merchant's broadcast (host/broadcast) needs of the gateway beside
// Emit: the person's conversation with the app, and whether a message is
// already stored, so that a broadcast resumed after a restart sends nobody
// a message twice.

// AppConversation returns the conversation between person and app,
// creating it (and showing it to the person's connections) when the
// person never opened the app here.
func (s *Server) AppConversation(ctx context.Context, app host.AppRef, person string) (string, error) {
	if app.App == "" || person == "" {
		return "", host.Wrapf(ErrBadOutgoing, "a conversation with an app needs the app and the person")
	}
	name := app.App
	if s.cfg.Apps != nil {
		if n, ok := s.appName(ctx, app.App); ok {
			name = n
		}
	}
	rec, created, err := s.msgs.Ensure(ctx, convRecord{ID: appConvID(app.App, person), Kind: KindApp, App: app.App, Title: name, Members: []string{person}})
	if err != nil {
		return "", err
	}
	if created {
		s.announce(ctx, rec)
	}
	return rec.ID, nil
}

// storedPage is how many messages Stored reads at once.
const storedPage = 64

// Stored reports whether conversation holds a message of app out.App with
// id out.ID, handed to Emit no earlier than since: it reads the
// conversation from its newest message back to the first one older than
// since (a minute of clock skew allowed).
func (s *Server) Stored(ctx context.Context, out host.Outgoing, since time.Time) (bool, error) {
	_, last, err := s.msgs.Conv(ctx, out.Conversation)
	if errors.Is(err, convlog.ErrNotFound) {
		return false, nil // a conversation that does not exist holds nothing
	}
	if err != nil {
		return false, fmt.Errorf("gateway: conversation %q: %w", out.Conversation, err)
	}
	floor := since.Add(-time.Minute).UnixMilli()
	for hi := last; hi > 0; {
		lo := uint64(0)
		if hi > storedPage {
			lo = hi - storedPage
		}
		page, err := s.msgs.Range(ctx, out.Conversation, lo, int(hi-lo))
		if err != nil {
			return false, fmt.Errorf("gateway: read conversation %q: %w", out.Conversation, err)
		}
		for i := len(page) - 1; i >= 0; i-- {
			m := page[i]
			if m.From.Kind == "app" && m.From.ID == out.App.App && m.ID == out.ID {
				return true, nil
			}
			if m.Time < floor {
				return false, nil
			}
		}
		hi = lo
		if err := ctx.Err(); err != nil {
			return false, err
		}
	}
	return false, nil
}
