package registry_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/assets"
	"github.com/passerelle/passerelle/runtime/registry"
)

func TestAssetsKeptPerVersion(t *testing.T) {
	db := openDB(t)
	r := open(t, db, registry.Options{})
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	wasm, err := assets.Embed([]byte("\x00asm\x01\x00\x00\x00"), []assets.Asset{{Name: "tee.png", Data: b.Bytes()}})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := r.Add("m1", "u", manifest("shop", "1.0.0"), wasm)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Assets) != 1 || v.Assets[0].Name != "tee.png" || v.Assets[0].Type != "image/png" {
		t.Fatalf("version assets: %+v", v.Assets)
	}
	add(t, r, "m1", "shop", "1.1.0") // no assets
	// Reopened: the assets are in the store, not in memory.
	r = open(t, db, registry.Options{})
	ctx := context.Background()
	path, err := r.AssetPath(ctx, host.AppRef{Merchant: "m1", App: "shop", Version: "1.0.0"}, "tee.png")
	if err != nil || path != v.Assets[0].Path || !strings.HasPrefix(path, "/assets/"+v.Assets[0].SHA256) {
		t.Fatalf("AssetPath = %q, %v", path, err)
	}
	_, err = r.AssetPath(ctx, host.AppRef{Merchant: "m1", App: "shop", Version: "1.1.0"}, "tee.png")
	if host.StatusOf(err) != host.StatusBadRequest || !strings.Contains(err.Error(), `"tee.png"`) {
		t.Fatalf("asset of another version: %v", err)
	}
	data, typ, err := r.Asset(v.Assets[0].SHA256)
	if err != nil || typ != "image/png" || !bytes.Equal(data, b.Bytes()) {
		t.Fatalf("Asset = %d bytes %q %v", len(data), typ, err)
	}
	if _, _, err := r.Asset(strings.Repeat("0", 64)); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown asset: %v", err)
	}
	bad, err := assets.Embed([]byte("\x00asm\x01\x00\x00\x00"), nil)
	if err != nil {
		t.Fatal(err)
	}
	bad = append(bad, 0, 27, 17)
	bad = append(bad, "passerelle.assets"...)
	bad = append(bad, `[{"name":"x.png","data":"aGk="}]`[:9]...)
	if _, _, err := r.Add("m1", "u", manifest("shop", "2.0.0"), bad); host.StatusOf(err) != host.StatusBadRequest {
		t.Fatalf("Add with a broken assets section: %v", err)
	}
}
