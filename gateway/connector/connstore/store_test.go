package connstore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/gateway/connector/connstore"
)

func keyring(t testing.TB, keys ...string) *connstore.Keyring {
	t.Helper()
	k, err := connstore.ParseKeyring(strings.Join(keys, ","))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openDB(t testing.TB, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func open(t testing.TB, db *bbolt.DB, cfg connstore.Config) *connstore.Store {
	t.Helper()
	s, err := connstore.Open(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waConn(merchant, account, token string) connector.Connection {
	return connector.Connection{Merchant: merchant, Network: connector.NetworkWhatsApp, Account: account, App: "lunch",
		Secrets: connector.Secrets{AccessToken: token, AppSecret: "appsecret-" + token, VerifyToken: "verify-" + token}}
}

// A copy of the database file alone reveals none of the secrets, as
// written at connect and after a rotation; what is not secret is there.
func TestFileHoldsNoSecret(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db := openDB(t, path)
	s := open(t, db, connstore.Config{Keys: keyring(t, connstore.GenerateKey())})
	secrets := []string{"EAAGtokenWHATSAPPsecretvalue1", "EAAGtokenMESSENGERsecretvalue2", "IGQtokenINSTAGRAMsecretvalue3",
		"0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210", "myverifytokenXYZZY", "rotatedTOKENafterwards4"}
	for i, n := range connstore.Networks {
		c := connector.Connection{Merchant: "m1", Network: n, Account: "10654035224292" + string(rune('0'+i)), App: "lunch",
			Secrets: connector.Secrets{AccessToken: secrets[i], AppSecret: secrets[3+i%2], VerifyToken: secrets[5]}}
		info, _, err := s.Connect(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := s.Rotate(ctx, info.ID, connector.Secrets{AccessToken: secrets[6]}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("106540352242920")) {
		t.Fatal("the account id is not in the file: the test reads the wrong file")
	}
	for _, sec := range secrets {
		for _, form := range []string{sec, base64.StdEncoding.EncodeToString([]byte(sec))} {
			if bytes.Contains(raw, []byte(form)) {
				t.Errorf("the database file holds secret %q (as %q)", sec, form)
			}
		}
	}
}

// rewrite edits the stored records with the bbolt file open directly, as
// someone with a copy of it could.
func rewrite(t *testing.T, db *bbolt.DB, f func(recs map[string]map[string]any)) {
	t.Helper()
	err := db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("connections"))
		recs := map[string]map[string]any{}
		b.ForEach(func(k, v []byte) error {
			var m map[string]any
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			recs[string(k)] = m
			return nil
		})
		f(recs)
		for k, m := range recs {
			v, _ := json.Marshal(m)
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func secretsOf(m map[string]any) map[string]any { return m["secrets"].(map[string]any) }

// A ciphertext copied to another row or another field, or a row moved to
// another merchant, does not open: ErrBroken, naming the connection and
// the field.
func TestSwappedCiphertextsDoNotOpen(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		edit  func(a, b map[string]any)
		field string
	}{
		{"token swapped between rows", func(a, b map[string]any) {
			sa, sb := secretsOf(a), secretsOf(b)
			sa["access_token"], sb["access_token"] = sb["access_token"], sa["access_token"]
		}, "access_token"},
		{"app secret copied into the token", func(a, _ map[string]any) {
			sa := secretsOf(a)
			sa["access_token"] = sa["app_secret"]
		}, "access_token"},
		{"row moved to another merchant", func(a, _ map[string]any) { a["merchant"] = "m2" }, "access_token"},
		{"account changed", func(a, _ map[string]any) { a["account"] = "999" }, "access_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t, filepath.Join(t.TempDir(), "p.db"))
			defer db.Close()
			s := open(t, db, connstore.Config{Keys: keyring(t, connstore.GenerateKey())})
			a, _, err := s.Connect(ctx, waConn("m1", "111", "tokenAAA"))
			if err != nil {
				t.Fatal(err)
			}
			b, _, err := s.Connect(ctx, waConn("m1", "222", "tokenBBB"))
			if err != nil {
				t.Fatal(err)
			}
			rewrite(t, db, func(recs map[string]map[string]any) { tt.edit(recs[a.ID], recs[b.ID]) })
			_, err = s.Get(ctx, a.ID)
			if !errors.Is(err, connstore.ErrBroken) {
				t.Fatalf("Get after the edit: %v, want ErrBroken", err)
			}
			if msg := err.Error(); !strings.Contains(msg, a.ID) || !strings.Contains(msg, tt.field) || strings.Contains(msg, "token") && strings.Contains(msg, "tokenBBB") {
				t.Errorf("error %q should name the connection and the field, and no secret", msg)
			}
		})
	}
}

// The operator's key rotates: with the new key first and the old after
// it, old rows still open and Rekey seals them again; then the new key
// alone opens everything, and the old alone opens nothing, with a message
// naming the missing key's id.
func TestRekey(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "p.db"))
	defer db.Close()
	oldKey, newKey := connstore.GenerateKey(), connstore.GenerateKey()
	s := open(t, db, connstore.Config{Keys: keyring(t, oldKey)})
	a, _, err := s.Connect(ctx, waConn("m1", "111", "tokenAAA"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Connect(ctx, waConn("m2", "222", "tokenBBB")); err != nil {
		t.Fatal(err)
	}

	both := keyring(t, newKey, oldKey)
	s = open(t, db, connstore.Config{Keys: both})
	if c, err := s.Get(ctx, a.ID); err != nil || c.Secrets.AccessToken != "tokenAAA" {
		t.Fatalf("before rekey, with the old key second: %+v, %v", c.Secrets, err)
	}
	if _, err := s.Rotate(ctx, a.ID, connector.Secrets{AppSecret: "newappsecret"}); err != nil {
		t.Fatal(err)
	}
	use, err := s.KeyUse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldID, newID := both.IDs()[1], both.Current()
	if use[oldID] != 5 || use[newID] != 1 {
		t.Fatalf("key use before rekey: %v; want 5 under %s, 1 under %s", use, oldID, newID)
	}
	n, err := s.Rekey(ctx)
	if err != nil || n != 5 {
		t.Fatalf("Rekey: %d, %v; want 5 secrets sealed again", n, err)
	}
	if n, err := s.Rekey(ctx); err != nil || n != 0 {
		t.Fatalf("Rekey again: %d, %v; want 0", n, err)
	}

	s = open(t, db, connstore.Config{Keys: keyring(t, newKey)})
	all, err := s.List(ctx, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("List with the new key alone: %d, %v", len(all), err)
	}
	for _, c := range all {
		want := map[string]string{"111": "tokenAAA", "222": "tokenBBB"}[c.Account]
		if c.Secrets.AccessToken != want {
			t.Errorf("account %s: token %q after rekey", c.Account, c.Secrets.AccessToken)
		}
		if c.Account == "111" && c.Secrets.AppSecret != "newappsecret" {
			t.Errorf("the rotated app secret did not survive the rekey")
		}
	}

	s = open(t, db, connstore.Config{Keys: keyring(t, oldKey)})
	_, err = s.Get(ctx, a.ID)
	if !errors.Is(err, connstore.ErrUnknownKey) || !strings.Contains(err.Error(), newID) || !strings.Contains(err.Error(), "rekey") {
		t.Fatalf("the old key alone: %v; want ErrUnknownKey naming key %s and saying how to recover", err, newID)
	}
}

// A wrong key (not the one that sealed) is told apart from a broken row,
// and its message says which key is missing and what to do.
func TestWrongKey(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "p.db"))
	defer db.Close()
	k := keyring(t, connstore.GenerateKey())
	s := open(t, db, connstore.Config{Keys: k})
	a, _, err := s.Connect(ctx, waConn("m1", "111", "tokenAAA"))
	if err != nil {
		t.Fatal(err)
	}
	s = open(t, db, connstore.Config{Keys: keyring(t, connstore.GenerateKey())})
	for name, call := range map[string]func() error{
		"Get":       func() error { _, err := s.Get(ctx, a.ID); return err },
		"ByAccount": func() error { _, err := s.ByAccount(ctx, connector.NetworkWhatsApp, "111"); return err },
		"List":      func() error { _, err := s.List(ctx, "m1"); return err },
		"Rekey":     func() error { _, err := s.Rekey(ctx); return err },
	} {
		err := call()
		if !errors.Is(err, connstore.ErrUnknownKey) || !strings.Contains(err.Error(), k.Current()) || !strings.Contains(err.Error(), "PASSERELLE_SECRET_KEY") {
			t.Errorf("%s with the wrong key: %v", name, err)
		}
	}
	if info, err := s.Info(ctx, a.ID); err != nil || !info.Secrets.AccessToken.Set {
		t.Errorf("Info needs no key: %+v, %v", info, err)
	}
}

// Without a key nothing is connected, and the message says how to set one.
func TestNoKey(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "p.db"))
	defer db.Close()
	s := open(t, db, connstore.Config{})
	_, _, err := s.Connect(context.Background(), waConn("m1", "111", "tokenAAA"))
	if !errors.Is(err, connstore.ErrNoKey) {
		t.Fatalf("Connect without a key: %v", err)
	}
	for _, want := range []string{"passerelle secret-key", "PASSERELLE_SECRET_KEY", "secret_key_file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the message %q does not mention %s", err, want)
		}
	}
	if list, err := s.Infos(context.Background(), ""); err != nil || len(list) != 0 {
		t.Errorf("Infos: %v, %v", list, err)
	}
}

