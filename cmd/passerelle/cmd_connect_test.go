package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/connstore"
	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
)

// keyedPlatform starts a server in dir whose keyring is keys, logging at
// debug level into logs.
func keyedPlatform(t *testing.T, dir, keys string, logs io.Writer) *platform {
	t.Helper()
	cfg := defaultConfig()
	cfg.Addr, cfg.Data, cfg.SecretKey = "127.0.0.1:0", dir, keys
	sharedCompileCache(&cfg)
	p, err := startPlatform(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.close(context.Background()) })
	return p
}

// asMerchant points the CLI at p as merchant id, with an app "lunch".
func asMerchant(t *testing.T, p *platform, id string) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := p.svc.Identity.EnsureMerchant(ctx, id, id); err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(publishModule(t, t.TempDir(), "lunch", "1", host.PermChat))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.router.Upload(ctx, id, id, "lunch", wasm); err != nil {
		t.Fatal(err)
	}
	tok, err := p.svc.Identity.Issue(id, identity.RoleMerchant, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PASSERELLE_SERVER", p.url())
	t.Setenv("PASSERELLE_TOKEN", tok)
}

func secretFile(t *testing.T, value string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// cli runs the binary's command line; in is its standard input.
func cli(ctx context.Context, in string, args ...string) (int, string, string) {
	stdin = strings.NewReader(in)
	defer func() { stdin = os.Stdin }()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestConnectCLI: a merchant connects a WhatsApp number from the command
// line, Meta verifies and delivers to the webhook URL shown, a rotated app
// secret counts at once, and after all that no secret is in the command's
// output, the server's log or /metrics.
func TestConnectCLI(t *testing.T) {
	ctx := context.Background()
	logs := &syncBuffer{}
	p := keyedPlatform(t, t.TempDir(), connstore.GenerateKey(), logs)
	asMerchant(t, p, "bistro")
	secrets := []string{"EAAGsecretTOKEN1", "appSECRET1", "verifyTOKEN1", "appSECRET2"}
	var outputs strings.Builder

	code, out, errOut := cli(ctx, secrets[2]+"\n", "connect", "whatsapp", "--app", "lunch", "--account", "106540352242922",
		"--token-file", secretFile(t, secrets[0]), "--app-secret-file", secretFile(t, secrets[1]), "--verify-token-file", "-")
	outputs.WriteString(out + errOut)
	if code != 0 {
		t.Fatalf("connect: exit %d: %s%s", code, out, errOut)
	}
	m := regexp.MustCompile(`(http://\S+/webhooks/whatsapp/(c[a-z0-9]+))`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("connect does not print the webhook URL: %s", out)
	}
	hook, id := m[1], m[2]

	if code, body := httpGet(t, hook+"?hub.mode=subscribe&hub.verify_token="+secrets[2]+"&hub.challenge=8213"); code != 200 || body != "8213" {
		t.Fatalf("Meta's verification: %d %q", code, body)
	}
	body, err := os.ReadFile("../../gateway/connector/whatsapp/testdata/text.json")
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(secret string, body []byte) int {
		code, err := metasim.Deliver(ctx, http.DefaultClient, hook, []byte(secret), body)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	if code := deliver(secrets[1], body); code != 200 {
		t.Fatalf("a signed notification: %d", code)
	}

	code, out, errOut = cli(ctx, "", "connections", "rotate", id, "--app-secret-file", secretFile(t, secrets[3]))
	outputs.WriteString(out + errOut)
	if code != 0 || !strings.Contains(out, "app secret replaced") {
		t.Fatalf("rotate: exit %d: %s%s", code, out, errOut)
	}
	body2 := bytes.Replace(body, []byte("wamid.HBgL"), []byte("wamid.ROTA"), 1)
	if code := deliver(secrets[1], body2); code != 403 {
		t.Fatalf("the old app secret after rotation: %d, want 403", code)
	}
	if code := deliver(secrets[3], body2); code != 200 {
		t.Fatalf("the new app secret after rotation: %d, want 200", code)
	}
	// Both notifications were recorded (the connector runtime may have
	// taken them from the inbox already).
	for _, b := range [][]byte{body, body2} {
		evs, err := whatsapp.Parse(b)
		if err != nil || len(evs) == 0 {
			t.Fatalf("parse the notification: %v %v", evs, err)
		}
		for _, ev := range evs {
			if seen, err := p.waInbox.Seen(ctx, ev.Key); err != nil || !seen || ev.PhoneNumberID != "106540352242922" {
				t.Fatalf("event %s of phone number %s recorded: %v, %v", ev.Key, ev.PhoneNumberID, seen, err)
			}
		}
	}

	code, out, errOut = cli(ctx, "", "connections")
	outputs.WriteString(out + errOut)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "token,app-secret,verify-token") {
		t.Fatalf("connections: exit %d: %s%s", code, out, errOut)
	}
	code, out, errOut = cli(ctx, "", "connections", "show", id)
	outputs.WriteString(out + errOut)
	if code != 0 || !strings.Contains(out, hook) || !strings.Contains(out, "app secret  set") {
		t.Fatalf("connections show: exit %d: %s%s", code, out, errOut)
	}

	_, metrics := httpGet(t, p.url()+"/metrics")
	for _, want := range []string{
		`passerelle_connector_webhook_requests_total{connection="` + id + `",network="whatsapp",outcome="accepted"} 2`,
		`passerelle_connector_webhook_requests_total{connection="` + id + `",network="whatsapp",outcome="bad_signature"} 1`,
		`passerelle_connector_webhook_requests_total{connection="` + id + `",network="whatsapp",outcome="verified"} 1`,
		`passerelle_connector_events_total{connection="` + id + `",network="whatsapp",result="recorded"} 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, s := range secrets {
		for where, text := range map[string]string{"/metrics": metrics, "the server's log": logs.String(), "the commands' output": outputs.String()} {
			if strings.Contains(text, s) {
				t.Errorf("%s holds secret %q", where, s)
			}
		}
	}
	if !strings.Contains(logs.String(), id) {
		t.Fatal("the server's log does not mention the connection: the test reads the wrong log")
	}

	code, out, errOut = cli(ctx, "", "connections", "delete", id)
	if code != 0 {
		t.Fatalf("delete: exit %d: %s%s", code, out, errOut)
	}
	if code := deliver(secrets[3], body2); code != 404 {
		t.Fatalf("a webhook of a deleted connection: %d, want 404", code)
	}
}

// Secrets are never taken from the command line, and a refusal never
// echoes what was typed there.
func TestConnectRefusesSecretsInArguments(t *testing.T) {
	ctx := context.Background()
	p := keyedPlatform(t, t.TempDir(), connstore.GenerateKey(), io.Discard)
	asMerchant(t, p, "bistro")
	tok := secretFile(t, "EAAGtoken")
	tests := []struct {
		name string
		args []string
		in   string
		says string
	}{
		{"an --access-token flag", []string{"connect", "whatsapp", "--app", "lunch", "--account", "1", "--access-token", "EAAGsecretARG"}, "", "not defined"},
		{"a secret as an argument", []string{"connect", "whatsapp", "EAAGsecretARG", "--app", "lunch", "--account", "1"}, "", "read from files"},
		{"no verify token for WhatsApp", []string{"connect", "whatsapp", "--app", "lunch", "--account", "1", "--token-file", tok, "--app-secret-file", tok}, "", "--verify-token-file"},
		{"two secrets from stdin", []string{"connect", "messenger", "--app", "lunch", "--account", "1", "--token-file", "-", "--app-secret-file", "-"}, "EAAGsecretARG", "both read standard input"},
		{"unknown network", []string{"connect", "telegram", "--app", "lunch", "--account", "1"}, "", "whatsapp, messenger or instagram"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(ctx, tt.in, tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.says) {
				t.Fatalf("exit %d: %s%s; want 2 saying %q", code, out, errOut, tt.says)
			}
			if strings.Contains(out+errOut, "EAAGsecretARG") {
				t.Errorf("the refusal echoes the secret: %s", errOut)
			}
		})
	}
	code, out, errOut := cli(ctx, "", "connect", "messenger", "--app", "lunch", "--account", "not-an-id", "--token-file", tok, "--app-secret-file", tok)
	if code != 1 || !strings.Contains(errOut, "bad_request") || !strings.Contains(errOut, "Facebook Page id") || strings.Contains(errOut, "EAAGtoken") {
		t.Fatalf("a bad account id: exit %d: %s%s", code, out, errOut)
	}
	if list, _ := p.conns.Infos(ctx, ""); len(list) != 0 {
		t.Fatalf("the refusals stored %+v", list)
	}
}

// A server without a key refuses to connect and says what the operator
// must do.
func TestConnectWithoutKey(t *testing.T) {
	p := keyedPlatform(t, t.TempDir(), "", io.Discard)
	asMerchant(t, p, "bistro")
	tok := secretFile(t, "EAAGtoken")
	code, out, errOut := cli(context.Background(), "", "connect", "messenger", "--app", "lunch", "--account", "105331912345678", "--token-file", tok, "--app-secret-file", tok)
	if code != 1 || !strings.Contains(errOut, "no_secret_key") || !strings.Contains(errOut, "passerelle secret-key") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
}

// TestRekeyCLI: the operator rotates the key itself. With the new key
// first and the old after it, rekey seals every secret again; the new key
// alone then opens everything. With a keyring that cannot open a secret,
// rekey changes nothing and names the missing key.
func TestRekeyCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	oldKey, newKey := connstore.GenerateKey(), connstore.GenerateKey()
	p := keyedPlatform(t, dir, oldKey, io.Discard)
	for i, n := range connstore.Networks {
		c := connector.Connection{Merchant: "bistro", Network: n, Account: "10" + string(rune('0'+i)), App: "lunch",
			Secrets: connector.Secrets{AccessToken: "token-" + n, AppSecret: "secret-" + n, VerifyToken: "verify-" + n}}
		if _, _, err := p.conns.Connect(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	p.close(ctx)
	idOf := func(key string) string {
		b, _ := base64.StdEncoding.DecodeString(key)
		return connstore.KeyID(b)
	}

	// A server started without the old key says which key is missing.
	logs := &syncBuffer{}
	p = keyedPlatform(t, dir, newKey, logs)
	p.close(ctx)
	if !strings.Contains(logs.String(), "does not hold") || !strings.Contains(logs.String(), idOf(oldKey)) {
		t.Fatalf("the start with the old key missing does not name it: %s", logs)
	}

	t.Setenv(envSecretKey, newKey)
	if code, out, errOut := cli(ctx, "", "connections", "rekey", "--data", dir); code != 1 || !strings.Contains(errOut, "nothing was changed") || !strings.Contains(errOut, idOf(oldKey)) {
		t.Fatalf("rekey without the old key: exit %d: %s%s", code, out, errOut)
	}
	t.Setenv(envSecretKey, "")
	if code, out, errOut := cli(ctx, "", "connections", "rekey", "--data", dir); code != 1 || !strings.Contains(errOut, "passerelle secret-key") {
		t.Fatalf("rekey without any key: exit %d: %s%s", code, out, errOut)
	}
	t.Setenv(envSecretKey, newKey+","+oldKey)
	code, out, errOut := cli(ctx, "", "connections", "rekey", "--data", dir)
	if code != 0 || !strings.Contains(out, "9 secrets sealed again under key "+idOf(newKey)) || !strings.Contains(out, idOf(oldKey)) {
		t.Fatalf("rekey: exit %d: %s%s", code, out, errOut)
	}

	p = keyedPlatform(t, dir, newKey, io.Discard)
	c, err := p.conns.ByAccount(ctx, connector.NetworkInstagram, "102")
	if err != nil || c.Secrets.AccessToken != "token-instagram" {
		t.Fatalf("with the new key alone: %+v, %v", c.Secrets, err)
	}
}

func TestSecretKeyCommand(t *testing.T) {
	code, out, errOut := cli(context.Background(), "", "secret-key")
	key := strings.TrimSpace(out)
	if b, err := base64.StdEncoding.DecodeString(key); code != 0 || err != nil || len(b) != 32 {
		t.Fatalf("exit %d, %q (%v): want 32 random bytes in base64", code, out, err)
	}
	if !strings.Contains(errOut, "key id "+connstore.KeyID(must(base64.StdEncoding.DecodeString(key)))) || !strings.Contains(errOut, envSecretKey) {
		t.Errorf("the advice: %s", errOut)
	}
	if _, again, _ := cli(context.Background(), "", "secret-key"); strings.TrimSpace(again) == key {
		t.Error("two keys are the same")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A key file others can read is refused; the server's own is read.
func TestSecretKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	key := connstore.GenerateKey()
	if err := os.WriteFile(path, []byte("# passerelle\n"+key+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKeyring(platformConfig{SecretKeyFile: path}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key file: %v", err)
	}
	os.Chmod(path, 0o600)
	k, err := loadKeyring(platformConfig{SecretKeyFile: path})
	if err != nil || k.Current() != connstore.KeyID(must(base64.StdEncoding.DecodeString(key))) {
		t.Fatalf("the key file: %v", err)
	}
	if k, err := loadKeyring(platformConfig{SecretKeyFile: path, SecretKey: connstore.GenerateKey()}); err != nil || k.Current() == connstore.KeyID(must(base64.StdEncoding.DecodeString(key))) {
		t.Fatalf("the environment wins over the file: %v", err)
	}
	if _, err := loadKeyring(platformConfig{SecretKey: "short"}); err == nil || !strings.Contains(err.Error(), envSecretKey) {
		t.Fatalf("a bad key names where it came from: %v", err)
	}
}
