package redirect

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/resolve"
)

// homePage is where a share link that cannot be followed right now sends its visitor: an
// AliExpress page, never the share link itself (AliExpress's redirectors are not destinations).
const homePage = "https://www.aliexpress.com/"

// noStore keeps browsers and shared caches from keeping a redirect: every click must reach us.
var noStore = []string{"private, no-store, max-age=0"}

// handleGo serves GET and HEAD /go?u=<url>: a 302 to the affiliate link of an accepted URL.
func handleGo(d Deps) http.Handler {
	m := d.Metrics
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, reason := queryU(r.URL.RawQuery)
		if reason != "" {
			m.GoRejected.Inc()
			badRequest(w, reason)
			return
		}
		page, err := aliurl.Parse(raw)
		if err != nil {
			m.GoRejected.Inc()
			badRequest(w, err.Error())
			return
		}
		if page.Kind == aliurl.Share {
			share := page.URL
			if page, err = d.Shares.Resolve(r.Context(), page); err != nil {
				if errors.Is(err, aliurl.ErrUnreachable) {
					d.Logger.Debug("share link unreachable", "link", share, "err", err)
					m.Go.Inc(resolve.Untagged)
					found(w, homePage)
					return
				}
				m.GoRejected.Inc()
				badRequest(w, err.Error())
				return
			}
		}
		var res resolve.Result
		if c, given, reason := queryC(r.URL.RawQuery); !given {
			res = d.Links.Resolve(r.Context(), page.URL, d.Limits.client(r))
		} else if ch, ok := d.Channels.normalize(c); reason != "" || !ok {
			m.GoRejected.Inc()
			badRequest(w, cmpReason(reason, "unknown channel: c must be one of ALIEXPRESS_TRACKING_IDS"))
			return
		} else {
			res = d.Links.ResolveOn(r.Context(), page.URL, ch, d.Limits.client(r))
		}
		m.Go.Inc(res.Outcome)
		found(w, res.Location)
	})
}

func cmpReason(reason, def string) string {
	if reason != "" {
		return reason
	}
	return def
}

// queryU returns the one value of u in a raw query, or a reason it cannot.
//
// A u that is evidently not percent-encoded, because it starts with a scheme and "://" as written, is taken as
// written, '+' and escapes included, and it runs to the end of the query: a pasted URL's own '&'s belong to it, so
// /go's other parameters go before it. Otherwise u ends at the next '&' and is percent-decoded ('+' is a space).
func queryU(rawQuery string) (value, reason string) {
	n := 0
	for start := 0; start < len(rawQuery); {
		end := strings.IndexByte(rawQuery[start:], '&')
		if end < 0 {
			end = len(rawQuery)
		} else {
			end += start
		}
		k, v, _ := strings.Cut(rawQuery[start:end], "=")
		start = end + 1
		if k != "u" {
			continue
		}
		if n == 0 && literalURL(v) {
			return rawQuery[end-len(v):], ""
		}
		n++
		value = v
	}
	switch {
	case n == 0:
		return "", "missing u: pass the AliExpress URL as /go?u=<url>"
	case n > 1:
		return "", "more than one u parameter"
	}
	if strings.IndexByte(value, '%') < 0 && strings.IndexByte(value, '+') < 0 {
		return value, ""
	}
	v, err := url.QueryUnescape(value)
	if err != nil {
		return "", "malformed URL encoding in u"
	}
	return v, ""
}

// literalURL reports whether a raw u starts with a scheme (letters) and "://" as written: a URL that was not
// percent-encoded, since an encoded one has "%3A%2F%2F" there.
func literalURL(v string) bool {
	i := strings.Index(v, "://")
	if i <= 0 {
		return false
	}
	for j := 0; j < i; j++ {
		if c := v[j] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// found answers 302 to loc, a URL built by the service from validated parts.
func found(w http.ResponseWriter, loc string) {
	h := w.Header()
	h["Location"] = []string{loc}
	h["Cache-Control"] = noStore
	w.WriteHeader(http.StatusFound)
}

// badRequest answers 400 with a short plain reason and no Location.
func badRequest(w http.ResponseWriter, reason string) {
	h := w.Header()
	h["Cache-Control"] = noStore
	http.Error(w, reason, http.StatusBadRequest)
}
