package redirect

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/time/rate"
)

// LimitOptions configure admission control. Zero rates switch a limit off.
type LimitOptions struct {
	// PlatformRate and PlatformBurst are each client's budget of clicks that may reach the
	// platform (cache misses), per second. A client over it is redirected untagged.
	PlatformRate  float64
	PlatformBurst int
	// AuthFailures is how many failed admin logins a client may make per minute.
	AuthFailures int
	// TrustedProxies are the peers whose X-Forwarded-For / Forwarded headers name the client.
	TrustedProxies []netip.Prefix
	// Clients bounds the table of clients remembered (default 100,000); the least recently
	// seen are forgotten first.
	Clients int
	// MaxInFlight caps the requests served at once on the routes that are not redirects (the
	// admin API, QR codes, the console, metrics); past it they get a fast 503. 0: no cap.
	// Redirects are never refused.
	MaxInFlight int
}

// Limits decides who may cause platform work and who may try admin logins. The zero value
// admits everyone. Safe for concurrent use.
type Limits struct {
	platform *buckets
	auth     *buckets
	trusted  []netip.Prefix
	inFlight chan struct{} // one token per request served on a capped route; nil: no cap
}

// NewLimits returns the limits opts describe.
func NewLimits(opts LimitOptions) Limits {
	if opts.Clients <= 0 {
		opts.Clients = 100_000
	}
	l := Limits{trusted: opts.TrustedProxies}
	if opts.PlatformRate > 0 {
		l.platform = newBuckets(rate.Limit(opts.PlatformRate), max(opts.PlatformBurst, 1), opts.Clients)
	}
	if opts.AuthFailures > 0 {
		l.auth = newBuckets(rate.Limit(float64(opts.AuthFailures)/60), opts.AuthFailures, opts.Clients)
	}
	if opts.MaxInFlight > 0 {
		l.inFlight = make(chan struct{}, opts.MaxInFlight)
	}
	return l
}

// capped serves next while fewer than MaxInFlight capped requests are under way, and answers
// 503 at once otherwise, so a flood of heavy requests cannot starve the redirects.
func (l Limits) capped(next http.Handler) http.Handler {
	if l.inFlight == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.enter(w, r) {
			defer l.leave()
			next.ServeHTTP(w, r)
		}
	})
}

// enter takes one of the capped routes' slots; when none is free it answers 503 itself and
// returns false. A true return must be followed by leave.
func (l Limits) enter(w http.ResponseWriter, r *http.Request) bool {
	select {
	case l.inFlight <- struct{}{}:
		return true
	default:
	}
	w.Header().Set("Retry-After", "1")
	if isAPI(r.URL.Path) {
		writeError(w, http.StatusServiceUnavailable, "too busy: try again in a moment")
	} else {
		http.Error(w, "too busy: try again in a moment", http.StatusServiceUnavailable)
	}
	return false
}

// leave gives back the slot enter took.
func (l Limits) leave() { <-l.inFlight }

// Admit reports whether the client of a request may cause a call to the platform now, and takes
// a token. Its callers (resolve.Options.Admit, preview.Options.Admit) ask it only for a request
// that starts a call: a link for a new page, its refresh, or a product's preview details; a
// request that joins a call under way or is answered from a cache is not charged. client is the
// request's *http.Request; anything else is admitted.
func (l Limits) Admit(_ context.Context, client any) bool {
	r, ok := client.(*http.Request)
	return !ok || l.platform == nil || l.platform.allow(l.ClientIP(r))
}

// authAllowed reports whether the client of r has failed logins left.
func (l Limits) authAllowed(r *http.Request) bool {
	return l.auth == nil || l.auth.tokens(l.ClientIP(r)) >= 1
}

// authFailed spends one of the client's failed logins.
func (l Limits) authFailed(r *http.Request) {
	if l.auth != nil {
		l.auth.allow(l.ClientIP(r))
	}
}

// ClientIP is the address of the client: the peer's, or, when the peer is a trusted proxy,
// the nearest address in X-Forwarded-For (or Forwarded) that is not itself a trusted proxy.
func (l Limits) ClientIP(r *http.Request) string {
	peer := remoteIP(r.RemoteAddr)
	if len(l.trusted) == 0 || !l.isTrusted(peer) {
		return peer.String()
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(hops[i])
		if err != nil {
			break // a malformed hop: trust nothing further left
		}
		ip = ip.Unmap()
		if !l.isTrusted(ip) {
			return ip.String()
		}
		peer = ip
	}
	return peer.String()
}

func (l Limits) isTrusted(ip netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func remoteIP(addr string) netip.Addr {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip, _ := netip.ParseAddr(host)
	return ip.Unmap()
}

// forwardedFor lists the hops of X-Forwarded-For, or of Forwarded's for= when there is none,
// oldest first.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("X-Forwarded-For") {
		for hop := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	if len(hops) > 0 {
		return hops
	}
	for _, v := range h.Values("Forwarded") {
		for elem := range strings.SplitSeq(v, ",") {
			for pair := range strings.SplitSeq(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || !strings.EqualFold(k, "for") {
					continue
				}
				val = strings.Trim(val, `"`)
				if strings.HasPrefix(val, "[") { // [v6]:port
					val = strings.TrimPrefix(val, "[")
					val, _, _ = strings.Cut(val, "]")
				} else if h, _, err := net.SplitHostPort(val); err == nil {
					val = h
				}
				hops = append(hops, val)
			}
		}
	}
	return hops
}

// buckets is a bounded table of token buckets, one per client.
type buckets struct {
	limit rate.Limit
	burst int
	table *otter.Cache[string, *rate.Limiter]
}

func newBuckets(limit rate.Limit, burst, size int) *buckets {
	return &buckets{
		limit: limit,
		burst: burst,
		table: otter.Must(&otter.Options[string, *rate.Limiter]{
			MaximumSize:      size,
			ExpiryCalculator: otter.ExpiryAccessing[string, *rate.Limiter](10 * time.Minute),
		}),
	}
}

func (b *buckets) get(client string) *rate.Limiter {
	if lim, ok := b.table.GetIfPresent(client); ok {
		return lim
	}
	lim, _ := b.table.SetIfAbsent(client, rate.NewLimiter(b.limit, b.burst))
	return lim
}

func (b *buckets) allow(client string) bool { return b.get(client).Allow() }

func (b *buckets) tokens(client string) float64 { return b.get(client).Tokens() }
