package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

var cmdMetasim = command{"metasim", "run the local Meta simulator: WhatsApp, Messenger and Instagram Send APIs, signed webhooks, phone pages", runMetasim}

// metasimSpecs is a flag of passerelle metasim that may be given several times.
type metasimSpecs []string

func (l *metasimSpecs) String() string     { return strings.Join(*l, " ") }
func (l *metasimSpecs) Set(v string) error { *l = append(*l, v); return nil }

// The accounts the simulator plays when none is given.
var defaultSimAccounts = []metasim.Account{
	{Network: metasim.WhatsApp, ID: "106540352242922", BusinessID: "102290129340398", DisplayPhone: "15550783881", Name: "Passerelle Shop", Token: "sim-whatsapp-token"},
	{Network: metasim.Messenger, ID: "105331912345678", Name: "Passerelle Shop", Token: "sim-messenger-token"},
	{Network: metasim.Instagram, ID: "17841400000000001", Name: "passerelle.shop", Token: "sim-instagram-token"},
}

// The people the simulator starts with when none is given.
var defaultSimUsers = []metasim.User{
	{Network: metasim.WhatsApp, ID: "16505551234", Name: "Sheena Nelson"},
	{Network: metasim.Messenger, ID: "6912345678901234", Name: "Max Mustermann"},
	{Network: metasim.Instagram, ID: "1234567890123456", Name: "Ines"},
}

