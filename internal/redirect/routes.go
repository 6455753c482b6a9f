package redirect

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/redirector/redirector/internal/console"
	"github.com/redirector/redirector/internal/shortid"
)

// routes lists every route the service answers.
//
// httprouter (v1.3) cannot hold a parameter segment (/:id) beside static ones that share its
// position (/go, /api, /healthz): it panics at registration. The static routes therefore live in
// the router, and the short-link routes (/{id}, /{id}/qr.png, /{id}/qr.svg) are its NotFound
// handler, which parses the path itself. Static routes win, as reserved slugs require.
//
// Clicks take no detour: a GET or HEAD of /go goes straight to its handler, and one of a single
// path segment that is a valid id straight to the redirect, sparing the router its search for a
// route (and, for /{id}, then for other methods' routes) on every click. It cannot shadow a static
// route, since no static route's first segment is a valid id (reserved slugs are not; routes panics
// at start if one were).
func routes(d Deps) http.Handler {
	router := httprouter.New()
	router.RedirectFixedPath = false // ids are case-sensitive: /AbC must never be sent to /abc
	router.HandleMethodNotAllowed = true
	router.HandleOPTIONS = false
	r := staticRoutes{router}

	goHandler := handleGo(d)
	r.Handler(http.MethodGet, "/go", goHandler)
	r.Handler(http.MethodHead, "/go", goHandler)

	r.Handler(http.MethodGet, "/healthz", handleHealthz())
	r.Handler(http.MethodHead, "/healthz", handleHealthz())
	r.Handler(http.MethodGet, "/readyz", handleReadyz(d.Ready))
	// Routes other than redirects and health checks are capped (Limits.MaxInFlight): past the cap
	// they answer 503 at once, so heavy or hostile traffic on them cannot starve the clicks.
	capped := d.Limits.capped
	if !d.MetricsElsewhere {
		r.Handler(http.MethodGet, "/metrics", capped(d.Metrics.Handler()))
	}
	r.Handler(http.MethodGet, "/robots.txt", handleRobots())

	guard := adminOnly(d)
	api := func(h http.Handler) http.Handler { return capped(guard(h)) }
	r.Handler(http.MethodPost, "/api/links", api(handleCreate(d)))
	r.Handler(http.MethodGet, "/api/links", api(handleList(d)))
	r.Handler(http.MethodGet, "/api/links/:id", api(handleGet(d)))
	r.Handler(http.MethodPatch, "/api/links/:id", api(handleRetarget(d)))
	r.Handler(http.MethodDelete, "/api/links/:id", api(handleDelete(d)))
	r.Handler(http.MethodGet, "/api/links/:id/stats", api(handleLinkStats(d)))
	r.Handler(http.MethodGet, "/api/stats", api(handleAllStats(d)))
	r.Handler(http.MethodGet, "/api/export", api(handleExport(d)))
	r.Handler(http.MethodPost, "/api/import", api(handleImport(d)))
	r.Handler(http.MethodGet, "/api/reports/earnings", api(handleEarningsReport(d)))
	if d.Bio.Pages != nil {
		r.Handler(http.MethodPost, "/api/pages", api(handlePageCreate(d)))
		r.Handler(http.MethodGet, "/api/pages", api(handlePageList(d)))
		r.Handler(http.MethodGet, "/api/pages/:handle", api(handlePageGet(d)))
		r.Handler(http.MethodPatch, "/api/pages/:handle", api(handlePageUpdate(d)))
		r.Handler(http.MethodDelete, "/api/pages/:handle", api(handlePageDelete(d)))
	}
	r.Handler(http.MethodGet, "/api/links/:id/suggestions", api(handleSuggestions(d)))
	r.Handler(http.MethodGet, "/api/health", api(handleHealthReport(d)))
	r.Handler(http.MethodPost, "/api/qr/sheet", api(handleQRSheet(d)))
	r.Handler(http.MethodPost, "/api/qr/zip", api(handleQRZip(d)))
	if d.Webhooks != nil {
		r.Handler(http.MethodPost, "/api/webhooks", api(handleWebhookCreate(d)))
		r.Handler(http.MethodGet, "/api/webhooks", api(handleWebhookList(d)))
		r.Handler(http.MethodDelete, "/api/webhooks/:id", api(handleWebhookDelete(d)))
		r.Handler(http.MethodGet, "/api/webhooks/:id/deliveries", api(handleWebhookDeliveries(d)))
	}
	admin := capped(console.New()) // the creators' console (/admin): its page and files; it talks to /api/
	r.Handler(http.MethodGet, console.Prefix, admin)
	r.Handler(http.MethodHead, console.Prefix, admin)
	r.Handler(http.MethodGet, console.Prefix+"/*file", admin)
	r.Handler(http.MethodHead, console.Prefix+"/*file", admin)
	router.NotFound = handleShortLinks(d)
	router.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if isAPI(req.URL.Path) {
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	})
	redirect := handleID(d)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet || req.Method == http.MethodHead {
			if p := req.URL.Path; p == "/go" {
				goHandler.ServeHTTP(w, req)
				return
			} else if id, ok := clickID(p); ok {
				redirect(w, req, id)
				return
			}
		}
		router.ServeHTTP(w, req)
	})
}

// clickID returns the id in a path /{id} whose id is well formed.
func clickID(path string) (string, bool) {
	if len(path) < 2 || path[0] != '/' || strings.IndexByte(path[1:], '/') >= 0 || !shortid.Valid(path[1:]) {
		return "", false
	}
	return path[1:], true
}

// staticRoutes registers the router's static routes, refusing one that a short link could shadow.
type staticRoutes struct{ *httprouter.Router }

func (s staticRoutes) Handler(method, path string, h http.Handler) {
	if first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/"); shortid.Valid(first) {
		panic(fmt.Sprintf("route %s %s: its first segment is a valid short-link id", method, path))
	}
	s.Router.Handler(method, path, h)
}
