package redirect

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/shortid"
)

// FuzzCreateBody sends POST /api/links any body: the service must answer one of the statuses the
// API documents, with JSON, and a link it makes must lead to an accepted AliExpress page.
func FuzzCreateBody(f *testing.F) {
	for _, tc := range createRejectTests {
		f.Add(tc.body)
	}
	for _, body := range []string{
		`{"url":"https://www.aliexpress.com/item/1005001000000001.html"}`,
		`{"url":"https://m.aliexpress.com/item/1005001000000001.html?spm=a&sku_id=12"}`,
		`{"url":"https://www.aliexpress.com/store/912345","slug":"my-shop"}`,
		`{"url":"https://www.aliexpress.us/item/3256801234567890.html","slug":"us_shop-1"}`,
		`{"url":"https://aliexpress.ru/item/1005001000000002.html"}`,
		`{"url":"https://www.aliexpress.com/w/wholesale-phone.html?SearchText=phone"}`,
		`{"url":"https://star.aliexpress.com/share/share.htm?redirectUrl=https%3A%2F%2Fwww.aliexpress.com%2Fitem%2F1005001000000003.html"}`,
		`{"slug":"only-slug"}`,
		`{"url":null}`,
		`[]`,
		`{"url":"https://www.aliexpress.com/item/1005001000000001.html","url":"https://evil.example"}`,
	} {
		f.Add(body)
	}
	e := newEnv(f, envOptions{})
	f.Fuzz(func(t *testing.T, body string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/links", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusCreated:
			var l linkReply
			if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
				t.Fatalf("POST %q = %d with body %q: %v", body, rec.Code, rec.Body, err)
			}
			if !shortid.Valid(l.ID) || l.ShortURL != testBase+"/"+l.ID {
				t.Errorf("POST %q made id %q, short_url %q: not a valid id under BASE_URL", body, l.ID, l.ShortURL)
			}
			if p, err := aliurl.Parse(l.Target); err != nil || p.URL != l.Target || p.Kind == aliurl.Share {
				t.Errorf("POST %q made target %q, which is not a canonical page (%v)", body, l.Target, err)
			}
		case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge:
			var msg struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &msg); err != nil || msg.Error == "" {
				t.Errorf("POST %q = %d with body %q, want a JSON error", body, rec.Code, rec.Body)
			}
		default:
			t.Fatalf("POST %q = %d %q, want 200, 201, 400, 409 or 413", body, rec.Code, rec.Body)
		}
		if p := counterValue(t, e.metrics.Panics); p != 0 {
			t.Fatalf("POST %q: %v handler panics", body, p)
		}
	})
}

// surfaceMethods are the methods FuzzHTTPSurface picks from.
var surfaceMethods = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut, http.MethodOptions,
}

// FuzzHTTPSurface sends any path, query and User-Agent to the service: it must never answer 5xx,
// and every redirect must lead to an accepted AliExpress page (or, for the router's trailing-slash
// redirects, to a path on this host).
func FuzzHTTPSurface(f *testing.F) {
	code := mustProductCode(f, productID(1))
	for _, tc := range goRejectTests {
		f.Add(uint8(0), "go", tc.query, chromeUA, false)
	}
	seeds := []struct {
		method      uint8
		path, query string
		ua          string
		auth        bool
	}{
		{0, "go", "u=" + product(1), chromeUA, false},
		{1, "go", "u=https%3A%2F%2Fm.aliexpress.com%2Fitem%2F1005001000000002.html%3Fspm%3Dx", googleUA, false},
		{0, "go", "u=https%3A%2F%2Fa.aliexpress.com%2F_mKx1a2B", chromeUA, false},
		{0, "go", "u=https%3A%2F%2Fstar.aliexpress.com%2Fshare%2Fshare.htm%3FredirectUrl%3Dhttps%253A%252F%252Fevil.example", chromeUA, false},
		{0, "go/", "u=" + product(1), chromeUA, false},
		{0, code, "", chromeUA, false},
		{0, code, "qr", facebook, false},
		{1, code, "", curlUA, false},
		{0, code + "/qr.png", "size=64&ecc=Q", chromeUA, false},
		{0, code + "/qr.svg", "ecc=Z", chromeUA, false},
		{0, "seeded-link", "", chromeUA, false},
		{0, "no-such-link", "", "", false},
		{0, "healthz", "", "", false},
		{0, "readyz", "", "", false},
		{0, "robots.txt", "", "", false},
		{0, "admin", "", chromeUA, false},
		{0, "admin/static/console.js", "", chromeUA, false},
		{0, "api/links", "limit=2&cursor=x", chromeUA, true},
		{0, "api/links/seeded-link", "", chromeUA, true},
		{0, "api/links/%7B%7D", "", chromeUA, true},
		{4, "api/links/no-such-link", "", chromeUA, true},
		{3, "api/links/seeded-link", "", chromeUA, true},
		{2, "api/links", "", chromeUA, false},
		{5, "go", "", chromeUA, false},
		{6, "", "", chromeUA, false},
		{0, "/evil.example", "", chromeUA, false},
		{0, "\\evil.example", "", chromeUA, false},
		{0, "go/../admin", "", chromeUA, false},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.ua, s.auth)
	}
	e := newEnv(f, envOptions{})
	r := e.api(http.MethodPost, "/api/links", `{"url":"https://www.aliexpress.com/store/912345","slug":"seeded-link"}`)
	if r.status != http.StatusCreated {
		f.Fatalf("seed link: %s", r)
	}
	f.Fuzz(func(t *testing.T, method uint8, path, query, ua string, auth bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
		req.Method = surfaceMethods[int(method)%len(surfaceMethods)]
		req.URL.Path = "/" + path
		req.URL.RawQuery = query
		req.RequestURI = req.URL.RequestURI()
		req.Header["User-Agent"] = []string{ua}
		if auth {
			req.Header.Set("Authorization", "Bearer "+testToken)
		}
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		what := req.Method + " " + req.URL.Path + "?" + query

		if rec.Code >= 500 || rec.Code < 200 {
			t.Fatalf("%s (UA %q) = %d %q, want no 5xx", what, ua, rec.Code, rec.Body)
		}
		loc := rec.Header().Get("Location")
		switch {
		case rec.Code == http.StatusFound:
			if err := aliurl.CheckDestination(loc); err != nil {
				t.Fatalf("%s = 302 to %q, which CheckDestination refuses: %v", what, loc, err)
			}
			if req.URL.Path == "/go" {
				if raw, reason := queryU(query); reason == "" {
					if p, err := aliurl.Parse(raw); err == nil && p.Kind != aliurl.Share && loc != p.URL && loc != e.platform.Link(p.URL) {
						t.Fatalf("%s = 302 to %q, want %q or its affiliate link", what, loc, p.URL)
					}
				}
			}
		case rec.Code == http.StatusMovedPermanently || rec.Code == http.StatusPermanentRedirect || rec.Code == http.StatusTemporaryRedirect:
			// The router's trailing-slash redirect: a path on this host, never another origin.
			if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
				t.Fatalf("%s = %d to %q, want a path on this host", what, rec.Code, loc)
			}
		case loc != "":
			t.Fatalf("%s = %d with Location %q, want no Location", what, rec.Code, loc)
		}
		if p := counterValue(t, e.metrics.Panics); p != 0 {
			t.Fatalf("%s: %v handler panics", what, p)
		}
	})
}
