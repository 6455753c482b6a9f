// Package affiliate is the client of the AliExpress Open Platform's affiliate API: signed calls to its
// /sync endpoint, batched link generation, a client-side rate limit, and the platform's answers as
// typed errors.
package affiliate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// DefaultAPIURL is the platform's /sync endpoint.
const DefaultAPIURL = "https://api-sg.aliexpress.com/sync"

const (
	defaultWindow   = 5 * time.Millisecond
	defaultMaxBatch = 50
	defaultRate     = 10
	defaultBan      = time.Second
	maxBan          = 10 * time.Minute
	maxRetries      = 1
	maxBody         = 1 << 20
	detailFields    = "product_id,product_title,product_main_image_url,target_sale_price,target_sale_price_currency,commission_rate,shop_url"
)

// Config is what New needs. AppKey, AppSecret and TrackingID are required; every other zero value
// picks the default named on its field.
type Config struct {
	AppKey, AppSecret, TrackingID string
	// APIURL is the /sync endpoint; default DefaultAPIURL. Tests point it at affiliatetest's fake.
	APIURL string
	// HTTPClient sends the calls; default a client with a 10s timeout.
	HTTPClient *http.Client
	// BatchWindow is how long Generate waits for other sources to share its call; default 5ms.
	BatchWindow time.Duration
	// MaxBatch is the most sources one call carries; default 50.
	MaxBatch int
	// RatePerSecond and Burst size the client's token bucket: calls (not sources) per second;
	// default 10 per second, burst ceil(RatePerSecond).
	RatePerSecond float64
	Burst         int
	// Now stamps requests; default time.Now.
	Now func() time.Time
	// Logger receives retries and bans at warn, each call at debug; default discards.
	Logger *slog.Logger
	// OnCall, if set, is told of every HTTP attempt: its result ("ok", "not_promotable", "rate_limited",
	// "platform_error" or "transport_error"), its duration and how many sources it carried.
	OnCall func(result string, d time.Duration, batchSize int)
}

// Result is one source's answer in a batch: a promotion link, or Err (ErrNotPromotable when the
// platform has no link for it).
type Result struct {
	Link string
	Err  error
}

// Product is what ProductDetail reports about one product. Price is a decimal string in Currency.
type Product struct {
	ID, Title, ImageURL, Price, Currency string
	// CommissionRate is the platform's words ("7.0%"); empty or zero: the product earns nothing.
	CommissionRate string
	// ShopURL is the seller's store page as the platform gives it (outside data: check it before use).
	ShopURL string
}

// Client calls the platform. It is safe for concurrent use; Close stops its batcher.
type Client struct {
	appKey, secret, trackingID, apiURL string
	http                               *http.Client
	now                                func() time.Time
	log                                *slog.Logger
	onCall                             func(string, time.Duration, int)
	limiter                            *rate.Limiter
	window                             time.Duration
	maxBatch                           int

	// bannedUntil is the Unix time in nanoseconds before which no call is sent: the end of the
	// platform's last ApiCallLimit ban.
	bannedUntil atomic.Int64

	wg sync.WaitGroup // counts running batch calls, so Close can wait for them

	mu       sync.Mutex        // guards pending, inflight and closed
	pending  map[string]*batch // per tracking id, the batch collecting sources; absent when none is
	inflight map[*batch]context.CancelFunc
	closed   bool
}

var errClosed = errors.New("aliexpress: client closed")

// New validates cfg and returns a Client. It fails, naming the problem, when a credential is missing,
// the API URL is not an absolute http(s) URL, or a number is negative.
func New(cfg Config) (*Client, error) {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"app key", cfg.AppKey}, {"app secret", cfg.AppSecret}, {"tracking id", cfg.TrackingID},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("affiliate config: missing %s", strings.Join(missing, ", "))
	}
	apiURL := cmp.Or(cfg.APIURL, DefaultAPIURL)
	if u, err := url.Parse(apiURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("affiliate config: API URL %q is not an absolute http or https URL", apiURL)
	}
	if cfg.BatchWindow < 0 || cfg.MaxBatch < 0 || cfg.RatePerSecond < 0 || cfg.Burst < 0 {
		return nil, fmt.Errorf("affiliate config: batch window, max batch, rate and burst must not be negative")
	}
	perSec := cmp.Or(cfg.RatePerSecond, defaultRate)
	burst := cmp.Or(cfg.Burst, max(1, int(perSec+0.999)))
	c := &Client{
		appKey:     cfg.AppKey,
		secret:     cfg.AppSecret,
		trackingID: cfg.TrackingID,
		apiURL:     apiURL,
		http:       cfg.HTTPClient,
		now:        cfg.Now,
		log:        cfg.Logger,
		onCall:     cfg.OnCall,
		limiter:    rate.NewLimiter(rate.Limit(perSec), burst),
		window:     cmp.Or(cfg.BatchWindow, defaultWindow),
		maxBatch:   cmp.Or(cfg.MaxBatch, defaultMaxBatch),
		inflight:   make(map[*batch]context.CancelFunc),
		pending:    make(map[string]*batch),
	}
	if c.http == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		c.http = &http.Client{Timeout: 10 * time.Second, Transport: t}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// GenerateBatch makes one signed link.generate call for sources (duplicates count once) and returns a
