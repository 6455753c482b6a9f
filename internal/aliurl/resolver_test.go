package aliurl

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "aliexpress test"},
		DNSNames:              []string{"aliexpress.com", "*.aliexpress.com", "*.click.aliexpress.com"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
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
			reason: errShareOffsite,
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

func TestResolveTimeout(t *testing.T) {
	h := newShareHosts(t)
	var slow atomic.Bool
	slow.Store(true)
	h.routes["a.aliexpress.com/_slow"] = func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.Header().Set("Location", canon)
		w.WriteHeader(http.StatusFound)
	}
	r := h.resolver(ResolverConfig{Timeout: 100 * time.Millisecond})
	p := mustParse(t, "https://a.aliexpress.com/_slow")

	_, err := r.Resolve(t.Context(), p)
	var e *Error
	var ne net.Error
	if !errors.As(err, &e) || e.Reason != errShareUnresolved || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Resolve(slow link) = %v; want %q caused by a timeout", err, errShareUnresolved)
	}

	// A timeout is not remembered: once the host answers, the link resolves.
	slow.Store(false)
	got, err := r.Resolve(t.Context(), p)
	if err != nil || got.URL != canon {
		t.Fatalf("Resolve(slow link) after it recovered = %+v, %v; want %s", got, err, canon)
	}
	if n := h.hitCount("a.aliexpress.com/_slow"); n != 2 {
		t.Errorf("share host hit %d times, want 2", n)
	}
}

func TestResolveServerError(t *testing.T) {
	h := newShareHosts(t)
	h.routes["a.aliexpress.com/_err"] = func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}
	r := h.resolver(ResolverConfig{})
	p := mustParse(t, "https://a.aliexpress.com/_err")
	for range 2 {
		if _, err := r.Resolve(t.Context(), p); err == nil || err.Error() != errShareUnresolved {
			t.Fatalf("Resolve(503 link) = %v, want %q", err, errShareUnresolved)
		}
	}
	if n := h.hitCount("a.aliexpress.com/_err"); n != 2 {
		t.Errorf("share host hit %d times, want 2 (a 503 must not be cached)", n)
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
	if !errors.As(err, &e) || e.Reason != errShareUnresolved {
		t.Fatalf("Resolve(canceled ctx) = %v, want %q", err, errShareUnresolved)
	}
}
