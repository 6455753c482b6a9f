package redirect

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchWriter is a ResponseWriter that keeps nothing, so a benchmark counts the handler's own
// allocations; its header map is cleared, not replaced, between requests, as net/http's own
// per-request allocations are not ours to count.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(code int)        { w.status = code }

func benchRedirect(b *testing.B, h http.Handler, path string) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("User-Agent", chromeUA)
	w := &benchWriter{h: make(http.Header)}
	h.ServeHTTP(w, req) // the first click fills the cache
	if w.status != http.StatusFound {
		b.Fatalf("GET %s = %d, want 302", path, w.status)
	}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusFound {
			b.Fatalf("GET %s = %d, want 302", path, w.status)
		}
	}
}

// BenchmarkBaseline is a handler that answers a constant 302: the floor the others are measured against.
func BenchmarkBaseline(b *testing.B) {
	loc := []string{"https://www.aliexpress.com/item/1005001000000001.html"}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Location"] = loc
		w.WriteHeader(http.StatusFound)
	})
	benchRedirect(b, h, "/x")
}

// BenchmarkGoCached is a click on /go?u= whose affiliate link is in the first tier.
func BenchmarkGoCached(b *testing.B) {
	e := newEnv(b, envOptions{})
	benchRedirect(b, e.handler, goPath("https://m.aliexpress.com/item/1005001000000001.html?spm=a2g0o.home.0.0"))
}

// BenchmarkIDCached is a click on a short link whose record and affiliate link are in the first tier.
func BenchmarkIDCached(b *testing.B) {
	e := newEnv(b, envOptions{})
	l := e.create(`{"url":"https://www.aliexpress.com/item/1005001000000002.html"}`, http.StatusCreated)
	benchRedirect(b, e.handler, "/"+l.ID)
}

// BenchmarkQRCached is a QR code that was rendered before: a lookup, not a rendering.
func BenchmarkQRCached(b *testing.B) {
	e := newEnv(b, envOptions{})
	path := "/" + mustProductCode(b, productID(216)) + "/qr.png?size=2048&ecc=H"
	req := httptest.NewRequest(http.MethodGet, path, nil)
	w := &benchWriter{h: make(http.Header)}
	e.handler.ServeHTTP(w, req) // the first request renders
	// A body written with no status is a 200: benchWriter keeps the status 0 then.
	if w.status != 0 || w.h.Get("ETag") == "" {
		b.Fatalf("GET %s = %d ETag %q, want 200 and an ETag", path, w.status, w.h.Get("ETag"))
	}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.status = 0
		e.handler.ServeHTTP(w, req)
		if w.status != 0 {
			b.Fatalf("GET %s = %d, want 200", path, w.status)
		}
	}
}
