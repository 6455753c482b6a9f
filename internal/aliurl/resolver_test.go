package aliurl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
)

// shareHosts stands in for AliExpress's short-link hosts: a TLS server with a certificate for *.aliexpress.com
// that answers each "host/path" from routes, and a Resolver whose dialer sends every (checked) address to it.
type shareHosts struct {
	t      *testing.T
	srv    *httptest.Server
	routes map[string]http.HandlerFunc

	mu    sync.Mutex // guards hits and dials
	hits  map[string]int
	dials []string
}

func newShareHosts(t *testing.T) *shareHosts {
	t.Helper()
	h := &shareHosts{t: t, routes: make(map[string]http.HandlerFunc), hits: make(map[string]int)}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Host + r.URL.Path
		h.mu.Lock()
		h.hits[key]++
		route := h.routes[key]
		h.mu.Unlock()
		if route == nil {
			http.NotFound(w, r)
			return
		}
		route(w, r)
	}))
	h.srv.TLS = &tls.Config{Certificates: []tls.Certificate{testCertificate(t)}}
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
	return h
}

// redirect makes from (a host and path) answer 302 to location.
func (h *shareHosts) redirect(from, location string) {
	h.routes[from] = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", location)
		w.WriteHeader(http.StatusFound)
	}
}

func (h *shareHosts) hitCount(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[key]
}

func (h *shareHosts) resolver(cfg ResolverConfig) *Resolver {
	pool := x509.NewCertPool()
	pool.AddCert(h.srv.Certificate())
	cfg.TLSClientConfig = &tls.Config{RootCAs: pool}
	cfg.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.mu.Lock()
		h.dials = append(h.dials, addr)
		h.mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, h.srv.Listener.Addr().String())
	}
	r := NewResolver(cfg)
	h.t.Cleanup(func() {
		// Every address the resolver asked for must have been an accepted host on 80 or 443.
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, a := range h.dials {
			host, port, err := net.SplitHostPort(a)
			if err != nil || !IsAliExpressHost(host) || port != "443" {
				h.t.Errorf("resolver dialled %q", a)
			}
		}
	})
	return r
}

