package main

import (
	"context"

	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/host"
)

// inboxConversations is the merchant inbox's view of the conversations
// (api.Conversations): the gateway's, which starts after the API.
type inboxConversations struct{ p *platform }

func (c inboxConversations) Messages(ctx context.Context, conversation string, after uint64, limit int) ([]convlog.Message, error) {
	return c.p.gateway.Messages(ctx, conversation, after, limit)
}

func (c inboxConversations) Emit(ctx context.Context, out host.Outgoing) error {
	return c.p.gateway.Emit(ctx, out)
}
