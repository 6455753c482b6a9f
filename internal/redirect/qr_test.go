package redirect

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redirector/redirector/internal/qr"
)

// renderCounter is a qr.CacheOptions.Render that counts renderings. While hold is set, a rendering
// of a PNG of hold's size reports itself on started and waits for release.
type renderCounter struct {
	n       atomic.Int64
	hold    int
	started chan qr.Spec
	release chan struct{}
}

func (c *renderCounter) render(s qr.Spec) ([]byte, error) {
	c.n.Add(1)
	if c.hold != 0 && s.Format == qr.FormatPNG && s.Size == c.hold {
		c.started <- s
		<-c.release
	}
	return qr.Render(s)
}

// countingCache returns a cache whose renderings c counts.
func countingCache(c *renderCounter, opts qr.CacheOptions) *qr.Cache {
	opts.Render = c.render
	return qr.NewCache(opts)
}

// A code asked for again is served from the cache: the second identical request renders nothing.
func TestQRRenderedOnce(t *testing.T) {
	t.Parallel()
	var renders renderCounter
	e := newEnv(t, envOptions{QR: countingCache(&renders, qr.CacheOptions{})})
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(210)), http.StatusCreated).ID
	code := mustProductCode(t, productID(211)) // no record
	tests := []struct {
		name, path, contentType string
	}{
		{"png default", "/" + id + "/qr.png", "image/png"},
		{"png large high", "/" + id + "/qr.png?size=2048&ecc=H", "image/png"},
		{"svg", "/" + id + "/qr.svg?ecc=Q", "image/svg+xml"},
		{"product code", "/" + code + "/qr.png?size=2048&ecc=H", "image/png"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := renders.n.Load()
			first := e.get(tc.path)
			if first.status != http.StatusOK || first.header.Get("Content-Type") != tc.contentType {
				t.Fatalf("GET %s = %d %q, want 200 %s", tc.path, first.status, first.header.Get("Content-Type"), tc.contentType)
			}
			if got := renders.n.Load() - before; got != 1 {
				t.Errorf("GET %s rendered %d codes, want 1", tc.path, got)
			}
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				again := e.request(method, tc.path, nil)
				if again.status != http.StatusOK || again.header.Get("ETag") != first.header.Get("ETag") ||
					again.header.Get("Content-Length") != strconv.Itoa(len(first.body)) {
					t.Errorf("%s %s again = %d ETag %q Content-Length %q, want 200 ETag %q Content-Length %d", method, tc.path,
						again.status, again.header.Get("ETag"), again.header.Get("Content-Length"), first.header.Get("ETag"), len(first.body))
				}
				if method == http.MethodGet && string(again.body) != string(first.body) {
					t.Errorf("GET %s again: body differs from the first answer", tc.path)
				}
			}
			if got := renders.n.Load() - before; got != 1 {
				t.Errorf("GET %s, then GET and HEAD again: %d renderings, want 1", tc.path, got)
			}
		})
	}
	if s := e.opts.QR.Stats(); s.Renders != uint64(len(tests)) || s.Hits != 2*uint64(len(tests)) {
		t.Errorf("cache stats %+v, want %d renders and %d hits", s, len(tests), 2*len(tests))
	}
}

