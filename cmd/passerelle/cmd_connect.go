package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/connstore"
)

// The merchant's connection commands, thin clients of /v1/connections
// (gateway/api/API.md), and the operator's key commands. Secrets are read
// from files or standard input, never from the command line, where every
// user of the machine could read them (ps, /proc, shell history).

var (
	cmdConnect = command{"connect", "connect a WhatsApp number, Facebook Page or Instagram account to an app: NETWORK --app APP --account ID", runConnect}

	cmdConnections       = command{"connections", "list your WhatsApp, Messenger and Instagram connections (also: show, rotate, delete)", runConnectionsList}
	cmdConnectionsList   = command{"connections list", "list your connections [--json]", runConnectionsList}
	cmdConnectionsShow   = command{"connections show", "show a connection and its webhook URL: ID [--json]", runConnectionsShow}
	cmdConnectionsRotate = command{"connections rotate", "replace secrets: ID [--token-file F] [--app-secret-file F] [--verify-token-file F]", runConnectionsRotate}
	cmdConnectionsDelete = command{"connections delete", "disconnect an account: ID", runConnectionsDelete}
	cmdConnectionsRekey  = command{"connections rekey", "seal every connection secret again under the current key (server stopped) [--data DIR]", runConnectionsRekey}

	cmdSecretKey = command{"secret-key", "print a new key for sealing connection secrets (PASSERELLE_SECRET_KEY, secret_key_file)", runSecretKey}
)

// stdin is where a secret file named "-" is read from.
var stdin io.Reader = os.Stdin

// maxSecretFile bounds what is read from a secret file.
const maxSecretFile = 64 << 10

// secretFiles are the flags naming the files that hold secrets.
type secretFiles struct {
	token, appSecret, verifyToken *string
}

func addSecretFlags(fs *flag.FlagSet) *secretFiles {
	return &secretFiles{
		token:       fs.String("token-file", "", "file holding the access token (WhatsApp), Page token (Messenger) or Instagram token; - reads standard input"),
		appSecret:   fs.String("app-secret-file", "", "file holding the Meta app's secret (App settings, Basic), which signs the webhooks; - reads standard input"),
		verifyToken: fs.String("verify-token-file", "", "file holding the verify token you type in the app dashboard's webhook configuration; - reads standard input"),
	}
}

// read reads the secrets of the files given: each file holds one secret,
// surrounding spaces and line breaks dropped; at most one may be "-".
func (f *secretFiles) read() (map[string]string, error) {
	out := map[string]string{}
	fromStdin := ""
	for _, x := range []struct{ field, flag, path string }{
		{connstore.FieldAccessToken, "--token-file", *f.token},
		{connstore.FieldAppSecret, "--app-secret-file", *f.appSecret},
		{connstore.FieldVerifyToken, "--verify-token-file", *f.verifyToken},
	} {
		if x.path == "" {
			continue
		}
		var r io.Reader
		if x.path == "-" {
			if fromStdin != "" {
				return nil, usageError{fmt.Sprintf("%s and %s both read standard input; give one of them a file", fromStdin, x.flag)}
			}
			fromStdin, r = x.flag, stdin
		} else {
			file, err := os.Open(x.path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", x.flag, err)
			}
			defer file.Close()
			r = file
		}
		b, err := io.ReadAll(io.LimitReader(r, maxSecretFile+1))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", x.flag, err)
		}
		if len(b) > maxSecretFile {
			return nil, fmt.Errorf("%s: the file is over %d bytes; it should hold the %s alone", x.flag, maxSecretFile, x.field)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return nil, fmt.Errorf("%s: %s is empty; it should hold the %s", x.flag, x.path, x.field)
		}
		out[x.field] = v
	}
	return out, nil
}

// connectionView is a connection as /v1 shows it.
type connectionView struct {
	connstore.Info
	WebhookURL string `json:"webhook_url"`
}

