package redirect

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
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
		if !l.Admit(ctx, a) {
			t.Fatalf("Admit(a) #%d = false, want true within the burst", i+1)
		}
	}
	if l.Admit(ctx, a) {
		t.Error("Admit(a) past the burst = true, want false")
	}
	if !l.Admit(ctx, b) {
		t.Error("Admit(b) = false: one client's spending must not limit another")
	}
	if !NewLimits(LimitOptions{}).Admit(ctx, a) {
		t.Error("zero Limits refused a click")
	}
}

func TestFailedLoginsAreLimited(t *testing.T) {
	h := adminOnly(Deps{AdminToken: "right", Limits: NewLimits(LimitOptions{AuthFailures: 3})})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	call := func(token string) int {
		r := httptest.NewRequest(http.MethodGet, "/api/links", nil)
		r.RemoteAddr = "203.0.113.9:1"
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for i := range 3 {
		if got := call("wrong"); got != http.StatusUnauthorized {
			t.Fatalf("wrong token #%d = %d, want 401", i+1, got)
		}
	}
	if got := call("wrong"); got != http.StatusTooManyRequests {
		t.Errorf("wrong token past the limit = %d, want 429", got)
	}
	if got := call("right"); got != http.StatusTooManyRequests {
		t.Errorf("right token while locked out = %d, want 429 (no oracle while locked out)", got)
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