// testCertificate returns a self-signed certificate for the AliExpress names the tests use.
func testCertificate(t *testing.T) tls.Certificate {
	t.Helper()
	cert, err := affiliatetest.ShareCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func mustParse(t *testing.T, raw string) Page {
	t.Helper()
	p, err := Parse(raw)
	if err != nil {
		t.Fatalf("Parse(%q) = %v", raw, err)
	}
	return p
}

func TestResolve(t *testing.T) {
	product := "https://m.aliexpress.com/item/" + pid + ".html?sku_id=" + sku + "&spm=x&aff_fcid=y"
	want := Page{Kind: Product, ID: pid, SKU: sku, URL: canonS}

	tests := []struct {
		name   string
		routes map[string]string // host+path → Location
		start  string
		want   Page
		reason string // the error's reason when want is the zero Page
	}{
		{
			name:   "app link to affiliate link to product",
			routes: map[string]string{"a.aliexpress.com/_abc": "https://s.click.aliexpress.com/e/_xyz?bz=1", "s.click.aliexpress.com/e/_xyz": product},
			start:  "https://a.aliexpress.com/_abc",
			want:   want,
		},
		{
			name:   "relative location",
			routes: map[string]string{"a.aliexpress.com/_abc": "/_def", "a.aliexpress.com/_def": product},
			start:  "https://a.aliexpress.com/_abc",
			want:   want,
		},
		{
			name:   "through a star wrapper",
			routes: map[string]string{"a.aliexpress.com/_abc": "https://star.aliexpress.com/share/share.htm?redirectUrl=" + url.QueryEscape(product)},
			start:  "https://a.aliexpress.com/_abc",
			want:   want,
		},
		{
			name:   "store page",
			routes: map[string]string{"s.click.aliexpress.com/e/_store": "https://m.aliexpress.com/store/912345?spm=x"},
			start:  "https://s.click.aliexpress.com/e/_store",
			want:   Page{Kind: Store, ID: "912345", URL: "https://www.aliexpress.com/store/912345"},
		},
		{
			name: "five hops",
			routes: map[string]string{
				"a.aliexpress.com/_1": "https://a.aliexpress.com/_2", "a.aliexpress.com/_2": "https://a.aliexpress.com/_3",
				"a.aliexpress.com/_3": "https://a.aliexpress.com/_4", "a.aliexpress.com/_4": "https://a.aliexpress.com/_5",
				"a.aliexpress.com/_5": product,
			},
			start: "https://a.aliexpress.com/_1",
			want:  want,
		},
		{
			name: "six hops",
			routes: map[string]string{
				"a.aliexpress.com/_1": "https://a.aliexpress.com/_2", "a.aliexpress.com/_2": "https://a.aliexpress.com/_3",
				"a.aliexpress.com/_3": "https://a.aliexpress.com/_4", "a.aliexpress.com/_4": "https://a.aliexpress.com/_5",
				"a.aliexpress.com/_5": "https://a.aliexpress.com/_6", "a.aliexpress.com/_6": product,
			},
			start:  "https://a.aliexpress.com/_1",
			reason: errShareOffsite,
		},
		{
			name:   "loop",
			routes: map[string]string{"a.aliexpress.com/_abc": "https://s.click.aliexpress.com/e/_xyz", "s.click.aliexpress.com/e/_xyz": "https://a.aliexpress.com/_abc"},
			start:  "https://a.aliexpress.com/_abc",
			reason: errShareOffsite,
		},
		{
			name:   "to another site",
			routes: map[string]string{"a.aliexpress.com/_abc": "https://evil.example/item/" + pid + ".html"},
			start:  "https://a.aliexpress.com/_abc",
			reason: errShareOffsite,
		},
		{
			name:   "to a local address",
			routes: map[string]string{"a.aliexpress.com/_abc": "http://127.0.0.1:8080/"},
			start:  "https://a.aliexpress.com/_abc",
			reason: errShareOffsite,
		},
		{
			name:   "to another port",
			routes: map[string]string{"a.aliexpress.com/_abc": "https://s.click.aliexpress.com:8443/e/_xyz"},
			start:  "https://a.aliexpress.com/_abc",
			reason: errShareOffsite,
		},
		{
			name:   "to user info trick",
			routes: map[string]string{"a.aliexpress.com/_abc": "https://s.click.aliexpress.com@evil.example/e/_xyz"},
			start:  "https://a.aliexpress.com/_abc",
			reason: errShareOffsite,
		},
		{
			name:   "scheme-relative location",
			routes: map[string]string{"a.aliexpress.com/_abc": "//evil.example/"},
			start:  "https://a.aliexpress.com/_abc",
			reason: errShareOffsite,
		},
		{
			name:   "to an app scheme",
			routes: map[string]string{"a.aliexpress.com/_abc": "aliexpress://product/detail?productId=" + pid},
			start:  "https://a.aliexpress.com/_abc",
			reason: errShareOffsite,
		},
		{
			name:   "star wrapper to another site",
			routes: map[string]string{"a.aliexpress.com/_abc": "https://star.aliexpress.com/share/share.htm?redirectUrl=https%3A%2F%2Fevil.example%2F"},
			start:  "https://a.aliexpress.com/_abc",
			reason: errShareOffsite,
		},
		{
			name:   "unknown link",
			routes: map[string]string{},
			start:  "https://a.aliexpress.com/_gone",
			reason: errShareGone,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newShareHosts(t)
			for from, loc := range tc.routes {
				h.redirect(from, loc)
			}
			r := h.resolver(ResolverConfig{})
			got, err := r.Resolve(t.Context(), mustParse(t, tc.start))
			if tc.reason != "" {
				var e *Error
				if !errors.As(err, &e) || e.Reason != tc.reason {
					t.Fatalf("Resolve(%q) = %+v, %v; want error %q", tc.start, got, err, tc.reason)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Resolve(%q) = %+v, %v; want %+v", tc.start, got, err, tc.want)
			}
		})
	}
}

func TestResolveLeavesOtherPagesAlone(t *testing.T) {
	r := NewResolver(ResolverConfig{
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			t.Error("Resolve dialled for a page that is not a share link")
			return nil, errors.New("no network")
		},
	})
	for _, raw := range []string{canonS, "https://www.aliexpress.com/store/912345", "https://www.aliexpress.com/"} {
		p := mustParse(t, raw)
		if got, err := r.Resolve(t.Context(), p); err != nil || got != p {
			t.Errorf("Resolve(%+v) = %+v, %v; want it unchanged", p, got, err)
		}
	}
}

