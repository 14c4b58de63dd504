package registry

import (
	"context"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/assets"
)

// AssetPath returns the URL path of the image name that version app ships
// (host/chat resolves "asset:<name>" in a card with it). An unknown name
// is a StatusBadRequest error naming it.
func (r *Registry) AssetPath(_ context.Context, app host.AppRef, name string) (string, error) {
	v, err := r.Version(app.App, app.Version)
	if err != nil {
		return "", err
	}
	for _, a := range v.Assets {
		if a.Name == name {
			return a.Path, nil
		}
	}
	return "", host.Errorf(host.StatusBadRequest, "%s version %s ships no asset %q; put the file in the app's assets/ folder and build again (see sdk/ABI.md#assets)", app.App, app.Version, name)
}

// Asset returns the bytes of the asset whose SHA-256 is sum (lower-case
// hex) and their content type, or ErrNotFound.
func (r *Registry) Asset(sum string) ([]byte, string, error) {
	var out []byte
	err := r.db.View(func(tx *bbolt.Tx) error {
		out = slices.Clone(tx.Bucket(bucketAssets).Get([]byte(sum)))
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if out == nil {
		return nil, "", fmt.Errorf("asset %q: %w", sum, ErrNotFound)
	}
	typ, err := assets.Sniff(sum, out)
	if err != nil {
		return nil, "", err
	}
	return out, typ, nil
}