func runConnect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var app, account *string
	var files *secretFiles
	c, pos, err := publishFlags("connect", args, stderr, func(fs *flag.FlagSet) {
		app = fs.String("app", "", "the app that answers people who write to the account (required)")
		account = fs.String("account", "", "WhatsApp phone number id, Facebook Page id or Instagram account id (required)")
		files = addSecretFlags(fs)
		fs.Usage = func() {
			fmt.Fprintln(stderr, "usage: passerelle connect whatsapp|messenger|instagram --app APP --account ID --token-file F --app-secret-file F [--verify-token-file F]")
			fmt.Fprintln(stderr, "Connects an account on a Meta network to one of your apps; connecting it again replaces the secrets and keeps the webhook URL.")
			fmt.Fprintln(stderr, "Secrets are read from files (- for standard input), never from the command line. WhatsApp needs a verify token.")
			fs.PrintDefaults()
		}
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"name one network: passerelle connect whatsapp|messenger|instagram --app APP --account ID --token-file F --app-secret-file F (secrets are read from files, not arguments)"}
	}
	network := pos[0]
	if network != "whatsapp" && network != "messenger" && network != "instagram" {
		return usageError{"the network is whatsapp, messenger or instagram"}
	}
	if *app == "" || *account == "" {
		return usageError{"--app and --account are required"}
	}
	if *files.token == "" || *files.appSecret == "" {
		return usageError{"--token-file and --app-secret-file are required (- reads one of them from standard input)"}
	}
	if network == "whatsapp" && *files.verifyToken == "" {
		return usageError{"WhatsApp needs --verify-token-file: a token you choose and type in the app dashboard's webhook configuration"}
	}
	secrets, err := files.read()
	if err != nil {
		return err
	}
	var out struct {
		Connection connectionView `json:"connection"`
		Created    bool           `json:"created"`
	}
	req := map[string]any{"network": network, "account": *account, "app": *app, "secrets": secrets}
	if err := c.call(ctx, http.MethodPost, "/v1/connections", req, &out); err != nil {
		return err
	}
	v := out.Connection
	verb := "connected"
	if !out.Created {
		verb = "reconnected (the secrets replaced, the webhook URL kept)"
	}
	fmt.Fprintf(stdout, "%s %s account %s to app %s: connection %s\n\n", verb, v.Network, v.Account, v.App, v.ID)
	fmt.Fprintf(stdout, "In the Meta app dashboard, set the webhook's callback URL to\n  %s\n", v.WebhookURL)
	if v.Secrets.VerifyToken.Set {
		fmt.Fprintln(stdout, "with the verify token you gave, and subscribe to the messages field.")
	} else {
		fmt.Fprintf(stdout, "and subscribe to the messages field. Its verification needs a verify token: set one with\n  passerelle connections rotate %s --verify-token-file FILE\n", v.ID)
	}
	return nil
}

func runConnectionsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var asJSON *bool
	c, pos, err := publishFlags("connections", args, stderr, func(fs *flag.FlagSet) {
		asJSON = fs.Bool("json", false, "print the connections as JSON")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, "connections [list] [--json]"); err != nil {
		return err
	}
	var out struct {
		Connections []connectionView `json:"connections"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/connections", nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, out)
	}
	if len(out.Connections) == 0 {
		fmt.Fprintln(stdout, "no connections yet: passerelle connect whatsapp|messenger|instagram --app APP --account ID --token-file F --app-secret-file F")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNETWORK\tACCOUNT\tAPP\tSECRETS SET\tUPDATED")
	for _, v := range out.Connections {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Network, v.Account, v.App, setSecrets(v.Secrets), v.Updated.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func setSecrets(s connstore.SecretsInfo) string {
	var set []string
	for _, x := range []struct {
		name string
		st   connstore.SecretState
	}{{"token", s.AccessToken}, {"app-secret", s.AppSecret}, {"verify-token", s.VerifyToken}} {
		if x.st.Set {
			set = append(set, x.name)
		}
	}
	return orDash(strings.Join(set, ","))
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printConnection(w io.Writer, v connectionView) {
	fmt.Fprintf(w, "connection  %s\nnetwork     %s\naccount     %s\napp         %s\ncreated     %s\nupdated     %s\nwebhook URL %s\n",
		v.ID, v.Network, v.Account, v.App, v.Created.UTC().Format(time.RFC3339), v.Updated.UTC().Format(time.RFC3339), v.WebhookURL)
	for _, x := range []struct {
		name string
		st   connstore.SecretState
	}{{"access token", v.Secrets.AccessToken}, {"app secret", v.Secrets.AppSecret}, {"verify token", v.Secrets.VerifyToken}} {
		state := "not set"
		if x.st.Set {
			state = "set " + x.st.Rotated.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%-12s%s\n", x.name, state)
	}
}

func runConnectionsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var asJSON *bool
	c, pos, err := publishFlags("connections show", args, stderr, func(fs *flag.FlagSet) {
		asJSON = fs.Bool("json", false, "print the connection as JSON")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "connections show ID [--json]"); err != nil {
		return err
	}
	var out struct {
		Connection connectionView `json:"connection"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/connections/"+url.PathEscape(pos[0]), nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, out)
	}
	printConnection(stdout, out.Connection)
	return nil
}

func runConnectionsRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var files *secretFiles
	c, pos, err := publishFlags("connections rotate", args, stderr, func(fs *flag.FlagSet) {
		files = addSecretFlags(fs)
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "connections rotate ID [--token-file F] [--app-secret-file F] [--verify-token-file F]"); err != nil {
		return err
	}
	secrets, err := files.read()
	if err != nil {
		return err
	}
	if len(secrets) == 0 {
		return usageError{"name at least one secret to replace: --token-file, --app-secret-file or --verify-token-file"}
	}
	var out struct {
		Connection connectionView `json:"connection"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/connections/"+url.PathEscape(pos[0])+"/rotate", map[string]any{"secrets": secrets}, &out); err != nil {
		return err
	}
	var names []string
	for _, f := range []string{connstore.FieldAccessToken, connstore.FieldAppSecret, connstore.FieldVerifyToken} {
		if _, ok := secrets[f]; ok {
			names = append(names, strings.ReplaceAll(f, "_", " "))
		}
	}
	fmt.Fprintf(stdout, "connection %s: %s replaced; the next webhook and the next send use the new one\n", out.Connection.ID, strings.Join(names, ", "))
	return nil
}

func runConnectionsDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, pos, err := publishFlags("connections delete", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "connections delete ID"); err != nil {
		return err
	}
	var out struct {
		Deleted string `json:"deleted"`
	}
	if err := c.call(ctx, http.MethodDelete, "/v1/connections/"+url.PathEscape(pos[0]), nil, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "connection %s deleted: its webhook URL answers 404 from now on; remove it from the Meta app dashboard\n", out.Deleted)
	return nil
}

// runConnectionsRekey seals every secret again under the current key,
// with the server stopped: the store is opened directly.
func runConnectionsRekey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passerelle connections rekey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "data directory of the server (env "+envData+", default ./data)")
	file := fs.String("config", "", "JSON config file (env "+envConfig+"), for secret_key_file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: passerelle connections rekey [--data DIR] [--config FILE]")
		fmt.Fprintln(stderr, "Seals every connection secret again under the current key: the first of "+envSecretKey+" or of secret_key_file.")
		fmt.Fprintln(stderr, "Keep the older keys after it until this has run; then remove them. The server must be stopped.")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{"unexpected argument; rekey takes flags only"}
	}
	cfg, err := loadConfig(firstOf(*file, os.Getenv(envConfig)))
	if err != nil {
		return err
	}
	cfg.Data = firstOf(*data, os.Getenv(envData), cfg.Data)
	cfg.SecretKey = os.Getenv(envSecretKey)
	keys, err := loadKeyring(cfg)
	if err != nil {
		return err
	}
	if keys == nil {
		return connstore.ErrNoKey
	}
	db, err := openStore(cfg.Data, time.Second)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := connstore.Open(db, connstore.Config{Keys: keys})
	if err != nil {
		return err
	}
	n, err := s.Rekey(ctx)
	if err != nil {
		if errors.Is(err, connstore.ErrUnknownKey) {
			return fmt.Errorf("nothing was changed: %w", err)
		}
		return err
	}
	fmt.Fprintf(stdout, "%d secrets sealed again under key %s; every connection secret is now under it", n, keys.Current())
	if old := keys.IDs()[1:]; len(old) > 0 {
		fmt.Fprintf(stdout, ": the older keys (%s) may be removed from the keyring", strings.Join(old, ", "))
	}
	fmt.Fprintln(stdout)
	return nil
}

func runSecretKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passerelle secret-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: passerelle secret-key")
		fmt.Fprintln(stderr, "Prints a new random key (32 bytes, base64) for sealing connection secrets.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{"secret-key takes no arguments"}
	}
	key := connstore.GenerateKey()
	k, err := connstore.ParseKeyring(key)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, key)
	fmt.Fprintf(stderr, `key id %s. Keep the key secret and keep a copy: without it no connection secret can be read.
Give it to the server in the environment, %s=KEY, or in a file only the server's user reads
(chmod 600) named by secret_key_file in the config file. To replace a key: list the new key first
and the old one after it (comma or line separated), restart, run 'passerelle connections rekey'
with the server stopped, then remove the old key.
`, k.Current(), envSecretKey)
	return nil
}
