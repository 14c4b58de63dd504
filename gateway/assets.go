package gateway

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/passerelle/passerelle/host"
)

// Assets holds the images mini-apps ship, by content (runtime/registry
// satisfies it).
type Assets interface {
	// Asset returns the bytes whose SHA-256 is sum (64 lower-case hex
	// digits) and their content type, or a host.StatusNotFound error.
	Asset(sum string) ([]byte, string, error)
}

// assetExt is the extension the URL of an asset of each type ends with.
var assetExt = map[string]string{"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}

// serveAsset serves GET /assets/<sha256>.<ext>. The URL names the content,
// so the answer never changes: it is cached for a year and marked
// immutable, its ETag is the hash, and nosniff keeps browsers to the type
// the platform checked at upload.
func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	sum, ext, ok := strings.Cut(name, ".")
	if !ok || len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		writeHTTPError(w, errorf(CodeNotFound, "no asset %q: asset URLs are /assets/<sha256>.<png|jpg|webp>", name))
		return
	}
	data, typ, err := s.cfg.Assets.Asset(sum)
	if host.StatusOf(err) == host.StatusNotFound || err == nil && assetExt[typ] != ext {
		writeHTTPError(w, errorf(CodeNotFound, "no asset %q", name))
		return
	}
	if err != nil {
		s.log.Error("read asset", "sum", sum, "err", err)
		writeHTTPError(w, errorf(CodeInternal, "the asset could not be read"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", `"`+sum+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	if match := r.Header.Get("If-None-Match"); match == `"`+sum+`"` || match == "*" {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(data)
}
