package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	write := func(t *testing.T, body string) string {
		p := filepath.Join(t.TempDir(), "passerelle.json")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("defaults without a file", func(t *testing.T) {
		cfg, err := loadConfig("")
		if err != nil || cfg.Addr != "127.0.0.1:8080" || cfg.Data != "data" || cfg.LogLevel != "info" {
			t.Fatalf("cfg %+v, err %v", cfg, err)
		}
	})
	t.Run("file over defaults", func(t *testing.T) {
		cfg, err := loadConfig(write(t, `{"addr":"0.0.0.0:9000","payment_ttl":"90s","dedupe_window":"48h","limits":{"event_timeout_ms":500}}`))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Addr != "0.0.0.0:9000" || cfg.Data != "data" || time.Duration(cfg.PaymentTTL) != 90*time.Second || time.Duration(cfg.DedupeWindow) != 48*time.Hour || cfg.Limits.EventTimeoutMS != 500 {
			t.Fatalf("cfg %+v", cfg)
		}
	})
	for name, tc := range map[string]struct{ body, want string }{
		"unknown field": {`{"adress":"x"}`, `unknown field "adress"`},
		"bad duration":  {`{"payment_ttl":"soon"}`, `write it like "15m"`},
		"not JSON":      {`addr = 1`, "invalid character"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(write(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Configuration") {
				t.Fatalf("err = %v, want it to mention %q and point to the README", err, tc.want)
			}
		})
	}
	if _, err := loadConfig(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("a missing config file was accepted")
	}
}