func TestResolveRefusesForgedPages(t *testing.T) {
	r := NewResolver(ResolverConfig{
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			t.Error("Resolve dialled for a forged page")
			return nil, errors.New("no network")
		},
	})
	for _, p := range []Page{
		{Kind: Share, URL: "https://evil.example/_abc"},
		{Kind: Share, URL: canon},
		{Kind: Share},
	} {
		if got, err := r.Resolve(t.Context(), p); err != errShareInvalid {
			t.Errorf("Resolve(%+v) = %+v, %v; want %v", p, got, err, errShareInvalid)
		}
	}
}

// testClock is a clock the test moves forward.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// refusedAddr returns a loopback address where nothing listens: connecting to it is refused.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// hangUp stands for a host that never answers: it waits for the client to give up, then drops the
// connection without a response. A handler that returned instead would have the server write an implied
// 200, which the client can still read when it races the client's close (the transport sends TLS's
// close_notify before it closes the socket, and takes a response that arrived meanwhile).
func hangUp(r *http.Request) {
	<-r.Context().Done()
	panic(http.ErrAbortHandler)
}

// TestResolveUnreachable: a share link that cannot be followed is an ErrUnreachable error, remembered for
// UnreachableTTL (no request within it), then asked again.
func TestResolveUnreachable(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) { hangUp(r) }
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if code == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "60")
			}
			http.Error(w, http.StatusText(code), code)
		}
	}
	hijack := func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	tests := []struct {
		name    string
		route   http.HandlerFunc // nil: the connection is refused
		timeout bool             // the cause is a time-out
	}{
		{name: "time-out", route: hang, timeout: true},
		{name: "503", route: status(http.StatusServiceUnavailable)},
		{name: "500", route: status(http.StatusInternalServerError)},
		{name: "429", route: status(http.StatusTooManyRequests)},
		{name: "403", route: status(http.StatusForbidden)},
		{name: "connection dropped", route: hijack},
		{name: "connection refused"},
	}
	const link = "https://a.aliexpress.com/_down"
	const ttl = 30 * time.Second
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newShareHosts(t)
			var clock testClock
			r := h.resolver(ResolverConfig{Timeout: 200 * time.Millisecond, UnreachableTTL: ttl, Now: clock.Now})
			var dials atomic.Int32
			if tc.route == nil {
				closed := refusedAddr(t)
				r = NewResolver(ResolverConfig{UnreachableTTL: ttl, Now: clock.Now,
					DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
						dials.Add(1)
						var d net.Dialer
						return d.DialContext(ctx, network, closed)
					}})
			} else {
				h.routes["a.aliexpress.com/_down"] = tc.route
			}
			attempts := func() int {
				if tc.route == nil {
					return int(dials.Load())
				}
				return h.hitCount("a.aliexpress.com/_down")
			}
			p := mustParse(t, link)

			_, err := r.Resolve(t.Context(), p)
			var e *Error
			if !errors.As(err, &e) || e.Reason != errShareUnresolved || !errors.Is(err, ErrUnreachable) {
				t.Fatalf("Resolve(%s) = %v; want %q wrapping ErrUnreachable", tc.name, err, errShareUnresolved)
			}
			var ne net.Error
			if tc.timeout && (!errors.As(err, &ne) || !ne.Timeout()) {
				t.Errorf("Resolve(%s) = %v; want it caused by a time-out", tc.name, err)
			}
			if n := attempts(); n < 1 {
				t.Fatalf("share host reached %d times, want at least 1", n)
			}
			first := attempts()

			clock.Advance(ttl - time.Second)
			if _, err := r.Resolve(t.Context(), p); !errors.Is(err, ErrUnreachable) {
				t.Errorf("Resolve(%s) again within UnreachableTTL = %v; want the remembered failure", tc.name, err)
			}
			if n := attempts(); n != first {
				t.Errorf("share host reached %d times after a second click within UnreachableTTL, want %d (no new request)", n, first)
			}

			clock.Advance(2 * time.Second)
			if _, err := r.Resolve(t.Context(), p); !errors.Is(err, ErrUnreachable) {
				t.Errorf("Resolve(%s) after UnreachableTTL = %v; want it unreachable still", tc.name, err)
			}
			if n := attempts(); n <= first {
				t.Errorf("share host reached %d times after UnreachableTTL, want more than %d (asked again)", n, first)
			}
		})
	}
}

