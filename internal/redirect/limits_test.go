package redirect

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name, remote string
		header       http.Header
		trusted      []netip.Prefix
		want         string
	}{
		{"peer, no proxies", "203.0.113.7:5555", nil, nil, "203.0.113.7"},
		{"XFF ignored from an untrusted peer", "203.0.113.7:5555", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, trusted, "203.0.113.7"},
		{"XFF ignored when no proxy is trusted", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, nil, "10.0.0.2"},
		{"XFF from a trusted proxy", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"198.51.100.9"}}, trusted, "198.51.100.9"},
		{"rightmost untrusted hop wins over a spoofed left", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"6.6.6.6, 198.51.100.9, 10.0.0.3"}}, trusted, "198.51.100.9"},
		{"XFF split over headers", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"6.6.6.6", "198.51.100.9"}}, trusted, "198.51.100.9"},
		{"malformed hop stops the walk", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"198.51.100.9, garbage, 10.0.0.3"}}, trusted, "10.0.0.3"},
		{"all hops trusted: the leftmost", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"10.0.0.5, 10.0.0.3"}}, trusted, "10.0.0.5"},
		{"Forwarded for=", "10.0.0.2:80", http.Header{"Forwarded": {`for=198.51.100.9;proto=https`}}, trusted, "198.51.100.9"},
		{"Forwarded IPv6 with port", "10.0.0.2:80", http.Header{"Forwarded": {`for="[2001:db8::1]:4711"`}}, trusted, "2001:db8::1"},
		{"Forwarded IPv4 with port", "10.0.0.2:80", http.Header{"Forwarded": {`for="198.51.100.9:4711"`}}, trusted, "198.51.100.9"},
		{"Forwarded: rightmost untrusted element wins", "10.0.0.2:80", http.Header{"Forwarded": {`for=6.6.6.6, for=198.51.100.9;proto=https, for=10.0.0.3`}}, trusted, "198.51.100.9"},
		{"Forwarded split over headers", "10.0.0.2:80", http.Header{"Forwarded": {`for=6.6.6.6`, `proto=https;for=198.51.100.9`}}, trusted, "198.51.100.9"},
		{"Forwarded ignored when XFF is there", "10.0.0.2:80", http.Header{"X-Forwarded-For": {"198.51.100.9"}, "Forwarded": {`for=6.6.6.6`}}, trusted, "198.51.100.9"},
		{"IPv6 peer", "[::1]:80", http.Header{"X-Forwarded-For": {"2001:db8::2"}}, trusted, "2001:db8::2"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.2]:80", http.Header{"X-Forwarded-For": {"198.51.100.9"}}, trusted, "198.51.100.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLimits(LimitOptions{TrustedProxies: tc.trusted})
			r := httptest.NewRequest(http.MethodGet, "/go", nil)
			r.RemoteAddr = tc.remote
			for k, v := range tc.header {
				r.Header[k] = v
			}
			if got := l.ClientIP(r); got != tc.want {
				t.Errorf("ClientIP(remote %s, %v) = %q, want %q", tc.remote, tc.header, got, tc.want)
			}
		})
	}
}

func TestAdmitSpendsEachClientsBudget(t *testing.T) {
	l := NewLimits(LimitOptions{PlatformRate: 0.001, PlatformBurst: 3})
	a := httptest.NewRequest(http.MethodGet, "/go", nil)
	a.RemoteAddr = "203.0.113.1:1"
	b := httptest.NewRequest(http.MethodGet, "/go", nil)
	b.RemoteAddr = "203.0.113.2:1"
	ctx := context.Background()
	for i := range 3 {
		if !l.Admit(ctx, l.client(a)) {
			t.Fatalf("Admit(a) #%d = false, want true within the burst", i+1)
		}
	}
	if l.Admit(ctx, l.client(a)) {
		t.Error("Admit(a) past the burst = true, want false")
	}
	if !l.Admit(ctx, l.client(b)) {
		t.Error("Admit(b) = false: one client's spending must not limit another")
	}
	if zero := NewLimits(LimitOptions{}); !zero.Admit(ctx, zero.client(a)) {
		t.Error("zero Limits refused a click")
	}
}

