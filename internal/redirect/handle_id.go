package redirect

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/redirector/redirector/internal/clicks"
	"github.com/redirector/redirector/internal/qr"
	"github.com/redirector/redirector/internal/resolve"
	"github.com/redirector/redirector/internal/shortid"
)

// QR code sizes in pixels.
const (
	qrDefaultSize = 512
	qrMinSize     = 64
	qrMaxSize     = 2048
)

// ScanMarker is the query a QR code's URL carries so that scans can be told from clicks.
const ScanMarker = "qr"

// idHandler serves a request for the short link id, already checked to be well formed.
type idHandler func(w http.ResponseWriter, r *http.Request, id string)

// handleShortLinks serves what the router has no static route for: /{id}, /{id}/qr.png and
// /{id}/qr.svg; anything else is a 404.
func handleShortLinks(d Deps) http.Handler {
	redirect := handleID(d)
	png, svg := cappedID(d.Limits, handleQR(d, "png")), cappedID(d.Limits, handleQR(d, "svg"))
	apiNotFound := adminOnly(d)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if isAPI(path) {
			apiNotFound.ServeHTTP(w, r)
			return
		}
		id, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		if !shortid.Valid(id) {
			notFound(w, d)
			return
		}
		var h idHandler
		switch rest {
		case "":
			h = redirect
		case "qr.png":
			h = png
		case "qr.svg":
			h = svg
		default:
			notFound(w, d)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h(w, r, id)
	})
}

// handleID serves GET and HEAD /{id}: a 302 to the affiliate link of the link's target.
// Human GETs of recorded links are counted; HEAD, crawlers and preview fetchers are not, and human
// GETs of product codes without a live record only in metrics.ClicksUnrecorded.
func handleID(d Deps) idHandler {
	m := d.Metrics
	return func(w http.ResponseWriter, r *http.Request, id string) {
		ctx := r.Context()
		link, ok, err := d.Targets.Link(ctx, id)
		target := link.Target
		if err != nil {
			d.Logger.Warn("short link lookup", "id", id, "err", err)
		}
		if !ok {
			m.IDNotFound.Inc()
			notFound(w, d)
			return
		}
		res := d.Links.Resolve(ctx, target, target, r)
		ua := r.UserAgent()
		bot := clicks.IsBot(ua)
		if bot && d.Previewer != nil && r.Method == http.MethodGet && clicks.IsPreview(ua) {
			if page, ok := d.Previewer.Preview(ctx, target, res.Location, d.BaseURL+"/"+id, r); ok {
				m.IDPreview.Inc()
				writeHTML(w, http.StatusOK, page)
				return
			}
		}
		if !bot && r.Method == http.MethodGet {
			// Only a link someone created is counted in the store: a product code without a live
			// record would add keys that no record owns, for any code a client cares to try.
			if link.Recorded {
				d.Clicks.Record(id, isScan(r.URL.RawQuery))
			} else {
				m.ClicksUnrecorded.Inc()
			}
		}
		switch res.Outcome {
		case resolve.Tagged:
			m.IDTagged.Inc()
		case resolve.Stale:
			m.IDStale.Inc()
		default:
			m.IDUntagged.Inc()
		}
		found(w, res.Location)
	}
}

// isScan reports whether a raw query carries the QR marker.
func isScan(rawQuery string) bool {
	for q := rawQuery; q != ""; {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if k, _, _ := strings.Cut(kv, "="); k == ScanMarker {
			return true
		}
	}
	return false
}

// handleQR serves /{id}/qr.png?size=N&ecc=L|M|Q|H and /{id}/qr.svg?ecc=…: a QR code of the
// link's short URL with the scan marker.
func handleQR(d Deps, format string) idHandler {
	return func(w http.ResponseWriter, r *http.Request, id string) {
		ctx := r.Context()
		if _, ok, _ := d.Targets.Target(ctx, id); !ok {
			notFound(w, d)
			return
		}
		q := r.URL.Query()
		level, err := qr.ParseLevel(q.Get("ecc"))
		if err != nil {
			http.Error(w, "ecc must be one of L, M, Q, H", http.StatusBadRequest)
			return
		}
		content := d.BaseURL + "/" + id + "?" + ScanMarker
		var body []byte
		if format == "png" {
			size := qrDefaultSize
			if s := q.Get("size"); s != "" {
				if size, err = strconv.Atoi(s); err != nil || size < qrMinSize || size > qrMaxSize {
					http.Error(w, "size must be a whole number of pixels from 64 to 2048", http.StatusBadRequest)
					return
				}
			}
			body, err = qr.PNG(content, size, level)
			w.Header().Set("Content-Type", "image/png")
		} else {
			body, err = qr.SVG(content, level)
			w.Header().Set("Content-Type", "image/svg+xml")
		}
		if err != nil {
			d.Logger.Error("qr code", "id", id, "err", err)
			http.Error(w, "could not draw the QR code", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	}
}

// cappedID puts an id handler under the in-flight cap of Limits.capped.
func cappedID(l Limits, h idHandler) idHandler {
	if l.inFlight == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request, id string) {
		if l.enter(w, r) {
			defer l.leave()
			h(w, r, id)
		}
	}
}