// Every QR answer carries a strong ETag; If-None-Match with it gets 304 with no body, without a
// rendering, also from a service that never rendered the code.
func TestQRNotModified(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(212)), http.StatusCreated).ID
	paths := []string{
		"/" + id + "/qr.png", "/" + id + "/qr.png?size=2048", "/" + id + "/qr.png?size=2048&ecc=H",
		"/" + id + "/qr.svg", "/" + id + "/qr.svg?ecc=H", "/" + mustProductCode(t, productID(213)) + "/qr.png",
	}
	etags := map[string]string{} // path → ETag
	seen := map[string]string{}  // ETag → path
	for _, p := range paths {
		r := e.get(p)
		tag := r.header.Get("ETag")
		if r.status != http.StatusOK || len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
			t.Fatalf("GET %s = %d ETag %q, want 200 and a strong ETag", p, r.status, tag)
		}
		if cc := r.header.Get("Cache-Control"); cc != "public, max-age=86400" {
			t.Errorf("GET %s: Cache-Control %q, want %q", p, cc, "public, max-age=86400")
		}
		if other, ok := seen[tag]; ok {
			t.Errorf("GET %s and GET %s share the ETag %s", p, other, tag)
		}
		etags[p], seen[tag] = tag, p
	}

	// A second service with a cache of its own: what a restart or another replica sees.
	var renders renderCounter
	fresh := newEnv(t, envOptions{Redis: e.redis, Platform: e.platform, QR: countingCache(&renders, qr.CacheOptions{})})
	png, svg := paths[2], paths[4]
	tests := []struct {
		name, method, path, ifNoneMatch string
		want                            int
	}{
		{"png", http.MethodGet, png, etags[png], http.StatusNotModified},
		{"png head", http.MethodHead, png, etags[png], http.StatusNotModified},
		{"svg", http.MethodGet, svg, etags[svg], http.StatusNotModified},
		{"weak form", http.MethodGet, png, "W/" + etags[png], http.StatusNotModified},
		{"in a list", http.MethodGet, png, `"nope", ` + etags[png], http.StatusNotModified},
		{"star", http.MethodGet, svg, "*", http.StatusNotModified},
		{"another size's tag", http.MethodGet, png, etags[paths[1]], http.StatusOK},
		{"another level's tag", http.MethodGet, svg, etags[paths[3]], http.StatusOK},
		{"unquoted", http.MethodGet, paths[0], etags[paths[0]][1 : len(etags[paths[0]])-1], http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := renders.n.Load()
			r := fresh.request(tc.method, tc.path, nil, "If-None-Match", tc.ifNoneMatch)
			if r.status != tc.want {
				t.Fatalf("%s %s If-None-Match %s = %s, want %d", tc.method, tc.path, tc.ifNoneMatch, r, tc.want)
			}
			if tag := r.header.Get("ETag"); tag != etags[tc.path] {
				t.Errorf("%s %s: ETag %q, want %q", tc.method, tc.path, tag, etags[tc.path])
			}
			if tc.want != http.StatusNotModified {
				return
			}
			if len(r.body) != 0 {
				t.Errorf("%s %s If-None-Match %s: 304 with a body of %d bytes", tc.method, tc.path, tc.ifNoneMatch, len(r.body))
			}
			if cc := r.header.Get("Cache-Control"); cc != "public, max-age=86400" {
				t.Errorf("%s %s: 304 with Cache-Control %q, want %q", tc.method, tc.path, cc, "public, max-age=86400")
			}
			if got := renders.n.Load() - before; got != 0 {
				t.Errorf("%s %s If-None-Match %s rendered %d codes, want none", tc.method, tc.path, tc.ifNoneMatch, got)
			}
		})
	}
	// A deleted link's code is gone, whatever the client holds.
	if r := e.api(http.MethodDelete, "/api/links/"+id, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE /api/links/%s = %s, want 204", id, r)
	}
	if r := e.get(png, "If-None-Match", etags[png]); r.status != http.StatusNotFound {
		t.Errorf("GET %s of a deleted link with If-None-Match = %s, want 404", png, r)
	}
}

// Past the render cap an uncached code gets 503 with Retry-After at once; cached codes and 304s are
// still served.
func TestQRRenderCap(t *testing.T) {
	t.Parallel()
	renders := renderCounter{hold: 999, started: make(chan qr.Spec), release: make(chan struct{})}
	cache := countingCache(&renders, qr.CacheOptions{MaxRendering: 1})
	e := newEnv(t, envOptions{QR: cache})
	release := sync.OnceFunc(func() { close(renders.release) })
	t.Cleanup(release) // before the server drains, should the test stop early
	id := e.create(fmt.Sprintf(`{"url":%q}`, product(214)), http.StatusCreated).ID
	path := func(size int) string { return "/" + id + "/qr.png?size=" + strconv.Itoa(size) }

	cached := e.get(path(100))
	if cached.status != http.StatusOK {
		t.Fatalf("GET %s = %s, want 200", path(100), cached)
	}
	held := make(chan reply)
	go func() { held <- e.get(path(999)) }()
	<-renders.started // the only rendering slot is taken until release

	tests := []struct {
		name, path, ifNoneMatch string
		want                    int
	}{
		{"uncached", path(200), "", http.StatusServiceUnavailable},
		{"uncached svg", "/" + id + "/qr.svg", "", http.StatusServiceUnavailable},
		{"cached", path(100), "", http.StatusOK},
		{"cached, not modified", path(100), cached.header.Get("ETag"), http.StatusNotModified},
		{"uncached, not modified", path(300), qr.Spec{Content: testBase + "/" + id + "?qr", Size: 300}.ETag(), http.StatusNotModified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.get(tc.path, "If-None-Match", tc.ifNoneMatch)
			if r.status != tc.want {
				t.Fatalf("GET %s If-None-Match %q with the render cap full = %d %q, want %d",
					tc.path, tc.ifNoneMatch, r.status, r.header.Get("Content-Type"), tc.want)
			}
			if tc.want != http.StatusServiceUnavailable {
				return
			}
			if ra := r.header.Get("Retry-After"); ra != "1" {
				t.Errorf("GET %s past the render cap: Retry-After %q, want 1", tc.path, ra)
			}
			if len(r.body) == 0 || r.header.Get("ETag") != "" {
				t.Errorf("GET %s past the render cap: body %q ETag %q, want a reason and no ETag", tc.path, r.body, r.header.Get("ETag"))
			}
		})
	}
	release()
	if r := <-held; r.status != http.StatusOK {
		t.Errorf("GET %s, held, then released = %s, want 200", path(999), r)
	}
	if r := e.get(path(200)); r.status != http.StatusOK {
		t.Errorf("GET %s after the cap freed = %s, want 200", path(200), r)
	}
	if s := cache.Stats(); s.Refused != 2 {
		t.Errorf("cache stats %+v, want 2 refused", s)
	}
}