// localProxy trusts the test's own loopback peer, so X-Forwarded-For names the client.
var localProxy = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Issue 13, item 7: 1,000 addresses of one /64 are one client, not 1,000.
func TestClientBudgetKeysIPv6ByPrefix(t *testing.T) {
	t.Parallel()
	const burst = 5
	// A long upstream time-out: an admitted click is tagged however loaded the machine is.
	e := newEnv(t, envOptions{
		UpstreamTimeout: 10 * time.Second, LoadTimeout: 10 * time.Second,
		Limits: &LimitOptions{PlatformRate: 0.001, PlatformBurst: burst, TrustedProxies: localProxy},
	})
	// click asks for a new page as client, and reports whether the click was tagged.
	var page atomic.Int64
	page.Store(3000)
	click := func(client string) bool {
		p := product(int(page.Add(1)))
		r := e.get(goPath(p), "X-Forwarded-For", client)
		switch loc := r.header.Get("Location"); {
		case r.status == http.StatusFound && loc == e.platform.Link(p):
			return true
		case r.status == http.StatusFound && loc == p:
			return false
		default:
			t.Errorf("GET /go?u=%s from %s = %s, want 302 to the page, tagged or not", p, client, r)
			return false
		}
	}

	const n, workers = 1000, 4
	var tagged atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if click(fmt.Sprintf("2001:db8:1:2:%x:%x:%x:%x", i*7919%65536, i, 65535-i, i*31%65536)) {
					tagged.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if tagged := tagged.Load(); tagged != burst {
		t.Errorf("%d addresses of one /64 clicking new pages: %d tagged, want %d (one client's burst)", n, tagged, burst)
	}
	tests := []struct {
		name, client string
		want         bool // tagged
	}{
		{"another address of the spent /64", "2001:db8:1:2::1", false},
		{"another /64 of the same /48", "2001:db8:1:3::1", true},
		{"an IPv4 client", "203.0.113.1", true},
	}
	for _, tc := range tests {
		if got := click(tc.client); got != tc.want {
			t.Errorf("%s: click from %s tagged = %v, want %v", tc.name, tc.client, got, tc.want)
		}
	}
	// IPv4 is keyed by the whole address, IPv4-mapped IPv6 as IPv4.
	for i := range burst - 1 {
		if !click("203.0.113.1") {
			t.Fatalf("click %d from 203.0.113.1 within its burst untagged", i+2)
		}
	}
	ipv4 := []struct {
		name, client string
		want         bool
	}{
		{"past its burst", "203.0.113.1", false},
		{"the same address IPv4-mapped", "::ffff:203.0.113.1", false},
		{"the next address", "203.0.113.2", true},
	}
	for _, tc := range ipv4 {
		if got := click(tc.client); got != tc.want {
			t.Errorf("%s: click from %s tagged = %v, want %v", tc.name, tc.client, got, tc.want)
		}
	}
}

func TestClientKeys(t *testing.T) {
	tests := []struct {
		name   string
		prefix int // IPv6Prefix; 0: the default
		a, b   string
		same   bool
	}{
		{"one /64 by default", 0, "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"two /64s by default", 0, "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"one /48", 48, "2001:db8:1:2::1", "2001:db8:1:ffff::1", true},
		{"two /48s", 48, "2001:db8:1::1", "2001:db8:2::1", false},
		{"whole addresses", 128, "2001:db8::1", "2001:db8::2", false},
		{"zones do not split a /64", 0, "fe80::1%eth0", "fe80::2%eth1", true},
		{"IPv4 by address", 0, "203.0.113.1", "203.0.113.2", false},
		{"IPv4-mapped is IPv4", 0, "203.0.113.1", "::ffff:203.0.113.1", true},
		{"IPv4 apart from IPv6 of the same bits", 0, "0.0.0.1", "::1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLimits(LimitOptions{IPv6Prefix: tc.prefix, PlatformRate: 1})
			ka, kb := l.client(request(tc.a)), l.client(request(tc.b))
			if got := ka == kb; got != tc.same {
				t.Errorf("IPv6Prefix %d: client(%s) = %v, client(%s) = %v; same = %v, want %v", tc.prefix, tc.a, ka, tc.b, kb, got, tc.same)
			}
		})
	}
}

// request is a request from the peer ip.
func request(ip string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/go", nil)
	r.RemoteAddr = net.JoinHostPort(ip, "4711")
	return r
}