// Result for each of them. A source the platform has no link for gets ErrNotPromotable; an empty
// source or one with a comma gets an error without being sent. The error is non-nil only when the
// call failed as a whole: a *PlatformError, a *TransportError, ErrRateLimited, ctx's error, or more
// distinct sources than the configured MaxBatch.
func (c *Client) GenerateBatch(ctx context.Context, sources []string) (map[string]Result, error) {
	out := make(map[string]Result, len(sources))
	send := make([]string, 0, len(sources))
	for _, s := range sources {
		if _, dup := out[s]; dup {
			continue
		}
		if err := checkSource(s); err != nil {
			out[s] = Result{Err: err}
			continue
		}
		out[s] = Result{}
		send = append(send, s)
	}
	if len(send) > c.maxBatch {
		return nil, fmt.Errorf("aliexpress: %d sources exceed the batch maximum of %d", len(send), c.maxBatch)
	}
	if len(send) == 0 {
		return out, nil
	}
	res, err := c.generate(ctx, c.trackingID, send)
	if err != nil {
		return nil, err
	}
	maps.Copy(out, res)
	return out, nil
}

// ProductDetail asks the platform about one product, with its price in currency (default "USD") and
// its title in language (default "EN"). It returns ErrNotPromotable when the platform has no
// affiliate product with that id, and otherwise the errors GenerateBatch does. It shares the
// client's rate limit with link generation but never waits for it, so that details (a courtesy)
// never delay a link: when no call may be sent at once it returns ErrWouldWait without sending.
func (c *Client) ProductDetail(ctx context.Context, productID, currency, language string) (Product, error) {
	if err := checkSource(productID); err != nil {
		return Product{}, err
	}
	params := url.Values{
		"product_ids":     {productID},
		"fields":          {detailFields},
		"target_currency": {cmp.Or(currency, "USD")},
		"target_language": {cmp.Or(language, "EN")},
		"tracking_id":     {c.trackingID},
	}
	var p Product
	err := c.call(ctx, methodProductDetail, params, 1, false, func(body []byte) (err error) {
		p, err = parseProduct(body, productID)
		return err
	})
	return p, err
}

func checkSource(s string) error {
	switch {
	case s == "":
		return errors.New("aliexpress: empty source")
	case strings.ContainsRune(s, ','):
		return fmt.Errorf("aliexpress: source %q contains a comma", s)
	}
	return nil
}

// generate makes one link.generate call for distinct, checked sources, on the channel trackingID.
func (c *Client) generate(ctx context.Context, trackingID string, sources []string) (map[string]Result, error) {
	params := url.Values{
		"tracking_id":         {trackingID},
		"promotion_link_type": {"0"},
		"source_values":       {strings.Join(sources, ",")},
	}
	var out map[string]Result
	err := c.call(ctx, methodLinkGenerate, params, len(sources), true, func(body []byte) (err error) {
		out, err = parseLinks(body, sources)
		return err
	})
	return out, err
}

// call sends a signed request for method and hands the body to parse. It waits for the rate limiter
// and any ban (when mayWait; otherwise it sends only if it may at once), and retries at most once,
// only after ApiCallLimit or a transport error, and only when ctx leaves room: it never waits past
// ctx's deadline. Each attempt is stamped and signed anew.
func (c *Client) call(ctx context.Context, method string, params url.Values, n int, mayWait bool, parse func([]byte) error) error {
	wait := c.wait
	if !mayWait {
		wait = c.sendable
	}
	return c.callWith(ctx, method, params, n, wait, parse)
}

