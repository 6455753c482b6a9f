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
	// RenderRate and RenderBurst are each client's budget of QR codes drawn (codes not in the
	// cache), per second; past it the client gets 429. A cached code or a 304 costs nothing. 0: no
	// budget (the render cap alone bounds the CPU then).
	RenderRate  float64
	RenderBurst int
	// TrustedProxies are the peers whose X-Forwarded-For / Forwarded headers name the client.
	TrustedProxies []netip.Prefix
	// IPv6Prefix is how many leading bits of an IPv6 address name one client (default 64, at
	// most 128): a single host is commonly given a whole /64, so its addresses share one budget.
	// An IPv4 client (IPv4-mapped IPv6 included) is named by its whole address.
	IPv6Prefix int
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
	renders  *buckets
	trusted  []netip.Prefix
	v6Bits   int           // IPv6Prefix
	inFlight chan struct{} // one token per request served on a capped route; nil: no cap
}

// NewLimits returns the limits opts describe.
func NewLimits(opts LimitOptions) Limits {
	if opts.Clients <= 0 {
		opts.Clients = 100_000
	}
	if opts.IPv6Prefix <= 0 {
		opts.IPv6Prefix = 64
	}
	l := Limits{trusted: opts.TrustedProxies, v6Bits: min(opts.IPv6Prefix, 128)}
	if opts.PlatformRate > 0 {
		l.platform = newBuckets(rate.Limit(opts.PlatformRate), max(opts.PlatformBurst, 1), opts.Clients)
	}
	if opts.RenderRate > 0 {
		l.renders = newBuckets(rate.Limit(opts.RenderRate), max(opts.RenderBurst, 1), opts.Clients)
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

// Admit reports whether client (a request's, see client) may cause a call to the platform now, and
// takes a token. Its callers (resolve.Options.Admit, preview.Options.Admit) ask it only for a
// request that starts a call: a link for a new page, its refresh, or a product's preview details;
// a request that joins a call under way or is answered from a cache is not charged. It does not
// allocate once the client's bucket exists.
func (l Limits) Admit(_ context.Context, client netip.Addr) bool {
	return l.platform == nil || l.platform.allow(client)
}

// authFailed spends one of the failed logins of r's client. When none is left it returns
// false and how long until one is.
func (l Limits) authFailed(r *http.Request) (ok bool, retry time.Duration) {
	if l.auth == nil {
		return true, 0
	}
	return l.auth.spend(l.client(r))
}

// renderAllowed spends one of the QR renderings of r's client. When none is left it returns
// false and how long until one is.
func (l Limits) renderAllowed(r *http.Request) (ok bool, retry time.Duration) {
	if l.renders == nil {
		return true, 0
	}
	return l.renders.spend(l.client(r))
}

// client names the client of r for its budgets, and is what the handlers pass to
// resolve.Resolver.Resolve and preview.Previewer.Preview for Admit: ClientIP's address, an IPv6
// one cut to its first IPv6Prefix bits. It does not allocate when r names no trusted proxy.
func (l Limits) client(r *http.Request) netip.Addr {
	ip := l.clientAddr(r)
	if ip.Is6() {
		if p, err := ip.Prefix(l.v6Bits); err == nil {
			return p.Addr()
		}
	}
	return ip
}

// ClientIP is the address of the client: the peer's, or, when the peer is a trusted proxy,
// the nearest address in X-Forwarded-For (or Forwarded) that is not itself a trusted proxy.
func (l Limits) ClientIP(r *http.Request) string { return l.clientAddr(r).String() }

// clientAddr is ClientIP's address, IPv4-mapped IPv6 read as IPv4. It does not allocate when
// the headers it reads are well formed.
func (l Limits) clientAddr(r *http.Request) netip.Addr {
	peer := remoteIP(r.RemoteAddr)
	if len(l.trusted) == 0 || !l.isTrusted(peer) {
		return peer
	}
	forwardedFor(r.Header, func(hop string) bool {
		ip, err := netip.ParseAddr(hop)
		if err != nil {
			return false // a malformed hop: trust nothing further left
		}
		ip = ip.Unmap()
		peer = ip
		return l.isTrusted(ip)
	})
	return peer
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

// forwardedFor calls next with each hop of X-Forwarded-For, or of Forwarded's for= when there
// is none, newest (rightmost) first, until next returns false. It does not allocate: every
// click asks it for its client.
func forwardedFor(h http.Header, next func(hop string) bool) {
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		for i := len(xff) - 1; i >= 0; i-- {
			for v := xff[i]; ; {
				j := strings.LastIndexByte(v, ',')
				if !next(strings.TrimSpace(v[j+1:])) {
					return
				}
				if j < 0 {
					break
				}
				v = v[:j]
			}
		}
		return
	}
	fwd := h.Values("Forwarded")
	for i := len(fwd) - 1; i >= 0; i-- {
		for v := fwd[i]; ; {
			j := strings.LastIndexByte(v, ',')
			for elem := v[j+1:]; ; {
				k := strings.LastIndexByte(elem, ';')
				if hop, ok := forwardedHop(elem[k+1:]); ok && !next(hop) {
					return
				}
				if k < 0 {
					break
				}
				elem = elem[:k]
			}
			if j < 0 {
				break
			}
			v = v[:j]
		}
	}
}

// forwardedHop returns the address of a Forwarded pair for=<address>, without quotes or port;
// ok is false for any other pair.
func forwardedHop(pair string) (hop string, ok bool) {
	k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
	if !ok || !strings.EqualFold(k, "for") {
		return "", false
	}
	val = strings.Trim(val, `"`)
	if strings.HasPrefix(val, "[") { // [v6]:port
		val = strings.TrimPrefix(val, "[")
		val, _, _ = strings.Cut(val, "]")
	} else if i := strings.IndexByte(val, ':'); i >= 0 && strings.LastIndexByte(val, ':') == i { // v4:port
		val = val[:i]
	}
	return val, true
}

// buckets is a bounded table of token buckets, one per client (Limits.client's key: a value,
// so that looking one up does not allocate).
type buckets struct {
	limit rate.Limit
	burst int
	table *otter.Cache[netip.Addr, *rate.Limiter]
}

func newBuckets(limit rate.Limit, burst, size int) *buckets {
	return &buckets{
		limit: limit,
		burst: burst,
		table: otter.Must(&otter.Options[netip.Addr, *rate.Limiter]{
			MaximumSize:      size,
			ExpiryCalculator: otter.ExpiryAccessing[netip.Addr, *rate.Limiter](10 * time.Minute),
		}),
	}
}

func (b *buckets) get(client netip.Addr) *rate.Limiter {
	if lim, ok := b.table.GetIfPresent(client); ok {
		return lim
	}
	lim, _ := b.table.SetIfAbsent(client, rate.NewLimiter(b.limit, b.burst))
	return lim
}

func (b *buckets) allow(client netip.Addr) bool { return b.get(client).Allow() }

// spend takes a token of client's bucket; when there is none it returns false and how long
// until there is one.
func (b *buckets) spend(client netip.Addr) (ok bool, retry time.Duration) {
	lim := b.get(client)
	if lim.Allow() {
		return true, 0
	}
	return false, time.Duration((1 - lim.Tokens()) / float64(b.limit) * float64(time.Second))
}