// However many distinct codes a client asks for, the cache keeps no more bytes than its bound.
func TestQRCacheBound(t *testing.T) {
	t.Parallel()
	const bound = 64 << 10
	cache := qr.NewCache(qr.CacheOptions{MaxBytes: bound})
	e := newEnv(t, envOptions{QR: cache})
	code := mustProductCode(t, productID(215))
	var total int
	for size := qr.MinSize; size <= qr.MaxSize; size += 31 {
		p := "/" + code + "/qr.png?ecc=H&size=" + strconv.Itoa(size)
		r := e.get(p)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s = %s, want 200", p, r)
		}
		total += len(r.body)
		if s := cache.Stats(); s.Bytes == 0 || s.Bytes > bound {
			t.Fatalf("after GET %s (%d bytes of codes served): cache weighs %d bytes, want 1 to %d", p, total, s.Bytes, bound)
		}
	}
	if total <= bound {
		t.Errorf("served %d bytes of codes in all, want more than the bound %d for the test to mean anything", total, bound)
	}
}

func TestNoneMatch(t *testing.T) {
	const tag = `"abc"`
	tests := []struct {
		name   string
		values []string
		want   bool
	}{
		{"none", nil, false},
		{"empty", []string{""}, false},
		{"exact", []string{`"abc"`}, true},
		{"weak", []string{`W/"abc"`}, true},
		{"star", []string{"*"}, true},
		{"list", []string{`"x", "y" ,"abc"`}, true},
		{"second field", []string{`"x"`, `"abc"`}, true},
		{"other", []string{`"abd"`}, false},
		{"unquoted", []string{`abc`}, false},
		{"prefix", []string{`"ab"`}, false},
		{"longer", []string{`"abcd"`}, false},
		{"unterminated", []string{`"abc`}, false},
		{"bad then good field", []string{`abc`, `"abc"`}, true},
		{"lower-case weak", []string{`w/"abc"`}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := noneMatch(tc.values, tag); got != tc.want {
				t.Errorf("noneMatch(%q, %s) = %v, want %v", tc.values, tag, got, tc.want)
			}
		})
	}
}

// One client past its budget of renderings gets 429 for a new code, while its cached codes and 304s
// are served and another client still gets new codes drawn: a flood of uncacheable codes from one
// client (new product codes, new sizes) costs at most its budget of renderings.
func TestQRRenderBudgetPerClient(t *testing.T) {
	t.Parallel()
	const burst = 3
	var renders renderCounter
	e := newEnv(t, envOptions{
		QR:     countingCache(&renders, qr.CacheOptions{}),
		Limits: &LimitOptions{RenderRate: 0.001, RenderBurst: burst, TrustedProxies: localProxy},
	})
	code := mustProductCode(t, productID(216))
	path := func(size int) string { return "/" + code + "/qr.png?ecc=H&size=" + strconv.Itoa(size) }
	const hostile, other = "203.0.113.7", "198.51.100.9"
	for size := 100; size < 100+burst; size++ {
		if r := e.get(path(size), "X-Forwarded-For", hostile); r.status != http.StatusOK {
			t.Fatalf("GET %s, rendering %d of a budget of %d = %s, want 200", path(size), size-99, burst, r)
		}
	}
	tests := []struct {
		name, path, client, ifNoneMatch string
		want                            int
	}{
		{"new code past the budget", path(200), hostile, "", http.StatusTooManyRequests},
		{"new svg past the budget", "/" + code + "/qr.svg", hostile, "", http.StatusTooManyRequests},
		{"cached code", path(100), hostile, "", http.StatusOK},
		{"not modified", path(300), hostile, qr.Spec{Content: testBase + "/" + code + "?qr", Size: 300, Level: qr.High}.ETag(), http.StatusNotModified},
		{"another client", path(200), other, "", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.get(tc.path, "X-Forwarded-For", tc.client, "If-None-Match", tc.ifNoneMatch)
			if r.status != tc.want {
				t.Fatalf("GET %s from %s If-None-Match %q = %s, want %d", tc.path, tc.client, tc.ifNoneMatch, r, tc.want)
			}
			if tc.want != http.StatusTooManyRequests {
				return
			}
			if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("GET %s past the budget: Retry-After %q, want a whole number of seconds ≥ 1", tc.path, r.header.Get("Retry-After"))
			}
			if len(r.body) == 0 || r.header.Get("ETag") != "" {
				t.Errorf("GET %s past the budget: body %q ETag %q, want a reason and no ETag", tc.path, r.body, r.header.Get("ETag"))
			}
		})
	}
	if got := renders.n.Load(); got != burst+1 {
		t.Errorf("%d renderings, want %d (the hostile client's budget, and one for the other client)", got, burst+1)
	}
}