// An account belongs to one merchant; connecting it again replaces the
// connection and keeps its id; deleting it frees the account.
func TestAccountOwnership(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "p.db"))
	defer db.Close()
	s := open(t, db, connstore.Config{Keys: keyring(t, connstore.GenerateKey()), BaseURL: "http://127.0.0.1:9"})
	first, created, err := s.Connect(ctx, waConn("m1", "111", "tokenAAA"))
	if err != nil || !created {
		t.Fatalf("first connect: %v, created %v", err, created)
	}
	if _, _, err := s.Connect(ctx, waConn("m2", "111", "tokenEVE")); !errors.Is(err, connstore.ErrAccountTaken) {
		t.Fatalf("another merchant claiming the account: %v, want ErrAccountTaken", err)
	}
	if c, err := s.ByAccount(ctx, connector.NetworkWhatsApp, "111"); err != nil || c.Merchant != "m1" || c.Secrets.AccessToken != "tokenAAA" || c.BaseURL != "http://127.0.0.1:9" {
		t.Fatalf("after the refused claim: %+v, %v", c, err)
	}
	again := waConn("m1", "111", "tokenAAA2")
	again.App = "shop"
	second, created, err := s.Connect(ctx, again)
	if err != nil || created || second.ID != first.ID || second.App != "shop" || !second.Created.Equal(first.Created) {
		t.Fatalf("reconnect by the owner: %+v, created %v, %v; want the same id, replaced", second, created, err)
	}
	other := waConn("m2", "111", "tokenM2")
	other.Network = connector.NetworkMessenger
	if _, _, err := s.Connect(ctx, other); err != nil {
		t.Fatalf("the same number on another network is another account: %v", err)
	}
	if list, _ := s.Infos(ctx, "m1"); len(list) != 1 {
		t.Fatalf("m1 has %d connections, want 1", len(list))
	}
	if err := s.Delete(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, first.ID); !errors.Is(err, connector.ErrNoConnection) {
		t.Fatalf("Get after delete: %v", err)
	}
	if _, err := s.ByAccount(ctx, connector.NetworkWhatsApp, "111"); !errors.Is(err, connector.ErrNoConnection) {
		t.Fatalf("ByAccount after delete: %v", err)
	}
	if err := s.Delete(ctx, first.ID); !errors.Is(err, connector.ErrNoConnection) {
		t.Fatalf("Delete twice: %v", err)
	}
	if _, created, err := s.Connect(ctx, waConn("m2", "111", "tokenM2")); err != nil || !created {
		t.Fatalf("the freed account for another merchant: %v", err)
	}
}

