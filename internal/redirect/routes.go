package redirect

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/redirector/redirector/internal/console"
)

// routes lists every route the service answers.
//
// httprouter (v1.3) cannot hold a parameter segment (/:id) beside static ones that share its
// position (/go, /api, /healthz): it panics at registration. The static routes therefore live in
// the router, and the short-link routes (/{id}, /{id}/qr.png, /{id}/qr.svg) are its NotFound
// handler, which parses the path itself. Static routes win, as reserved slugs require.
func routes(d Deps) http.Handler {
	r := httprouter.New()
	r.RedirectFixedPath = false // ids are case-sensitive: /AbC must never be sent to /abc
	r.HandleMethodNotAllowed = true
	r.HandleOPTIONS = false

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
	r.Handler(http.MethodGet, "/api/export", api(handleExport(d)))
	admin := capped(console.New()) // the creators' console (/admin): its page and files; it talks to /api/
	r.Handler(http.MethodGet, console.Prefix, admin)
	r.Handler(http.MethodHead, console.Prefix, admin)
	r.Handler(http.MethodGet, console.Prefix+"/*file", admin)
	r.Handler(http.MethodHead, console.Prefix+"/*file", admin)
	r.NotFound = handleShortLinks(d)
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if isAPI(req.URL.Path) {
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	})
	return r
}
