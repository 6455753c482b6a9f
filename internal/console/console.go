// Package console is the creators' web console: a small page under /admin, built into the binary,
// that shortens links, shows their QR codes and counts, and retargets or deletes them through the
// admin API.
package console

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // the console's files
	"encoding/hex"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the path the console is served under; its page is Prefix itself.
const Prefix = "/admin"

// staticPrefix is where the console's scripts, styles and icon live.
const staticPrefix = Prefix + "/static/"

// policy is the console's Content-Security-Policy: its own scripts and styles only; its own images,
// data: images and product pictures from AliExpress's image hosts (the hosts preview.ValidImage
// accepts); requests to its own origin only, no plugins, no forms posting anywhere, no framing.
const policy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data: https://*.alicdn.com https://*.aliexpress-media.com; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// The console's files, built into the binary.
var (
	//go:embed static/index.html
	indexHTML []byte
	//go:embed static/console.js
	consoleJS []byte
	//go:embed static/console.css
	consoleCSS []byte
	//go:embed static/icon.svg
	iconSVG []byte
	//go:embed static/pages.js
	pagesJS []byte
	//go:embed static/pages.css
	pagesCSS []byte
	//go:embed static/keys.js
	keysJS []byte
	//go:embed static/keys.css
	keysCSS []byte
)

// asset is one file the console serves.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Console serves the console's page and its static files. Use New; it is safe for concurrent
// use, as it never changes after New.
type Console struct {
	index  asset
	static map[string]asset // by file name under staticPrefix
}

// New returns the console.
func New() *Console {
	return &Console{
		index: newAsset("index.html", indexHTML),
		static: map[string]asset{
			"console.js":  newAsset("console.js", consoleJS),
			"console.css": newAsset("console.css", consoleCSS),
			"icon.svg":    newAsset("icon.svg", iconSVG),
			"pages.js":    newAsset("pages.js", pagesJS),
			"pages.css":   newAsset("pages.css", pagesCSS),
			"keys.js":     newAsset("keys.js", keysJS),
			"keys.css":    newAsset("keys.css", keysCSS),
		},
	}
}

func newAsset(name string, body []byte) asset {
	// Named here rather than looked up: the system's MIME table may lack or differ on these.
	var ct string
	switch path.Ext(name) {
	case ".html":
		ct = "text/html; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	default:
		ct = "application/octet-stream"
	}
	sum := sha256.Sum256(body)
	return asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// ServeHTTP answers GET and HEAD for Prefix (and Prefix + "/"), the page, and for the files
// under Prefix + "/static/"; anything else under Prefix is a 404, other methods a 405. Every
// answer carries the console's Content-Security-Policy and anti-framing, anti-sniffing and
// no-referrer headers. The page is never stored by caches; the files are revalidated by ETag.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	securityHeaders(h)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == Prefix || p == Prefix+"/":
		h.Set("Cache-Control", "no-store")
		serve(w, r, c.index)
	case strings.HasPrefix(p, staticPrefix):
		a, ok := c.static[strings.TrimPrefix(p, staticPrefix)]
		if !ok {
			notFound(w)
			return
		}
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		serve(w, r, a)
	default:
		notFound(w)
	}
}

func serve(w http.ResponseWriter, r *http.Request, a asset) {
	w.Header().Set("Content-Type", a.contentType)
	// ServeContent answers If-None-Match (from the ETag set above), ranges and HEAD.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "not found", http.StatusNotFound)
}

// securityHeaders are sent with everything the console serves.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", policy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}