// Rotate replaces only the secrets given, and says when each was set.
func TestRotate(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "p.db"))
	defer db.Close()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s := open(t, db, connstore.Config{Keys: keyring(t, connstore.GenerateKey()), Now: func() time.Time { return now }})
	c := waConn("m1", "111", "tokenAAA")
	c.Network, c.Secrets.VerifyToken = connector.NetworkMessenger, ""
	info, _, err := s.Connect(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if info.Secrets.VerifyToken.Set || !info.Secrets.AppSecret.Set {
		t.Fatalf("after connect: %+v", info.Secrets)
	}
	if _, err := s.Rotate(ctx, info.ID, connector.Secrets{}); !errors.Is(err, connstore.ErrInvalid) {
		t.Fatalf("rotating nothing: %v", err)
	}
	if _, err := s.Rotate(ctx, info.ID, connector.Secrets{AppSecret: "has space"}); !errors.Is(err, connstore.ErrInvalid) || strings.Contains(err.Error(), "has space") {
		t.Fatalf("rotating to a bad secret: %v", err)
	}
	if _, err := s.Rotate(ctx, "cnope", connector.Secrets{AppSecret: "x"}); !errors.Is(err, connector.ErrNoConnection) {
		t.Fatalf("rotating an unknown connection: %v", err)
	}
	later := now.Add(time.Hour)
	now = later
	info, err = s.Rotate(ctx, info.ID, connector.Secrets{AppSecret: "secret2", VerifyToken: "verify2"})
	if err != nil {
		t.Fatal(err)
	}
	if !info.Secrets.AppSecret.Rotated.Equal(later) || !info.Secrets.VerifyToken.Rotated.Equal(later) || !info.Secrets.AccessToken.Rotated.Equal(later.Add(-time.Hour)) {
		t.Fatalf("rotation times: %+v", info.Secrets)
	}
	got, err := s.Get(ctx, info.ID)
	if err != nil || got.Secrets != (connector.Secrets{AccessToken: "tokenAAA", AppSecret: "secret2", VerifyToken: "verify2"}) {
		t.Fatalf("after rotation: %+v, %v", got.Secrets, err)
	}
	if b, _ := json.Marshal(info); bytes.Contains(b, []byte("secret2")) || bytes.Contains(b, []byte("tokenAAA")) {
		t.Fatalf("Info shows a secret: %s", b)
	}
}

