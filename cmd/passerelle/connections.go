package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/connstore"
	"github.com/passerelle/passerelle/gateway/connector/messenger"
	"github.com/passerelle/passerelle/gateway/connector/webhooks"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
)

// The wiring of the merchants' connections to Meta's networks: the
// connection store under the operator's keyring, the network stores the
// webhooks record into, and the /webhooks/ routes beside the gateway's.

// envSecretKey holds the operator's secret keys, the current one first.
const envSecretKey = "PASSERELLE_SECRET_KEY"

// loadKeyring reads the keys sealing connection secrets: from
// PASSERELLE_SECRET_KEY (cfg.SecretKey) if set, else from the file
// cfg.SecretKeyFile names; nil if neither is configured.
func loadKeyring(cfg platformConfig) (*connstore.Keyring, error) {
	text, from := cfg.SecretKey, envSecretKey
	if text == "" && cfg.SecretKeyFile != "" {
		st, err := os.Stat(cfg.SecretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("secret_key_file: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("secret_key_file %s can be read by other users (mode %v); make it the server user's alone: chmod 600 %s",
				cfg.SecretKeyFile, st.Mode().Perm(), cfg.SecretKeyFile)
		}
		b, err := os.ReadFile(cfg.SecretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("secret_key_file: %w", err)
		}
		text, from = string(b), "secret_key_file "+cfg.SecretKeyFile
	}
	if strings.TrimSpace(text) == "" {
		if from != envSecretKey {
			return nil, fmt.Errorf("%s holds no key; generate one with 'passerelle secret-key'", from)
		}
		return nil, nil
	}
	k, err := connstore.ParseKeyring(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return k, nil
}

// openConnections opens the connection store and the network stores, and
// says at start what the operator must do about the keys, if anything.
func (p *platform) openConnections(cfg platformConfig) error {
	keys, err := loadKeyring(cfg)
	if err != nil {
		return err
	}
	if p.conns, err = connstore.Open(p.db, connstore.Config{Keys: keys, BaseURL: cfg.GraphBaseURL}); err != nil {
		return err
	}
	if p.waInbox, err = whatsapp.OpenStore(p.db, whatsapp.StoreConfig{}); err != nil {
		return err
	}
	if p.msInbox, err = messenger.OpenStore(p.db, connector.StoreConfig{}); err != nil {
		return err
	}
	use, err := p.conns.KeyUse(context.Background())
	if err != nil {
		return err
	}
	if keys == nil {
		if len(use) > 0 {
			p.log.Error("the store holds connection secrets but no secret key is configured: their webhooks answer 503 until "+envSecretKey+" or secret_key_file holds the key they were sealed with",
				"key_ids", strings.Join(sortedKeys(use), ","))
			return nil
		}
		p.log.Info("no secret key is configured: merchants cannot connect WhatsApp, Messenger or Instagram accounts until one is; generate one with 'passerelle secret-key' and set " + envSecretKey + " or secret_key_file")
		return nil
	}
	known := map[string]bool{}
	for _, id := range keys.IDs() {
		known[id] = true
	}
	for _, id := range sortedKeys(use) {
		switch {
		case !known[id]:
			p.log.Error("connection secrets are sealed under a key the keyring does not hold: their webhooks will answer 503 until it is added after the current key",
				"key_id", id, "secrets", use[id], "keyring", strings.Join(keys.IDs(), ","))
		case id != keys.Current():
			p.log.Info("connection secrets are sealed under an older key: run 'passerelle connections rekey' with the server stopped, then remove that key",
				"key_id", id, "secrets", use[id], "current", keys.Current())
		}
	}
	return nil
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// closeConnections refuses new webhook events and waits for those being
// recorded; call it after the HTTP server has stopped.
func (p *platform) closeConnections() {
	if p.waInbox != nil {
		p.waInbox.Close()
	}
	if p.msInbox != nil {
		p.msInbox.Close()
	}
}

// routes is the server's HTTP handler: the webhooks Meta calls, and the
// gateway's routes for everything else.
func (p *platform) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(webhooks.Prefix, p.webhooks)
	mux.Handle("/", p.gateway.Handler())
	return mux
}
