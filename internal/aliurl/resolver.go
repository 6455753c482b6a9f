package aliurl

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/maypok86/otter/v2"
)

// MaxHops is the most requests Resolve makes to follow one share link, its first request included.
const MaxHops = 5

// ResolverConfig configures a Resolver. Its zero value is ready to use.
type ResolverConfig struct {
	// Timeout bounds one resolution, every hop included. Default 2s.
	Timeout time.Duration
	// CacheSize is how many resolved share links are remembered. Default 10000.
	CacheSize int
	// CacheTTL is how long a resolved share link is remembered. Default 6h.
	CacheTTL time.Duration
	// NegativeTTL is how long a share link that leads nowhere, off AliExpress, or that its host says it does not
	// know (404, 410) is remembered. Default 5m.
	NegativeTTL time.Duration
	// UnreachableTTL is how long a share link that could not be followed (see ErrUnreachable) is remembered, so
	// that each click does not try again. Default 30s.
	UnreachableTTL time.Duration
	// UnreachableSize is how many such share links are remembered, apart from the resolved ones so that they
	// cannot push those out. Default 1000.
	UnreachableSize int
	// Now, if set, is the clock the caches read instead of the wall clock (tests move it forward).
	Now func() time.Time
	// UserAgent is sent with each request. Default "Mozilla/5.0 (compatible; redirector)".
	UserAgent string

	// DialContext, if set, opens the connections in place of the default dialer, which refuses addresses that are
	// not public unicast IPs. It is only ever called with an accepted AliExpress host on port 80 or 443; tests use
	// it to send those hosts to local servers.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSClientConfig, if set, is the TLS configuration for https hops (tests set RootCAs to trust a local server).
	TLSClientConfig *tls.Config
}

// Resolver turns share links into the pages they lead to by following their redirects over the network, only
// through accepted AliExpress hosts on ports 80 and 443. It is safe for concurrent use; concurrent resolutions of
// one link share one series of requests.
type Resolver struct {
	client      *http.Client
	dialFn      func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout     time.Duration
	userAgent   string
	cache       *otter.Cache[string, resolution]
	load        otter.LoaderFunc[string, resolution]
	ttl, negTTL time.Duration
	// unreachable remembers, for UnreachableTTL, the share links that could not be followed.
	unreachable *otter.Cache[string, *Error]
}

// resolution is a cached answer: a page, or a permanent error.
type resolution struct {
	page Page
	err  *Error
}

// Reasons of Resolve's errors.
const (
	errShareUnresolved = "share link could not be resolved"
	errShareOffsite    = "share link does not lead to an AliExpress page"
	errShareGone       = "share link is unknown or has expired"
)

var errShareInvalid = &Error{Reason: "invalid share link"}

// ErrUnreachable is wrapped by the errors Resolve returns when a share link could not be followed, which says
// nothing of where it leads: the share host did not answer in time, refused or dropped the connection, or answered
// 5xx or another 4xx than 404 and 410 (429, 403…). Callers check it with errors.Is; such failures may pass, and are
// remembered for UnreachableTTL only.
var ErrUnreachable = errors.New("share host unreachable")

// unreachable makes the *Error of a share link that could not be followed.
func unreachable(err error) *Error {
	return &Error{Reason: errShareUnresolved, Err: fmt.Errorf("%w: %w", ErrUnreachable, err)}
}

// NewResolver returns a Resolver configured by cfg, with defaults for its zero fields.
func NewResolver(cfg ResolverConfig) *Resolver {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10000
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 6 * time.Hour
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = 5 * time.Minute
	}
	if cfg.UnreachableTTL <= 0 {
		cfg.UnreachableTTL = 30 * time.Second
	}
	if cfg.UnreachableSize <= 0 {
		cfg.UnreachableSize = 1000
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Mozilla/5.0 (compatible; redirector)"
	}
	r := &Resolver{
		timeout:   cfg.Timeout,
		userAgent: cfg.UserAgent,
		ttl:       cfg.CacheTTL,
		negTTL:    cfg.NegativeTTL,
		dialFn:    cfg.DialContext,
	}
	if r.dialFn == nil {
		d := &net.Dialer{Timeout: cfg.Timeout, Control: publicOnly}
		r.dialFn = d.DialContext
	}
	var tlsConfig *tls.Config
	if cfg.TLSClientConfig != nil {
		tlsConfig = cfg.TLSClientConfig.Clone()
	}
	r.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil, // a proxy would be dialled instead of the checked host
			DialContext:            r.dial,
			TLSClientConfig:        tlsConfig,
			ForceAttemptHTTP2:      true,
			TLSHandshakeTimeout:    cfg.Timeout,
			ResponseHeaderTimeout:  cfg.Timeout,
			MaxIdleConns:           16,
			MaxIdleConnsPerHost:    4,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		},
		// Resolve follows redirects itself, checking each Location with Parse before any request is made.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       cfg.Timeout,
	}
	var clock otter.Clock
	if cfg.Now != nil {
		clock = nowClock(cfg.Now)
	}
	r.cache = otter.Must(&otter.Options[string, resolution]{
		MaximumSize: cfg.CacheSize,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, resolution]) time.Duration {
			if e.Value.err != nil {
				return r.negTTL
			}
			return r.ttl
		}),
		Clock: clock,
	})
	r.unreachable = otter.Must(&otter.Options[string, *Error]{
		MaximumSize:      cfg.UnreachableSize,
		ExpiryCalculator: otter.ExpiryWriting[string, *Error](cfg.UnreachableTTL),
		Clock:            clock,
	})
	r.load = r.loadShare
	return r
}

