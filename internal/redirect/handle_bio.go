package redirect

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/redirector/redirector/internal/bio"
	"github.com/redirector/redirector/internal/clicks"
)

// handleBioPage serves GET and HEAD /@{handle}: the creator's bio page, rendered from the
// Renderer's cache. A person's GET is a page view (HEAD, crawlers and preview fetchers are not);
// preview fetchers get the same page, whose Open Graph tags make the card. Each item links to
// /{id}?src=bio, so its click counts with source bio.
func handleBioPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		key, ok := bio.Key(strings.TrimPrefix(r.URL.Path, "/@"))
		if !ok || d.Bio.Pages == nil {
			notFound(w, d)
			return
		}
		page, err := d.Bio.Renderer.Render(r.Context(), key, d.Limits.client(r))
		if err != nil {
			d.Logger.Warn("render bio page", "handle", key, "err", err)
			w.Header().Set("Retry-After", "5")
			http.Error(w, "this page cannot be shown right now: try again in a moment", http.StatusServiceUnavailable)
			return
		}
		if !page.Found {
			notFound(w, d)
			return
		}
		if r.Method == http.MethodGet && d.Bio.Views != nil && !clicks.IsBot(r.UserAgent()) {
			d.Bio.Views.Record(key, false)
		}
		h := w.Header()
		h.Set("Content-Security-Policy", bio.CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		// Revalidated on every visit (a 304 when unchanged), so every view reaches the counter and
		// a change shows at once.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", page.ETag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && inm == page.ETag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(page.Body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(page.Body)
		}
	})
}