func TestResolveRecoversAfterUnreachableTTL(t *testing.T) {
	h := newShareHosts(t)
	var slow atomic.Bool
	slow.Store(true)
	h.routes["a.aliexpress.com/_slow"] = func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			hangUp(r)
		}
		w.Header().Set("Location", canon)
		w.WriteHeader(http.StatusFound)
	}
	var clock testClock
	r := h.resolver(ResolverConfig{Timeout: 100 * time.Millisecond, Now: clock.Now})
	p := mustParse(t, "https://a.aliexpress.com/_slow")
	if _, err := r.Resolve(t.Context(), p); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Resolve(slow link) = %v; want ErrUnreachable", err)
	}
	slow.Store(false)
	clock.Advance(31 * time.Second) // the default UnreachableTTL is 30s
	got, err := r.Resolve(t.Context(), p)
	if err != nil || got.URL != canon {
		t.Fatalf("Resolve(slow link) after it recovered = %+v, %v; want %s", got, err, canon)
	}
	if n := h.hitCount("a.aliexpress.com/_slow"); n != 2 {
		t.Errorf("share host hit %d times, want 2", n)
	}
}

// TestResolveGone: a share host's 404 or 410 is its word that the link does not exist: an error that is not
// ErrUnreachable, remembered for NegativeTTL.
func TestResolveGone(t *testing.T) {
	for _, code := range []int{http.StatusNotFound, http.StatusGone} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			h := newShareHosts(t)
			h.routes["a.aliexpress.com/_gone"] = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
			var clock testClock
			r := h.resolver(ResolverConfig{Now: clock.Now})
			p := mustParse(t, "https://a.aliexpress.com/_gone")
			for range 2 {
				_, err := r.Resolve(t.Context(), p)
				if err == nil || err.Error() != errShareGone || errors.Is(err, ErrUnreachable) {
					t.Fatalf("Resolve(%d link) = %v; want %q, not ErrUnreachable", code, err, errShareGone)
				}
				clock.Advance(4 * time.Minute) // within the default NegativeTTL of 5m
			}
			if n := h.hitCount("a.aliexpress.com/_gone"); n != 1 {
				t.Errorf("share host hit %d times, want 1 (the answer is remembered)", n)
			}
		})
	}
}