func runMetasim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passerelle metasim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8095", "listen address")
	var accounts, users metasimSpecs
	fs.Var(&accounts, "account", "a business account: NETWORK,id=ID,token=TOKEN,secret=APP_SECRET,webhook=URL[,verify=VERIFY_TOKEN][,waba=ID][,phone=DIGITS][,name=NAME]; repeatable (default: one per network); with verify=, the webhook is verified at start as Meta does")
	fs.Var(&users, "user", "a simulated person: NETWORK:ID[:NAME] (ID a wa_id, PSID or IGSID); repeatable (default: one per network)")
	webhook := fs.String("webhook", "", "webhook URL of the default accounts (an -account names its own)")
	secret := fs.String("secret", "sim-app-secret", "app secret of the default accounts")
	retry := fs.Duration("retry", time.Second, "first wait before a webhook that did not answer 200 is posted again (doubles each time)")
	retryMax := fs.Duration("retry-max", 30*time.Second, "longest wait between two posts of one webhook")
	retryFor := fs.Duration("retry-for", 10*time.Minute, "how long a webhook is retried (Meta: 7 days)")
	dups := fs.Float64("duplicates", 0, "share (0 to 1) of webhooks posted twice, as Meta sometimes does")
	batch := fs.Duration("batch", 0, "gather the webhooks falling due within this time into one notification")
	sent := fs.Duration("sent-after", 50*time.Millisecond, "delay of the sent status after a send")
	delivered := fs.Duration("delivered-after", 200*time.Millisecond, "delay of the delivered status")
	read := fs.Duration("read-after", time.Second, "delay of the read status")
	noRead := fs.Bool("no-read", false, "people never read the business's messages")
	skip := fs.Bool("skip-delivered", false, "send no delivered status")
	outOfOrder := fs.Bool("out-of-order", false, "post the statuses of a message in reverse order")
	throughput := fs.Int("throughput", metasim.DefaultThroughput, "WhatsApp messages per second per number before 130429 (-1: no limit)")
	pair := fs.Duration("pair-interval", 0, "refuse a WhatsApp message to a person sooner than this after the last with 131056 (0: off)")
	noWindows := fs.Bool("no-windows", false, "accept sends outside the 24-hour windows")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: passerelle metasim [--addr HOST:PORT] [--account SPEC]... [--user NETWORK:ID[:NAME]]... [--webhook URL] [flags]")
		fmt.Fprintln(stderr, "Plays Meta for connectors without a Meta account: the Send APIs, signed webhooks, phone pages per person.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	cfg := metasim.SimConfig{
		Delivery:     metasim.DeliveryConfig{Retry: *retry, RetryMax: *retryMax, RetryFor: *retryFor, Duplicates: *dups, Batch: *batch},
		Statuses:     metasim.StatusConfig{Sent: *sent, Delivered: *delivered, Read: *read, NoRead: *noRead, SkipDelivered: *skip, OutOfOrder: *outOfOrder},
		Throughput:   *throughput,
		PairInterval: *pair,
		NoWindows:    *noWindows,
	}
	if *dups < 0 || *dups > 1 {
		return usageError{fmt.Sprintf("-duplicates %g: give a share between 0 and 1", *dups)}
	}
	verify := map[string]string{} // account id -> verify token
	for _, spec := range accounts {
		a, v, err := parseSimAccount(spec)
		if err != nil {
			return usageError{err.Error()}
		}
		cfg.Accounts = append(cfg.Accounts, a)
		if v != "" {
			verify[a.ID] = v
		}
	}
	if len(cfg.Accounts) == 0 {
		for _, a := range defaultSimAccounts {
			a.AppSecret, a.WebhookURL = *secret, *webhook
			cfg.Accounts = append(cfg.Accounts, a)
		}
	}
	for _, spec := range users {
		u, err := parseSimUser(spec)
		if err != nil {
			return usageError{err.Error()}
		}
		cfg.Users = append(cfg.Users, u)
	}
	if len(users) == 0 {
		for _, u := range defaultSimUsers {
			for _, a := range cfg.Accounts {
				if a.Network == u.Network {
					cfg.Users = append(cfg.Users, u)
					break
				}
			}
		}
	}
	sim, err := metasim.NewSim(cfg)
	if err != nil {
		return usageError{err.Error()}
	}
	defer sim.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another simulator running? choose another --addr)", *addr, err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	base := "http://" + ln.Addr().String()
	printSim(stdout, base, sim)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	for id, tok := range verify {
		vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := sim.Verify(vctx, id, tok); err != nil {
			fmt.Fprintf(stderr, "webhook of %s not verified: %v\n", id, err)
		} else {
			fmt.Fprintf(stdout, "  webhook of %s verified (hub.challenge echoed)\n", id)
		}
		cancel()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sim.Close() // ends the phone pages' event streams, so Shutdown can finish
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// printSim tells the operator where everything is.
func printSim(w io.Writer, base string, sim *metasim.Sim) {
	fmt.Fprintf(w, "Meta simulator on %s. Stop with Ctrl-C.\n", base)
	fmt.Fprintf(w, "  people:         %s/\n", base)
	fmt.Fprintf(w, "  Graph API base: %s (give it to the connectors as their base URL)\n", base)
	for _, a := range sim.Accounts() {
		hook := a.WebhookURL
		if hook == "" {
			hook = "none (give -webhook or webhook= to post them)"
		}
		switch a.Network {
		case metasim.WhatsApp:
			fmt.Fprintf(w, "  whatsapp  phone number id %s (WABA %s, +%s) token %s\n", a.ID, firstOf(a.BusinessID, a.ID), a.DisplayPhone, a.Token)
			fmt.Fprintf(w, "            send:      POST %s/%s/%s/messages\n", base, "v23.0", a.ID)
			fmt.Fprintf(w, "            templates: POST %s/%s/%s/message_templates\n", base, "v23.0", firstOf(a.BusinessID, a.ID))
		default:
			fmt.Fprintf(w, "  %-9s id %s token %s\n", a.Network, a.ID, a.Token)
			fmt.Fprintf(w, "            send:      POST %s/%s/me/messages\n", base, "v23.0")
		}
		fmt.Fprintf(w, "            webhooks:  %s, signed with app secret %q\n", hook, a.AppSecret)
	}
	for _, u := range sim.Users() {
		fmt.Fprintf(w, "  phone of %s (%s %s): %s/phone/%s/%s\n", u.Name, u.Network, u.ID, base, u.Network, u.ID)
	}
}

// parseSimAccount reads NETWORK,key=value,... and returns the account
// and its verify token, if given.
func parseSimAccount(spec string) (metasim.Account, string, error) {
	parts := strings.Split(spec, ",")
	a := metasim.Account{Network: metasim.Network(strings.TrimSpace(parts[0]))}
	var verify string
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return a, "", fmt.Errorf("-account %q: %q is not key=value", spec, p)
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "id":
			a.ID = v
		case "waba":
			a.BusinessID = v
		case "phone":
			a.DisplayPhone = strings.TrimPrefix(v, "+")
		case "name":
			a.Name = v
		case "token":
			a.Token = v
		case "secret":
			a.AppSecret = v
		case "webhook":
			a.WebhookURL = v
		case "verify":
			verify = v
		default:
			return a, "", fmt.Errorf("-account %q: unknown key %q (use id, waba, phone, name, token, secret, webhook, verify)", spec, k)
		}
	}
	return a, verify, nil
}

// parseSimUser reads NETWORK:ID[:NAME].
func parseSimUser(spec string) (metasim.User, error) {
	parts := strings.SplitN(spec, ":", 3)
	if len(parts) < 2 {
		return metasim.User{}, fmt.Errorf("-user %q: give NETWORK:ID[:NAME], e.g. whatsapp:16505551234:Sheena", spec)
	}
	u := metasim.User{Network: metasim.Network(parts[0]), ID: parts[1]}
	if len(parts) == 3 {
		u.Name = parts[2]
	}
	return u, nil
}
