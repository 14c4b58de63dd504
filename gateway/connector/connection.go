package connector

import (
	"context"
	"errors"
)

// Networks a merchant can connect.
const (
	NetworkWhatsApp  = "whatsapp"
	NetworkMessenger = "messenger"
	NetworkInstagram = "instagram"
)

// Connection is one merchant account on one network, as the gateway
// uses it: where its webhooks arrive, which app answers the people who
// write to it, and the secrets to check and send with. The secrets are
// plain here, in memory only: the store keeps them encrypted and never
// returns them over the API or in logs.
type Connection struct {
	ID       string // stable id, in the webhook path /webhooks/{network}/{id}
	Merchant string // the merchant that owns the account
	Network  string // NetworkWhatsApp, NetworkMessenger or NetworkInstagram
	Account  string // WhatsApp phone number id, Facebook Page id or Instagram account id
	App      string // the merchant's app that answers people who write to the account
	Secrets  Secrets
	// BaseURL is the Graph API's base URL for this connection's sends
	// (DefaultBaseURL if empty): a local Meta simulator in demos and tests.
	BaseURL string
}

// Secrets are a connection's credentials.
type Secrets struct {
	AccessToken string // WhatsApp access token, Page token or Instagram token
	AppSecret   string // signs the webhooks (X-Hub-Signature-256)
	VerifyToken string // answers the GET verification (hub.verify_token)
}

// ErrNoConnection is returned by a Connections lookup that finds nothing.
var ErrNoConnection = errors.New("connector: no such connection")

// Connections is where the gateway finds the connections: the webhook
// route looks one up by id for every request (so a rotated secret takes
// effect at once) and the outbound path by network and account.
type Connections interface {
	Get(ctx context.Context, id string) (Connection, error)
	ByAccount(ctx context.Context, network, account string) (Connection, error)
	List(ctx context.Context, merchant string) ([]Connection, error) // "" lists every merchant's
}