func TestValidate(t *testing.T) {
	ok := waConn("m1", "106540352242922", "EAAGtoken")
	tests := []struct {
		name string
		edit func(c *connector.Connection)
		want string // in the message; "" means valid
	}{
		{"valid", func(*connector.Connection) {}, ""},
		{"unknown network", func(c *connector.Connection) { c.Network = "telegram" }, "not one of whatsapp, messenger, instagram"},
		{"no account", func(c *connector.Connection) { c.Account = "" }, "phone number id"},
		{"a phone number, not its id", func(c *connector.Connection) { c.Account = "+33 6 12 34 56 78" }, "digits only"},
		{"page name", func(c *connector.Connection) { c.Network, c.Account = connector.NetworkMessenger, "my-page" }, "Facebook Page id"},
		{"no app", func(c *connector.Connection) { c.App = "" }, "app must name"},
		{"no token", func(c *connector.Connection) { c.Secrets.AccessToken = "" }, "access_token is empty"},
		{"no app secret", func(c *connector.Connection) { c.Secrets.AppSecret = "" }, "app_secret is empty"},
		{"whatsapp without verify token", func(c *connector.Connection) { c.Secrets.VerifyToken = "" }, "verify_token is empty"},
		{"instagram without verify token", func(c *connector.Connection) {
			c.Network, c.Secrets.VerifyToken = connector.NetworkInstagram, ""
		}, ""},
		{"newline in the token", func(c *connector.Connection) { c.Secrets.AccessToken = "EAAG\ntoken" }, "line break"},
		{"huge token", func(c *connector.Connection) { c.Secrets.AccessToken = strings.Repeat("a", 5000) }, "over 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := connstore.Validate(c)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if !errors.Is(err, connstore.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalid saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "EAAG") {
				t.Errorf("the message quotes the token: %v", err)
			}
		})
	}
}

func TestParseKeyring(t *testing.T) {
	a, b := connstore.GenerateKey(), connstore.GenerateKey()
	k, err := connstore.ParseKeyring("# current first\n" + a + "\n\n" + strings.TrimRight(b, "=") + "\n")
	if err != nil {
		t.Fatal(err)
	}
	ka, _ := base64.StdEncoding.DecodeString(a)
	if ids := k.IDs(); len(ids) != 2 || ids[0] != connstore.KeyID(ka) || k.Current() != ids[0] {
		t.Fatalf("ids %v, current %s", ids, k.Current())
	}
	for _, bad := range []struct{ in, want string }{
		{"", "no key found"},
		{"not-base64!", "key 1 is not base64"},
		{base64.StdEncoding.EncodeToString([]byte("short")), "key 1 is 5 bytes"},
		{a + "," + a, "given twice"},
	} {
		if _, err := connstore.ParseKeyring(bad.in); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseKeyring(%q): %v, want %q", bad.in, err, bad.want)
		}
	}
}

// Merchants racing for one account: exactly one gets it.
func TestConcurrentClaims(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "p.db"))
	defer db.Close()
	s := open(t, db, connstore.Config{Keys: keyring(t, connstore.GenerateKey())})
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, _, err := s.Connect(ctx, waConn("m"+string(rune('a'+i)), "111", "token"))
			errs <- err
		}()
	}
	won := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			won++
		case !errors.Is(err, connstore.ErrAccountTaken):
			t.Errorf("a losing claim: %v", err)
		}
	}
	list, err := s.Infos(ctx, "")
	if won != 1 || err != nil || len(list) != 1 {
		t.Fatalf("%d claims won, %d connections stored (%v); want 1 and 1", won, len(list), err)
	}
}
