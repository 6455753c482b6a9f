package redirect

import (
	"net/http"
	"strings"

	"github.com/redirector/redirector/internal/bio"
	"github.com/redirector/redirector/internal/clicks"
	"github.com/redirector/redirector/internal/stats"
)

// handleBioPage serves GET and HEAD /@{handle}: the creator's bio page, rendered from the
// Renderer's cache. A person's GET is a page view, de-duplicated per visitor like a click (HEAD, crawlers and preview fetchers are not);
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
		client := d.Limits.client(r)
		page, err := d.Bio.Renderer.Render(r.Context(), key, client)
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
		if ua := r.UserAgent(); r.Method == http.MethodGet && d.Bio.Views != nil && !clicks.IsBot(ua) {
			// Counted once per visitor per window when the counter's sink names visitors.
			d.Bio.Views.Visit(key, stats.Hit{Addr: client, UserAgent: ua})
		}
		h := w.Header()
		if inm := r.Header.Get("If-None-Match"); inm != "" && inm == page.ETag {
			h["Etag"], h["Cache-Control"] = page.Header["Etag"], page.Header["Cache-Control"]
			w.WriteHeader(http.StatusNotModified)
			return
		}
		for k, v := range page.Header {
			h[k] = v
		}
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(page.Body)
		}
	})
}
