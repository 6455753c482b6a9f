package redirect

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/redirector/redirector/internal/qr"
)

// handleQR serves /{id}/qr.png?size=N&ecc=L|M|Q|H and /{id}/qr.svg?ecc=…: a QR code of the
// link's short URL with the scan marker, for a live link or any product code.
//
//   - Codes come from d.QR: a code asked for before is a lookup, not a rendering.
//   - Every answer carries a strong ETag that names the rendering (content, format, size, level
//     and the renderer's version); an If-None-Match that names it gets 304 without a rendering,
//     cached or not.
//   - Each client has a budget of renderings (Limits' RenderRate, RenderBurst): an uncached code
//     past it gets 429 with the Retry-After of its next token, so one client cannot keep the
//     renderer to itself.
//   - Rendering is capped (qr.CacheOptions.MaxRendering): an uncached code past the cap gets 503
//     with Retry-After: 1 at once. Cached codes and 304s are served whatever the budget and the cap.
func handleQR(d Deps, format qr.Format) idHandler {
	return func(w http.ResponseWriter, r *http.Request, id string) {
		ctx := r.Context()
		if _, ok, _ := d.Targets.Link(ctx, id); !ok {
			notFound(w, d)
			return
		}
		q := r.URL.Query()
		level, err := qr.ParseLevel(q.Get("ecc"))
		if err != nil {
			http.Error(w, "ecc must be one of L, M, Q, H", http.StatusBadRequest)
			return
		}
		spec := qr.Spec{Content: d.BaseURL + "/" + id + "?" + ScanMarker, Format: format, Level: level}
		if format == qr.FormatPNG {
			spec.Size = qr.DefaultSize
			if s := q.Get("size"); s != "" {
				if spec.Size, err = strconv.Atoi(s); err != nil || spec.Size < qr.MinSize || spec.Size > qr.MaxSize {
					http.Error(w, "size must be a whole number of pixels from 64 to 2048", http.StatusBadRequest)
					return
				}
			}
		}
		code, cached := d.QR.Lookup(spec)
		if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
			etag := code.ETag
			if !cached {
				etag = spec.ETag()
			}
			if noneMatch(inm, etag) {
				setQRCaching(w.Header(), etag)
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		if !cached {
			if ok, retry := d.Limits.renderAllowed(r); !ok {
				w.Header().Set("Retry-After", strconv.Itoa(int(max(1, math.Ceil(retry.Seconds())))))
				http.Error(w, "too many new QR codes from this client: try again in a moment", http.StatusTooManyRequests)
				return
			}
			if code, err = d.QR.Render(spec); errors.Is(err, qr.ErrBusy) {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "too many QR codes being drawn: try again in a moment", http.StatusServiceUnavailable)
				return
			} else if err != nil {
				d.Logger.Error("qr code", "id", id, "err", err)
				http.Error(w, "could not draw the QR code", http.StatusInternalServerError)
				return
			}
		}
		h := w.Header()
		setQRCaching(h, code.ETag)
		if format == qr.FormatPNG {
			h.Set("Content-Type", "image/png")
		} else {
			h.Set("Content-Type", "image/svg+xml")
		}
		h.Set("Content-Length", strconv.Itoa(len(code.Body)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(code.Body)
		}
	}
}

// setQRCaching sets the headers that a QR code's 200 and 304 share: a code never changes for its
// URL, so any cache may keep it a day.
func setQRCaching(h http.Header, etag string) {
	h.Set("ETag", etag)
	h.Set("Cache-Control", "public, max-age=86400")
}

// noneMatch reports whether the If-None-Match field values name etag, by the weak comparison
// RFC 9110 (13.1.2) asks for, or are "*". A malformed list matches nothing from its first fault.
func noneMatch(values []string, etag string) bool {
	for _, v := range values {
		for {
			v = strings.TrimLeft(v, " \t,")
			if v == "" {
				break
			}
			if v[0] == '*' {
				return true
			}
			v = strings.TrimPrefix(v, "W/")
			if v == "" || v[0] != '"' {
				break
			}
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				break
			}
			if v[:end+2] == etag {
				return true
			}
			v = v[end+2:]
		}
	}
	return false
}
