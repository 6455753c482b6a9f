package redirect

import (
	"net/http"
	"strings"

	"github.com/redirector/redirector/internal/clicks"
	"github.com/redirector/redirector/internal/qr"
	"github.com/redirector/redirector/internal/resolve"
	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/stats"
)

// ScanMarker is the query a QR code's URL carries so that scans can be told from clicks.
const ScanMarker = "qr"

// BioMarker is the query a bio page's items carry (/{id}?src=bio) so that their clicks are counted
// with source bio; any other value of src is a plain click.
const BioMarker = "src=bio"

// idHandler serves a request for the short link id, already checked to be well formed.
type idHandler func(w http.ResponseWriter, r *http.Request, id string)

// handleShortLinks serves what the router has no static route for: /{id}, /{id}/qr.png,
// /{id}/qr.svg, /{id}/qr.pdf and the bio pages /@{handle}; anything else is a 404.
func handleShortLinks(d Deps) http.Handler {
	redirect := handleID(d)
	png, svg := cappedID(d.Limits, handleQR(d, qr.FormatPNG)), cappedID(d.Limits, handleQR(d, qr.FormatSVG))
	pdf := cappedID(d.Limits, handleQRPDF(d))
	apiNotFound := adminOnly(d)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	}))
	page := d.Limits.capped(handleBioPage(d))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if isAPI(path) {
			apiNotFound.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(path, "/@") {
			page.ServeHTTP(w, r)
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
		case "qr.pdf":
			h = pdf
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
		if link.ID != "" {
			id = link.ID // a slug typed in another case: the link's own id counts the click
		}
		client := d.Limits.client(r)
		var res resolve.Result
		if link.Channel == "" {
			res = d.Links.Resolve(ctx, target, client)
		} else {
			// A channel dropped from the configuration since: the link still works, on the default.
			ch, ok := d.Channels.normalize(link.Channel)
			if !ok {
				ch = ""
			}
			res = d.Links.ResolveOn(ctx, target, ch, client)
		}
		if d.SubID && res.Outcome != resolve.Untagged {
			res.Location = withSubID(res.Location, id)
		}
		ua := r.UserAgent()
		bot := clicks.IsBot(ua)
		if bot && d.Previewer != nil && r.Method == http.MethodGet && clicks.IsPreview(ua) {
			if page, ok := d.Previewer.Preview(ctx, target, res.Location, d.BaseURL+"/"+id, client); ok {
				m.IDPreview.Inc()
				writeHTML(w, http.StatusOK, page)
				return
			}
		}
		if !bot && r.Method == http.MethodGet {
			// Only a link someone created is counted in the store: a product code without a live
			// record would add keys that no record owns, for any code a client cares to try.
			if link.Recorded {
				d.Clicks.Visit(id, stats.Hit{Addr: client, UserAgent: ua, Referrer: refererHost(r), Source: source(r.URL.RawQuery)})
			} else {
				m.ClicksUnrecorded.Inc()
			}
		}
		if res.NotPromotable && link.Recorded && d.Health != nil {
			d.Health.NotPromotable(id, target) // never blocks
		}
		m.ID.Inc(res.Outcome)
		found(w, res.Location)
	}
}

// source tells a visit's source by the marker its raw query carries: the QR code's (ScanMarker), a bio
// page's (BioMarker), or none.
func source(rawQuery string) stats.Source {
	for q := rawQuery; q != ""; {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if kv == BioMarker {
			return stats.SourceBio
		}
		if k, _, _ := strings.Cut(kv, "="); k == ScanMarker {
			return stats.SourceQR
		}
	}
	return stats.SourceLink
}

// refererHost is the host of r's Referer (see stats.RefererHost), read without canonicalising the
// header's name.
func refererHost(r *http.Request) string {
	if v := r.Header["Referer"]; len(v) > 0 {
		return stats.RefererHost(v[0])
	}
	return ""
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
