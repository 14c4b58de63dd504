package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector"
	"github.com/passerelle/passerelle/host/identity"
)

// noConns is a connection store with no connection.
type noConns struct{}

func (noConns) Get(context.Context, string) (connector.Connection, error) {
	return connector.Connection{}, connector.ErrNoConnection
}

func (noConns) ByAccount(context.Context, string, string) (connector.Connection, error) {
	return connector.Connection{}, connector.ErrNoConnection
}

func (noConns) List(context.Context, string) ([]connector.Connection, error) { return nil, nil }

// TestPlatformWithNetworks: with connections the platform starts the
// connector runtime and its figures, serves link codes, and stops.
func TestPlatformWithNetworks(t *testing.T) {
	ctx := context.Background()
	cfg := defaultConfig()
	cfg.Addr, cfg.Data, cfg.Connections = "127.0.0.1:0", t.TempDir(), noConns{}
	sharedCompileCache(&cfg)
	p, err := startPlatform(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close(ctx)
	if p.networks == nil || p.networks.bridge == nil {
		t.Fatal("no connector runtime")
	}
	ana, err := p.svc.Identity.CreatePerson(ctx, "Ana", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.svc.Identity.Issue(ana.ID, identity.RolePerson, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, p.url()+"/link-code", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Code string }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 || len(got.Code) != identity.LinkCodeDigits {
		t.Fatalf("POST /link-code: %d %+v %v", resp.StatusCode, got, err)
	}
	m, err := http.Get(p.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(m.Body)
	m.Body.Close()
	if !strings.Contains(string(body), "passerelle_connector_inbound_failed_total") {
		t.Fatal("/metrics does not show the connector runtime's figures")
	}
}
