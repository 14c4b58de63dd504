package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/connstore"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/gateway/connector/webhooks"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/host/pay"
)

// The demo's part on WhatsApp, Messenger and Instagram: the Meta simulator
// runs in the demo's process on a loopback listener of its own, plays the
// merchants' business accounts and the people who write to them, and is
// the Graph API the connectors send through. The accounts are connected
// through the connection store, as a merchant connects real ones, with the
// demo server's webhook routes as their webhook URLs.

// demoAccount is a business account the demo connects to one of its apps.
type demoAccount struct {
	Network metasim.Network
	ID      string // phone number id, Facebook Page id or Instagram account id
	Phone   string // the WhatsApp number people see, digits only
	App     string // the app that answers the people who write to it
}

var demoAccounts = []demoAccount{
	{metasim.WhatsApp, "106540352242922", "15550783881", "lunch"},
	{metasim.Messenger, "105331912345678", "", "lunch"},
	{metasim.Instagram, "17841400000000001", "", "shop"},
}

// demoPhonePerson is a simulated person writing to one of the demo's
// business accounts from their phone.
type demoPhonePerson struct {
	Name    string
	Network metasim.Network
	ID      string // wa_id, PSID or IGSID
	Account string // the business account they write to
}

var demoPhonePeople = []demoPhonePerson{
	{"Bruno", metasim.WhatsApp, "33612345678", "106540352242922"},
	{"Chloé", metasim.Messenger, "6912345678901234", "105331912345678"},
	{"Deniz", metasim.Instagram, "1234567890123456", "17841400000000001"},
}

// demoPhone is a simulated person's phone page.
type demoPhone struct {
	demoPhonePerson
	PersonID string // the person on the platform
	Business string // the name of the business they write to
	URL      string // the phone page
}

// demoNetworks is the demo's running Meta simulator.
type demoNetworks struct {
	base    string // the simulator's base URL: the Graph API base of the connections
	ln      net.Listener
	srv     *http.Server
	handler atomic.Pointer[metasim.Sim] // nil until the accounts are connected
	sim     *metasim.Sim
	phones  []demoPhone
	conns   map[string]string // network → connection id, of the connected accounts
}

// listenDemoNetworks opens the simulator's listener on the host of the
// demo's address, so that the phone pages are reachable wherever the web
// client is, and starts serving (503 until the accounts are connected).
func listenDemoNetworks(addr string) (*demoNetworks, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--addr %q: %w (give HOST:PORT)", addr, err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("listen for the Meta simulator on %s: %w", host, err)
	}
	n := &demoNetworks{ln: ln, base: loopbackURL(ln.Addr().(*net.TCPAddr))}
	n.srv = &http.Server{Handler: http.HandlerFunc(n.serve), ReadHeaderTimeout: 10 * time.Second}
	go n.srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed on close
	return n, nil
}

func (n *demoNetworks) serve(w http.ResponseWriter, r *http.Request) {
	sim := n.handler.Load()
	if sim == nil {
		http.Error(w, "the Meta simulator is starting", http.StatusServiceUnavailable)
		return
	}
	sim.ServeHTTP(w, r)
}

// loopbackURL is the base URL of a listener, 127.0.0.1 for an unspecified host.
func loopbackURL(addr *net.TCPAddr) string {
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

// demoSecretKey returns the configuration of the key sealing the demo's
// connection secrets: a fresh key for a throwaway data directory; for a
// kept one, a key file in it (made 0600 on first use), so that the next
// demo opens what this one sealed.
func demoSecretKey(cfg *platformConfig, keep bool) error {
	if !keep {
		cfg.SecretKey, cfg.SecretKeyFile = connstore.GenerateKey(), ""
		return nil
	}
	path := filepath.Join(cfg.Data, "secret.key")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		_, werr := f.WriteString(connstore.GenerateKey() + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("write the demo's secret key %s: %w", path, werr)
		}
	case !errors.Is(err, os.ErrExist):
		return fmt.Errorf("create the demo's secret key: %w", err)
	}
	cfg.SecretKey, cfg.SecretKeyFile = "", path
	return nil
}