// Resolve returns p unchanged unless p.Kind is Share. For a share link it returns the page the link's redirects lead
// to, checked by Parse (never another share link), or an *Error:
//   - "share link does not lead to an AliExpress page" when the chain leaves AliExpress, loops, runs over MaxHops
//     or ends without a page (an answer that is neither a redirect nor an error);
//   - "share link is unknown or has expired" when a share host answers 404 or 410;
//   - "share link could not be resolved", wrapping ErrUnreachable, when it could not be followed: time-out,
//     network failure, a 5xx or another 4xx answer (the cause is wrapped too, for logs).
//
// Pages and the first two errors are cached (CacheTTL, NegativeTTL); ErrUnreachable failures are remembered for
// UnreachableTTL, so that clicks within it make no request. The work runs under its own timeout, detached from
// ctx's cancellation, because callers resolving the same link share it.
func (r *Resolver) Resolve(ctx context.Context, p Page) (Page, error) {
	if p.Kind != Share {
		return p, nil
	}
	q, err := Parse(p.URL)
	if err != nil || q.Kind != Share {
		return Page{}, errShareInvalid
	}
	if e, ok := r.unreachable.GetIfPresent(q.URL); ok {
		return Page{}, e
	}
	res, err := r.cache.Get(ctx, q.URL, r.load)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			// The cache itself failed, e.g. ctx was done before the load could start: nothing was learnt of the
			// link, so it is not remembered.
			e = unreachable(fmt.Errorf("resolve %s: %w", q.URL, err))
		}
		return Page{}, e
	}
	if res.err != nil {
		return Page{}, res.err
	}
	return res.page, nil
}

// loadShare resolves a share link for the cache: answers about the link are values (failures cached for
// NegativeTTL); a link that could not be followed is an error, which the cache does not keep, remembered apart for
// UnreachableTTL.
func (r *Resolver) loadShare(ctx context.Context, shareURL string) (resolution, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	page, err := r.follow(ctx, shareURL)
	if err != nil {
		if errors.Is(err, ErrUnreachable) {
			r.unreachable.Set(shareURL, err)
			return resolution{}, err
		}
		return resolution{err: err}, nil
	}
	return resolution{page: page}, nil
}

// follow requests shareURL and the share links it redirects to until a Location is a page that is not a share link.
func (r *Resolver) follow(ctx context.Context, shareURL string) (Page, *Error) {
	var seen [MaxHops]string
	cur := shareURL
	for hop := 0; ; hop++ {
		if hop == MaxHops {
			return Page{}, offsite(fmt.Errorf("more than %d hops", MaxHops))
		}
		for _, s := range seen[:hop] {
			if s == cur {
				return Page{}, offsite(errors.New("redirect loop"))
			}
		}
		seen[hop] = cur
		loc, e := r.hop(ctx, cur)
		if e != nil {
			return Page{}, e
		}
		next, err := Parse(absolute(cur, loc))
		if err != nil {
			return Page{}, offsite(fmt.Errorf("location %q: %w", truncate(loc), err))
		}
		if next.Kind != Share {
			return next, nil
		}
		cur = next.URL
	}
}

// hop makes one request and returns the redirect's Location.
func (r *Resolver) hop(ctx context.Context, u string) (string, *Error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", offsite(err)
	}
	req.Header.Set("User-Agent", r.userAgent)
	req.Header.Set("Accept", "text/html")
	resp, err := r.client.Do(req)
	if err != nil {
		return "", unreachable(fmt.Errorf("get %s: %w", u, err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 8<<10)) // lets the connection be reused
	_ = resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect,
		http.StatusPermanentRedirect:
		loc := resp.Header.Get("Location")
		if loc == "" {
			return "", offsite(fmt.Errorf("get %s: %d without location", u, resp.StatusCode))
		}
		return loc, nil
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		// The host's own word that the link does not exist.
		return "", &Error{Reason: errShareGone, Err: fmt.Errorf("get %s: status %d", u, resp.StatusCode)}
	case resp.StatusCode >= 400:
		// The host would not answer us (busy, rate-limited, blocking): the link may well be good.
		return "", unreachable(fmt.Errorf("get %s: status %d", u, resp.StatusCode))
	}
	return "", offsite(fmt.Errorf("get %s: status %d", u, resp.StatusCode))
}

func offsite(err error) *Error {
	return &Error{Reason: errShareOffsite, Err: err}
}

// absolute makes a Location absolute against cur, a canonical share URL (https, host, path, no query). Only
// absolute http(s) URLs and absolute paths are completed; anything else is returned as it is for Parse to refuse.
func absolute(cur, loc string) string {
	if strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") {
		rest := cur[len("https://"):]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i]
		}
		return "https://" + rest + loc
	}
	return loc
}

// nowClock is an otter.Clock that reads now; it gives no ticks, so expired entries are dropped when read or pushed
// out, not by a clean-up goroutine.
type nowClock func() time.Time

func (c nowClock) NowNano() int64                      { return c().UnixNano() }
func (c nowClock) Tick(time.Duration) <-chan time.Time { return nil }

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// dial lets a connection be opened only to an accepted AliExpress host on port 80 or 443.
func (r *Resolver) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if !IsAliExpressHost(host) || port != "443" && port != "80" {
		return nil, fmt.Errorf("dial %s: not an AliExpress host on port 80 or 443", addr)
	}
	return r.dialFn(ctx, network, addr)
}

// publicOnly refuses to connect to an address that is not a public unicast IP, should an AliExpress name ever
// resolve to a loopback, private or link-local one.
func publicOnly(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("connect %s: %w", address, err)
	}
	ip := ap.Addr().Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return fmt.Errorf("connect %s: not a public address", address)
	}
	return nil
}
