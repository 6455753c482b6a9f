package redirect

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/redirector/redirector/internal/openapi"
)

// handleOpenAPI serves GET /api/openapi.json: the API's OpenAPI 3.1 document, without a token. Browsers
// may keep it for an hour (private: no shared cache stores an /api/ answer); its ETag is its hash.
func handleOpenAPI() http.Handler {
	doc, err := openapi.JSON()
	sum := sha256.Sum256(doc)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err != nil { // the tests keep this from happening
			writeError(w, http.StatusServiceUnavailable, "the OpenAPI document could not be loaded")
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "private, max-age=3600")
		h.Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(doc)
	})
}
