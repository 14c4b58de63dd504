package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/host/identity"
	"github.com/passerelle/passerelle/miniapps/dist"
	"github.com/passerelle/passerelle/runtime/registry"
)

// TestShopPhotosUploadedAndServed uploads the example shop through the
// merchant API of a running platform, then fetches its photos over HTTP at
// the URLs its cards get.
func TestShopPhotosUploadedAndServed(t *testing.T) {
	ctx := context.Background()
	cfg := defaultConfig()
	cfg.Addr, cfg.Data = "127.0.0.1:0", t.TempDir()
	sharedCompileCache(&cfg)
	p, err := startPlatform(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close(ctx)
	mods, err := dist.Modules()
	if err != nil {
		t.Fatal(err)
	}
	var shop []byte
	for _, m := range mods {
		if m.Name == "shop" {
			shop = m.Wasm
		}
	}
	tok, err := p.svc.Identity.Issue("atelier", identity.RoleMerchant, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	server := "http://" + p.listener.Addr().String()
	req, _ := http.NewRequest("POST", server+"/v1/apps/shop/versions", bytes.NewReader(shop))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up struct{ Version registry.Version }
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(body, &up); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %v: %s", resp.StatusCode, err, body)
	}
	names := map[string]registry.Asset{}
	for _, a := range up.Version.Assets {
		names[a.Name] = a
	}
	if len(names) != 4 || names["tee.png"].Type != "image/png" {
		t.Fatalf("uploaded assets: %+v", up.Version.Assets)
	}

	// The card the shop sends names its photo; chat.send turns the name
	// into the URL of this version's copy.
	var send host.Func
	for _, f := range p.svc.Chat.Funcs() {
		if f.Op == "chat.send" {
			send = f
		}
	}
	out := &recordOutbox{}
	call := &host.Call{Out: out, Caller: host.Caller{App: up.Version.Ref(), Conversation: "cv_1", Permissions: []host.Permission{host.PermChat}}}
	if _, err := send.Handle(ctx, call, []byte(`{"card":{"title":"Linen tee","image":"asset:tee.png"}}`)); err != nil {
		t.Fatal(err)
	}
	url := out.got[0].Message.Card.Image
	if url != names["tee.png"].Path {
		t.Fatalf("card image %q, want %q", url, names["tee.png"].Path)
	}
	if _, err := send.Handle(ctx, call, []byte(`{"card":{"title":"Scarf","image":"asset:scarf.png"}}`)); host.StatusOf(err) != host.StatusBadRequest || !strings.Contains(err.Error(), `"scarf.png"`) {
		t.Fatalf("unknown asset: %v", err)
	}

	sum := names["tee.png"].SHA256
	for _, tc := range []struct {
		name, path, ifNoneMatch string
		status                  int
	}{
		{"photo", url, "", http.StatusOK},
		{"revalidated", url, `"` + sum + `"`, http.StatusNotModified},
		{"unknown hash", "/assets/" + strings.Repeat("0", 64) + ".png", "", http.StatusNotFound},
		{"wrong extension", "/assets/" + sum + ".jpg", "", http.StatusNotFound},
		{"not a hash", "/assets/tee.png", "", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", server+tc.path, nil)
			if tc.ifNoneMatch != "" {
				req.Header.Set("If-None-Match", tc.ifNoneMatch)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("GET %s: %d %s", tc.path, resp.StatusCode, body)
			}
			if tc.status != http.StatusOK {
				return
			}
			h := resp.Header
			if h.Get("Content-Type") != "image/png" || h.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
				h.Get("ETag") != `"`+sum+`"` || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("headers: %v", h)
			}
			if cfg, format, err := image.DecodeConfig(bytes.NewReader(body)); err != nil || format != "png" || cfg.Width == 0 {
				t.Fatalf("body is not the photo: %v %q %v", cfg, format, err)
			}
		})
	}
}

// recordOutbox keeps what the host sends.
type recordOutbox struct{ got []host.Outgoing }

func (o *recordOutbox) Emit(_ context.Context, g host.Outgoing) error {
	o.got = append(o.got, g)
	return nil
}