// connect connects the demo's business accounts whose apps are installed
// to those apps through the connection store, starts the simulator with
// them and their people, verifies each webhook as Meta does when one is
// configured, and funds the people's wallets.
func (n *demoNetworks) connect(ctx context.Context, p *platform, installed []string, log *slog.Logger) error {
	cfg := metasim.SimConfig{
		Statuses: metasim.StatusConfig{Sent: 50 * time.Millisecond, Delivered: 200 * time.Millisecond, Read: time.Second},
		Log:      log.With("component", "metasim"),
	}
	verify := map[string]string{} // account id → verify token
	n.conns = map[string]string{}
	for _, a := range demoAccounts {
		if !slices.Contains(installed, a.App) {
			continue
		}
		m := demoMerchants[a.App]
		acct := metasim.Account{Network: a.Network, ID: a.ID, DisplayPhone: a.Phone, Name: m.Name,
			Token: randomHex(32), AppSecret: randomHex(16)}
		verify[a.ID] = randomHex(16)
		info, _, err := p.conns.Connect(ctx, connectorConnection(m.ID, a, acct, verify[a.ID]))
		if err != nil {
			return fmt.Errorf("connect the demo's %s account to %s: %w", a.Network, a.App, err)
		}
		acct.WebhookURL = p.url() + webhooks.Prefix + string(a.Network) + "/" + info.ID
		cfg.Accounts = append(cfg.Accounts, acct)
		n.conns[string(a.Network)] = info.ID
	}
	for _, u := range demoPhonePeople {
		if slices.ContainsFunc(cfg.Accounts, func(a metasim.Account) bool { return a.ID == u.Account }) {
			cfg.Users = append(cfg.Users, metasim.User{Network: u.Network, ID: u.ID, Name: u.Name, Account: u.Account})
		}
	}
	if len(cfg.Accounts) == 0 {
		return nil // none of the connected apps is installed (--only)
	}
	sim, err := metasim.NewSim(cfg)
	if err != nil {
		return fmt.Errorf("start the Meta simulator: %w", err)
	}
	n.sim = sim
	n.handler.Store(sim)
	for _, a := range cfg.Accounts {
		vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := sim.Verify(vctx, a.ID, verify[a.ID])
		cancel()
		if err != nil {
			return fmt.Errorf("verify the webhook of the demo's %s account: %w", a.Network, err)
		}
	}
	for _, u := range demoPhonePeople {
		if !slices.ContainsFunc(cfg.Users, func(su metasim.User) bool { return su.ID == u.ID && su.Network == u.Network }) {
			continue
		}
		person, created, err := p.svc.Identity.EnsurePerson(ctx, identity.Account{Surface: string(u.Network), External: u.ID}, u.Name)
		if err != nil {
			return err
		}
		if created {
			if err := p.svc.Pay.Fund(ctx, pay.PersonAccount(person.ID), demoCurrency, demoFunds); err != nil {
				return err
			}
		}
		var business string
		for _, a := range cfg.Accounts {
			if a.ID == u.Account {
				business = a.Name
			}
		}
		n.phones = append(n.phones, demoPhone{demoPhonePerson: u, PersonID: person.ID, Business: business,
			URL: n.base + "/phone/" + string(u.Network) + "/" + u.ID})
	}
	return nil
}

// close stops the simulator's deliveries and event streams, then its
// server; call it before the platform closes.
func (n *demoNetworks) close(ctx context.Context) {
	if n.sim != nil {
		n.sim.Close() // ends the phone pages' event streams, so Shutdown can finish
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := n.srv.Shutdown(ctx); err != nil {
		n.srv.Close()
	}
}

// networkTitle is how the demo names a network to people.
func networkTitle(n metasim.Network) string {
	switch n {
	case metasim.WhatsApp:
		return "WhatsApp"
	case metasim.Messenger:
		return "Messenger"
	case metasim.Instagram:
		return "Instagram"
	}
	return strings.ToUpper(string(n[:1])) + string(n[1:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// connectorConnection is the connection a merchant would make for the
// simulated account: its id, its app, and the secrets the simulator plays
// Meta with.
func connectorConnection(merchant string, a demoAccount, acct metasim.Account, verifyToken string) connector.Connection {
	return connector.Connection{Merchant: merchant, Network: string(a.Network), Account: a.ID, App: a.App,
		Secrets: connector.Secrets{AccessToken: acct.Token, AppSecret: acct.AppSecret, VerifyToken: verifyToken}}
}
