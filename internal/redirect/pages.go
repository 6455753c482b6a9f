package redirect

import (
	"net/http"
	"strconv"
)

// notFoundPage is what a person sees for an unknown or deleted short link.
const notFoundPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>Link not found</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}</style>
</head><body><h1>This link does not exist</h1>
<p>The short link you followed is unknown or was removed by its owner. Check that it was typed exactly as printed: short links are case-sensitive.</p>
<p><a href="https://www.aliexpress.com/">Go to AliExpress</a></p></body></html>
`

// notFound answers 404 with a small page for people.
func notFound(w http.ResponseWriter, d Deps) {
	w.Header().Set("Cache-Control", "no-store")
	writeHTML(w, http.StatusNotFound, []byte(notFoundPage))
}

// writeHTML answers an HTML page with the headers every HTML page carries.
func writeHTML(w http.ResponseWriter, status int, page []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(page)))
	securityHeaders(h)
	w.WriteHeader(status)
	_, _ = w.Write(page)
}

// securityHeaders are sent with every HTML page: no scripts but our own, no framing, no sniffing.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}