func TestResolveCaches(t *testing.T) {
	h := newShareHosts(t)
	h.redirect("a.aliexpress.com/_abc", "https://s.click.aliexpress.com/e/_xyz")
	h.redirect("s.click.aliexpress.com/e/_xyz", canon+"?spm=1")
	h.redirect("a.aliexpress.com/_off", "https://evil.example/")
	r := h.resolver(ResolverConfig{})

	ok := mustParse(t, "https://a.aliexpress.com/_abc")
	off := mustParse(t, "https://a.aliexpress.com/_off")
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if got, err := r.Resolve(t.Context(), ok); err != nil || got.URL != canon {
				t.Errorf("Resolve(%q) = %+v, %v; want %s", ok.URL, got, err, canon)
			}
			if _, err := r.Resolve(t.Context(), off); err == nil || err.Error() != errShareOffsite {
				t.Errorf("Resolve(%q) = %v; want %q", off.URL, err, errShareOffsite)
			}
		})
	}
	wg.Wait()
	for _, key := range []string{"a.aliexpress.com/_abc", "s.click.aliexpress.com/e/_xyz", "a.aliexpress.com/_off"} {
		if n := h.hitCount(key); n != 1 {
			t.Errorf("%s requested %d times, want exactly 1", key, n)
		}
	}
}

func TestResolveNonRedirectAnswer(t *testing.T) {
	h := newShareHosts(t)
	h.routes["a.aliexpress.com/_page"] = func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<html><meta http-equiv="refresh" content="0;url=https://evil.example/"></html>`))
	}
	r := h.resolver(ResolverConfig{})
	if _, err := r.Resolve(t.Context(), mustParse(t, "https://a.aliexpress.com/_page")); err == nil || err.Error() != errShareOffsite {
		t.Fatalf("Resolve(200 answer) = %v, want %q", err, errShareOffsite)
	}
}

func TestResolverDialsOnlyAliExpress(t *testing.T) {
	called := 0
	r := NewResolver(ResolverConfig{DialContext: func(context.Context, string, string) (net.Conn, error) {
		called++
		return nil, errors.New("test dialer")
	}})
	for _, addr := range []string{"evil.example:443", "www.aliexpress.com:8443", "127.0.0.1:443", "[::1]:443",
		"www.aliexpress.com.evil.example:443", "www.aliexpress.com"} {
		if _, err := r.dial(t.Context(), "tcp", addr); err == nil || !strings.Contains(err.Error(), "dial") {
			t.Errorf("dial(%q) = %v, want refusal", addr, err)
		}
	}
	if called != 0 {
		t.Errorf("refused addresses reached the dialer %d times", called)
	}
	if _, err := r.dial(t.Context(), "tcp", "a.aliexpress.com:443"); err == nil || called != 1 {
		t.Errorf("dial(a.aliexpress.com:443) did not reach the dialer")
	}
}

func TestPublicOnly(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"47.246.1.1:443", true},
		{"[2404:6800:4003::1]:443", true},
		{"127.0.0.1:443", false},
		{"10.1.2.3:443", false},
		{"192.168.0.1:80", false},
		{"169.254.169.254:80", false},
		{"0.0.0.0:443", false},
		{"[::1]:443", false},
		{"[::ffff:127.0.0.1]:443", false},
		{"[fe80::1]:443", false},
		{"[fd00::1]:443", false},
		{"224.0.0.1:443", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			if err := publicOnly("tcp", tc.addr, nil); (err == nil) != tc.ok {
				t.Errorf("publicOnly(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
			}
		})
	}
}

func TestResolveCanceledContext(t *testing.T) {
	h := newShareHosts(t)
	h.redirect("a.aliexpress.com/_abc", canon)
	r := h.resolver(ResolverConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := r.Resolve(ctx, mustParse(t, "https://a.aliexpress.com/_abc"))
	var e *Error
	if !errors.As(err, &e) || e.Reason != errShareUnresolved || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Resolve(canceled ctx) = %v, want %q wrapping ErrUnreachable", err, errShareUnresolved)
	}
}