// Every click computes its client (see handleGo): it must cost no allocation, proxied or not.
func TestClientAndAdmitDoNotAllocate(t *testing.T) {
	l := NewLimits(LimitOptions{PlatformRate: 1e9, PlatformBurst: 1e9, TrustedProxies: localProxy})
	proxied := func(header, value string) *http.Request {
		r := request("127.0.0.1")
		r.Header.Set(header, value)
		return r
	}
	tests := []struct {
		name string
		r    *http.Request
	}{
		{"IPv4 peer", request("203.0.113.1")},
		{"IPv6 peer", request("2001:db8:1:2::1")},
		{"X-Forwarded-For", proxied("X-Forwarded-For", "6.6.6.6, 198.51.100.9, 127.0.0.2")},
		{"Forwarded", proxied("Forwarded", `for=6.6.6.6, for="[2001:db8::1]:4711";proto=https`)},
	}
	for _, tc := range tests {
		l.Admit(context.Background(), l.client(tc.r)) // the client's bucket exists from here on
		if n := testing.AllocsPerRun(100, func() { l.Admit(context.Background(), l.client(tc.r)) }); n != 0 {
			t.Errorf("%s: client and Admit allocate %v times, want 0", tc.name, n)
		}
	}
}

// Issue 13, item 8: wrong tokens from the admin's address do not lock the right one out.
func TestFailedLoginsNeverRefuseTheRightToken(t *testing.T) {
	t.Parallel()
	const failures = 3
	e := newEnv(t, envOptions{Limits: &LimitOptions{AuthFailures: failures, TrustedProxies: localProxy}})
	call := func(client, authorization string) reply {
		return e.get("/api/links", "X-Forwarded-For", client, "Authorization", authorization)
	}
	const admin = "2001:db8:9:9::1"
	for i := range failures {
		if r := call(admin, "Bearer wrong"); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong token #%d = %s, want 401", i+1, r)
		}
	}
	r := call(admin, "Bearer wrong")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("wrong token past AUTH_FAILURES_PER_MINUTE = %s (Retry-After %q), want 429 with Retry-After", r, r.header.Get("Retry-After"))
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After = %q, want whole seconds from 1 to 60", r.header.Get("Retry-After"))
	}
	if r := call(admin, "Bearer "+testToken); r.status != http.StatusOK {
		t.Errorf("right token after %d wrong ones = %s, want 200", failures+1, r)
	}
	if r := call("2001:db8:9:9:ffff::2", "Bearer wrong"); r.status != http.StatusTooManyRequests {
		t.Errorf("wrong token from another address of the /64 = %s, want 429 (one client)", r)
	}
	if r := call("2001:db8:9:8::1", "Bearer wrong"); r.status != http.StatusUnauthorized {
		t.Errorf("wrong token from another /64 = %s, want 401 (another client)", r)
	}
}

// Issue 13, item 8: the scheme name is case-insensitive (RFC 9110, 11.1).
func TestBearerScheme(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tests := []struct {
		name, authorization string
		want                int
	}{
		{"canonical", "Bearer " + testToken, http.StatusOK},
		{"lower case", "bearer " + testToken, http.StatusOK},
		{"upper case", "BEARER " + testToken, http.StatusOK},
		{"several spaces", "Bearer   " + testToken, http.StatusOK},
		{"surrounding whitespace", "  Bearer " + testToken + " \t", http.StatusOK},
		{"no space", "Bearer" + testToken, http.StatusUnauthorized},
		{"no token", "Bearer ", http.StatusUnauthorized},
		{"another scheme", "Basic " + testToken, http.StatusUnauthorized},
		{"token alone", testToken, http.StatusUnauthorized},
		{"token with a space inside", "Bearer " + testToken + " x", http.StatusUnauthorized},
		{"wrong token", "bearer x" + testToken, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := e.get("/api/links", "Authorization", tc.authorization); r.status != tc.want {
				t.Errorf("GET /api/links with Authorization %q = %s, want %d", tc.authorization, r, tc.want)
			}
		})
	}
}

func TestCappedRoutesAnswer503PastTheCap(t *testing.T) {
	l := NewLimits(LimitOptions{MaxInFlight: 2})
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	h := l.capped(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/api/links", nil)) })
	}
	<-entered
	<-entered
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/links", nil))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("third request = %d (Retry-After %q), want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	close(release)
	wg.Wait()
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/links", nil))
	if w.Code != http.StatusOK {
		t.Errorf("request after the others finished = %d, want 200", w.Code)
	}
}