// callWith is call with the wait before each attempt given.
func (c *Client) callWith(ctx context.Context, method string, params url.Values, n int, wait func(context.Context) error, parse func([]byte) error) error {
	var last error
	for attempt := 0; attempt <= maxRetries; attempt++ {
		if err := wait(ctx); err != nil {
			// A retry that cannot be made leaves the caller with the reason it was wanted.
			return cmp.Or(last, err)
		}
		if last != nil {
			c.log.Warn("retry platform call", "method", method, "sources", n, "err", last)
		}
		last = c.attempt(ctx, method, params, n, parse)
		if last == nil || ctx.Err() != nil || !(errors.Is(last, ErrRateLimited) || errors.Is(last, ErrTransport)) {
			return last
		}
	}
	return last
}

// wait returns when a call may be sent: after any ban and a token from the limiter. It returns at once
// with ErrRateLimited when that would be after ctx's deadline.
func (c *Client) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d := time.Until(time.Unix(0, c.bannedUntil.Load())); d > 0 {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return fmt.Errorf("aliexpress: calls paused for %v after ApiCallLimit: %w", d.Round(time.Millisecond), ErrRateLimited)
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := c.limiter.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("aliexpress: client rate limit: %w", ErrRateLimited)
	}
	return nil
}

// sendable takes a token from the limiter if one is free now and no ban is on; otherwise it
// returns ErrWouldWait.
func (c *Client) sendable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if time.Now().UnixNano() < c.bannedUntil.Load() {
		return fmt.Errorf("aliexpress: calls paused after ApiCallLimit: %w", ErrWouldWait)
	}
	if !c.limiter.Allow() {
		return fmt.Errorf("aliexpress: client rate limit: %w", ErrWouldWait)
	}
	return nil
}

func (c *Client) attempt(ctx context.Context, method string, params url.Values, n int, parse func([]byte) error) error {
	start := time.Now()
	err := c.send(ctx, method, params, parse)
	d := time.Since(start)
	res := outcome(err)
	if c.onCall != nil {
		c.onCall(res, d, n)
	}
	c.log.Debug("platform call", "method", method, "sources", n, "result", res, "duration", d)
	return err
}

func (c *Client) send(ctx context.Context, method string, params url.Values, parse func([]byte) error) error {
	form := make(url.Values, len(params)+6)
	maps.Copy(form, params)
	form.Set("app_key", c.appKey)
	form.Set("method", method)
	form.Set("timestamp", strconv.FormatInt(c.now().UnixMilli(), 10))
	form.Set("sign_method", "sha256")
	form.Set("v", "2.0")
	sign := Sign(c.secret, form)
	form.Set("sign", sign)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.apiURL, strings.NewReader(form.Encode()))
	if err != nil {
		return &TransportError{Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	resp, err := c.http.Do(req)
	if err != nil {
		return &TransportError{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return &TransportError{Status: resp.StatusCode, Err: err}
	}
	if resp.StatusCode >= 500 {
		return &TransportError{Status: resp.StatusCode, Err: errors.New("server error")}
	}
	err = parse(body)
	var te *TransportError
	if errors.As(err, &te) {
		te.Status = resp.StatusCode
	}
	var pe *PlatformError
	if errors.As(err, &pe) {
		// The platform's words are passed on; the secret and the sign never are.
		for _, s := range []string{c.secret, sign} {
			pe.Msg = strings.ReplaceAll(pe.Msg, s, "[redacted]")
		}
		if pe.Code == codeRateLimit {
			c.ban(pe.Msg)
		}
	}
	return err
}

// ban pauses calls for as long as an ApiCallLimit message says ("this ban will last 1 seconds"),
// defaultBan when it does not say.
func (c *Client) ban(msg string) {
	d := defaultBan
	if _, rest, ok := strings.Cut(msg, "ban will last "); ok {
		num, _, _ := strings.Cut(rest, " ")
		if n, err := strconv.Atoi(num); err == nil && n > 0 {
			d = min(time.Duration(n)*time.Second, maxBan)
		}
	}
	until := time.Now().Add(d).UnixNano()
	for {
		cur := c.bannedUntil.Load()
		if cur >= until || c.bannedUntil.CompareAndSwap(cur, until) {
			break
		}
	}
	c.log.Warn("platform rate limit: pausing calls", "pause", d)
}

func outcome(err error) string {
	var pe *PlatformError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotPromotable):
		return "not_promotable"
	case errors.Is(err, ErrRateLimited):
		return "rate_limited"
	case errors.As(err, &pe):
		return "platform_error"
	default:
		return "transport_error"
	}
}
