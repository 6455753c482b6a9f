package affiliate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
)

const (
	appKey   = "12345678"
	tracking = "blog_tracking"
	page1    = "https://www.aliexpress.com/item/1005001234567890.html"
	page2    = "https://www.aliexpress.com/item/1005009876543210.html"
)

// start runs a fake platform and a client pointed at it; mod adjusts the client's config.
func start(t *testing.T, pcfg affiliatetest.PlatformConfig, mod func(*affiliate.Config)) (*affiliate.Client, *affiliatetest.Platform) {
	t.Helper()
	pcfg.AppKey, pcfg.Secret, pcfg.TrackingID = appKey, testSecret, tracking
	p, srv := affiliatetest.NewServer(pcfg)
	t.Cleanup(srv.Close)
	cfg := affiliate.Config{AppKey: appKey, AppSecret: testSecret, TrackingID: tracking, APIURL: srv.URL, RatePerSecond: 1000}
	if mod != nil {
		mod(&cfg)
	}
	c, err := affiliate.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c, p
}

// ticking returns a clock that moves on a millisecond each time it is read, so that every request
// has its own timestamp.
func ticking() func() time.Time {
	base := time.Now()
	var n atomic.Int64
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Millisecond) }
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestNew(t *testing.T) {
	ok := affiliate.Config{AppKey: "k", AppSecret: "s", TrackingID: "t"}
	tests := []struct {
		name    string
		mod     func(*affiliate.Config)
		wantErr string // "" for success
	}{
		{"defaults", func(*affiliate.Config) {}, ""},
		{"http URL", func(c *affiliate.Config) { c.APIURL = "http://127.0.0.1:1/sync" }, ""},
		{"no credentials", func(c *affiliate.Config) { *c = affiliate.Config{} }, "missing app key, app secret, tracking id"},
		{"no secret", func(c *affiliate.Config) { c.AppSecret = "" }, "missing app secret"},
		{"no tracking id", func(c *affiliate.Config) { c.TrackingID = "" }, "missing tracking id"},
		{"relative URL", func(c *affiliate.Config) { c.APIURL = "/sync" }, "API URL"},
		{"ftp URL", func(c *affiliate.Config) { c.APIURL = "ftp://api-sg.aliexpress.com/sync" }, "API URL"},
		{"unparsable URL", func(c *affiliate.Config) { c.APIURL = "http://[::1" }, "API URL"},
		{"negative batch", func(c *affiliate.Config) { c.MaxBatch = -1 }, "negative"},
		{"negative rate", func(c *affiliate.Config) { c.RatePerSecond = -1 }, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			c, err := affiliate.New(cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New(%+v) error = %v, want nil", cfg, err)
				}
				c.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New(%+v) error = %v, want one containing %q", cfg, err, tc.wantErr)
			}
		})
	}
}

func TestGenerateBatchAnswers(t *testing.T) {
	type want struct {
		links    map[string]string // source → link; a missing source is ErrNotPromotable
		code     string            // *PlatformError code of a whole-call error
		is       error             // errors.Is target of a whole-call error
		status   int               // TransportError status
		calls    int
		noResult bool
	}
	both := map[string]string{page1: affiliatetest.Link(page1), page2: affiliatetest.Link(page2)}
	tests := []struct {
		name  string
		pcfg  affiliatetest.PlatformConfig
		setup func(*affiliatetest.Platform)
		mod   func(*affiliate.Config)
		ctx   time.Duration
		want  want
	}{
		{name: "success", want: want{links: both, calls: 1}},
		{name: "simplified shape", pcfg: affiliatetest.PlatformConfig{Simplify: true}, want: want{links: both, calls: 1}},
		{name: "custom link format", pcfg: affiliatetest.PlatformConfig{LinkFunc: func(s string) string { return "https://s.click.aliexpress.com/e/_sandbox" + s[len(s)-8:len(s)-5] }},
			want: want{links: map[string]string{page1: "https://s.click.aliexpress.com/e/_sandbox890", page2: "https://s.click.aliexpress.com/e/_sandbox210"}, calls: 1}},
		{name: "one source not promotable", setup: func(p *affiliatetest.Platform) { p.SetNotPromotable(page2) },
			want: want{links: map[string]string{page1: affiliatetest.Link(page1)}, calls: 1}},
		{name: "none promotable", setup: func(p *affiliatetest.Platform) { p.SetNotPromotable(page1, page2) }, want: want{calls: 1}},
		{name: "405 result is empty", setup: func(p *affiliatetest.Platform) { p.FailAlways(affiliatetest.FailEmpty) }, want: want{calls: 1}},
		{name: "401 not registered", setup: func(p *affiliatetest.Platform) { p.FailAlways(affiliatetest.FailNotRegistered) },
			want: want{noResult: true, code: "401", calls: 1}},
		{name: "wrong app key", mod: func(c *affiliate.Config) { c.AppKey = "87654321" }, want: want{noResult: true, code: "InvalidAppKey", calls: 1}},
		{name: "wrong secret", mod: func(c *affiliate.Config) { c.AppSecret = "wrong_secret" }, want: want{noResult: true, code: "IncompleteSignature", calls: 1}},
		{name: "wrong tracking id", mod: func(c *affiliate.Config) { c.TrackingID = "other" }, want: want{noResult: true, code: "InvalidParameter", calls: 1}},
		{name: "clock 20 minutes off", mod: func(c *affiliate.Config) { c.Now = func() time.Time { return time.Now().Add(-20 * time.Minute) } },
			want: want{noResult: true, code: "InvalidTimestamp", calls: 1}},
		{name: "ApiCallLimit, ban longer than the deadline", setup: func(p *affiliatetest.Platform) { p.FailAlways(affiliatetest.FailRateLimit) },
			ctx: 300 * time.Millisecond, want: want{noResult: true, code: "ApiCallLimit", is: affiliate.ErrRateLimited, calls: 1}},
		{name: "HTTP 503, retried once", setup: func(p *affiliatetest.Platform) { p.FailAlways(affiliatetest.Fail5xx) },
			want: want{noResult: true, is: affiliate.ErrTransport, status: 503, calls: 2}},
		{name: "HTML body", setup: func(p *affiliatetest.Platform) { p.FailAlways(affiliatetest.FailHTML) },
			want: want{noResult: true, is: affiliate.ErrTransport, status: 200, calls: 2}},
		{name: "garbage JSON", setup: func(p *affiliatetest.Platform) { p.FailAlways(affiliatetest.FailGarbage) },
			want: want{noResult: true, is: affiliate.ErrTransport, status: 200, calls: 2}},
		{name: "hang past the deadline", setup: func(p *affiliatetest.Platform) { p.FailAlways(affiliatetest.FailHang) },
			ctx: 100 * time.Millisecond, want: want{noResult: true, is: context.DeadlineExceeded, calls: 1}},
		{name: "HTTP client timeout, retried once", setup: func(p *affiliatetest.Platform) { p.FailAlways(affiliatetest.FailHang) },
			mod: func(c *affiliate.Config) { c.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond} }, want: want{noResult: true, is: affiliate.ErrTransport, calls: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, p := start(t, tc.pcfg, tc.mod)
			if tc.setup != nil {
				tc.setup(p)
			}
			ctx := timeout(t, cmpOr(tc.ctx, 5*time.Second))
			got, err := c.GenerateBatch(ctx, []string{page1, page2, page1})
			if n := p.Calls(); n != tc.want.calls {
				t.Errorf("platform calls = %d, want %d", n, tc.want.calls)
			}
			if tc.want.noResult {
				var pe *affiliate.PlatformError
				var te *affiliate.TransportError
				switch {
				case got != nil || err == nil:
					t.Fatalf("GenerateBatch = %v, %v; want no results and an error", got, err)
				case tc.want.code != "" && (!errors.As(err, &pe) || pe.Code != tc.want.code || pe.RequestID == ""):
					t.Fatalf("GenerateBatch error = %v, want *PlatformError code %s with a request id", err, tc.want.code)
				case tc.want.is != nil && !errors.Is(err, tc.want.is):
					t.Fatalf("GenerateBatch error = %v, want errors.Is %v", err, tc.want.is)
				case tc.want.status != 0 && (!errors.As(err, &te) || te.Status != tc.want.status):
					t.Fatalf("GenerateBatch error = %v, want *TransportError status %d", err, tc.want.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("GenerateBatch error = %v", err)
			}
			if len(got) != 2 {
				t.Fatalf("GenerateBatch = %v, want 2 results", got)
			}
			for _, s := range []string{page1, page2} {
				link, ok := tc.want.links[s]
				if r := got[s]; (ok && (r.Link != link || r.Err != nil)) || (!ok && (r.Link != "" || !errors.Is(r.Err, affiliate.ErrNotPromotable))) {
					t.Errorf("GenerateBatch[%s] = %+v, want link %q (ErrNotPromotable if empty)", s, r, link)
				}
			}
			if sv := p.SourceValues(); len(sv) != 2 {
				t.Errorf("platform source values = %q, want the 2 distinct sources", sv)
			}
		})
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func TestGenerateBatchChecksSources(t *testing.T) {
	c, p := start(t, affiliatetest.PlatformConfig{}, func(c *affiliate.Config) { c.MaxBatch = 2 })
	got, err := c.GenerateBatch(t.Context(), []string{"", "https://www.aliexpress.com/item/1,2.html", page1})
	if err != nil {
		t.Fatalf("GenerateBatch error = %v", err)
	}
	if got[""].Err == nil || got["https://www.aliexpress.com/item/1,2.html"].Err == nil || got[page1].Link != affiliatetest.Link(page1) {
		t.Errorf("GenerateBatch = %+v, want errors for the empty and comma sources and a link for %s", got, page1)
	}
	if sv := p.SourceValues(); len(sv) != 1 || sv[0] != page1 {
		t.Errorf("platform source values = %q, want only %s", sv, page1)
	}
	if _, err := c.GenerateBatch(t.Context(), []string{page1, page2, "https://www.aliexpress.com/item/3.html"}); err == nil {
		t.Errorf("GenerateBatch of 3 sources with MaxBatch 2: error = nil, want one")
	}
	if got, err := c.GenerateBatch(t.Context(), nil); err != nil || len(got) != 0 || p.Calls() != 1 {
		t.Errorf("GenerateBatch(nil) = %v, %v after %d calls; want empty, nil, no call", got, err, p.Calls())
	}
}

func TestRetrySignedAnew(t *testing.T) {
	tests := []struct {
		name    string
		failure affiliatetest.Failure
	}{
		{"after HTTP 503", affiliatetest.Fail5xx},
		{"after garbage", affiliatetest.FailGarbage},
		{"after ApiCallLimit and its ban", affiliatetest.FailRateLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, p := start(t, affiliatetest.PlatformConfig{}, func(c *affiliate.Config) { c.Now = ticking() })
			p.FailNext(tc.failure, 1)
			link, err := c.Generate(timeout(t, 5*time.Second), page1)
			if err != nil || link != affiliatetest.Link(page1) {
				t.Fatalf("Generate(%s) = %q, %v; want %q", page1, link, err, affiliatetest.Link(page1))
			}
			reqs := p.Requests()
			if len(reqs) != 2 {
				t.Fatalf("platform requests = %d, want 2", len(reqs))
			}
			if reqs[0].Get("timestamp") == reqs[1].Get("timestamp") || reqs[0].Get("sign") == reqs[1].Get("sign") {
				t.Errorf("retry timestamp, sign = %s, %s; first %s, %s; want both new",
					reqs[1].Get("timestamp"), reqs[1].Get("sign"), reqs[0].Get("timestamp"), reqs[0].Get("sign"))
			}
		})
	}
}

func TestNoRetryOnPlatformError(t *testing.T) {
	c, p := start(t, affiliatetest.PlatformConfig{}, nil)
	p.FailAlways(affiliatetest.FailNotRegistered)
	if _, err := c.Generate(timeout(t, 5*time.Second), page1); err == nil {
		t.Fatalf("Generate error = nil, want 401")
	}
	if n := p.Calls(); n != 1 {
		t.Errorf("platform calls = %d, want 1", n)
	}
}

func TestBanPausesCalls(t *testing.T) {
	c, p := start(t, affiliatetest.PlatformConfig{BanSeconds: 3}, nil)
	p.FailNext(affiliatetest.FailRateLimit, 1)
	_, err := c.Generate(timeout(t, 500*time.Millisecond), page1)
	if !errors.Is(err, affiliate.ErrRateLimited) {
		t.Fatalf("Generate error = %v, want ErrRateLimited", err)
	}
	// The ban said 3 seconds: calls that must end sooner are refused without asking the platform.
	for _, src := range []string{page1, page2} {
		if _, err := c.GenerateBatch(timeout(t, time.Second), []string{src}); !errors.Is(err, affiliate.ErrRateLimited) {
			t.Errorf("GenerateBatch(%s) during ban error = %v, want ErrRateLimited", src, err)
		}
		if _, err := c.ProductDetail(timeout(t, time.Second), "1", "", ""); !errors.Is(err, affiliate.ErrRateLimited) {
			t.Errorf("ProductDetail during ban error = %v, want ErrRateLimited", err)
		}
	}
	if n := p.Calls(); n != 1 {
		t.Errorf("platform calls = %d, want 1: none during the ban", n)
	}
}

func TestClientRateLimit(t *testing.T) {
	c, p := start(t, affiliatetest.PlatformConfig{}, func(c *affiliate.Config) { c.RatePerSecond, c.Burst = 0.5, 2 })
	for i, src := range []string{page1, page2} {
		if _, err := c.GenerateBatch(timeout(t, time.Second), []string{src}); err != nil {
			t.Fatalf("GenerateBatch #%d within burst error = %v", i, err)
		}
	}
	// The bucket is empty and refills in 2s: a call that must end within 1s is refused at once.
	_, err := c.GenerateBatch(timeout(t, time.Second), []string{page1})
	if !errors.Is(err, affiliate.ErrRateLimited) {
		t.Errorf("GenerateBatch past the burst error = %v, want ErrRateLimited", err)
	}
	if n := p.Calls(); n != 2 {
		t.Errorf("platform calls = %d, want 2", n)
	}
}

// Product details share the client's rate limit with link generation, and never wait for it.
func TestProductDetailNeverWaitsForTheRateLimit(t *testing.T) {
	const id = "1005001234567890"
	c, p := start(t, affiliatetest.PlatformConfig{}, func(c *affiliate.Config) { c.RatePerSecond, c.Burst = 0.01, 1 })
	p.SetProduct(id, affiliatetest.Product{Title: "Desk lamp", ImageURL: "https://ae01.alicdn.com/kf/lamp.jpg"})
	if _, err := c.GenerateBatch(timeout(t, time.Second), []string{page1}); err != nil {
		t.Fatalf("GenerateBatch within the burst error = %v", err)
	}
	// The bucket is empty for 100s; the call has a minute to spare, and still is not sent.
	_, err := c.ProductDetail(timeout(t, time.Minute), id, "", "")
	if !errors.Is(err, affiliate.ErrWouldWait) || !errors.Is(err, affiliate.ErrRateLimited) {
		t.Errorf("ProductDetail with no token free error = %v, want ErrWouldWait (and ErrRateLimited)", err)
	}
	if n := p.Calls(); n != 1 {
		t.Errorf("platform calls = %d, want 1 (the link's)", n)
	}

	// A token a detail takes is one link generation no longer has.
	c, p = start(t, affiliatetest.PlatformConfig{}, func(c *affiliate.Config) { c.RatePerSecond, c.Burst = 0.01, 1 })
	p.SetProduct(id, affiliatetest.Product{Title: "Desk lamp", ImageURL: "https://ae01.alicdn.com/kf/lamp.jpg"})
	if _, err := c.ProductDetail(t.Context(), id, "", ""); err != nil {
		t.Fatalf("ProductDetail with a token free error = %v", err)
	}
	if _, err := c.GenerateBatch(timeout(t, time.Second), []string{page1}); !errors.Is(err, affiliate.ErrRateLimited) {
		t.Errorf("GenerateBatch after a detail took the only token error = %v, want ErrRateLimited", err)
	}
}

func TestProductDetail(t *testing.T) {
	const id = "1005001234567890"
	prod := affiliatetest.Product{Title: "Desk lamp", ImageURL: "https://ae01.alicdn.com/kf/lamp.jpg", Price: "12.34", Currency: "USD",
		CommissionRate: "5.5%", ShopURL: "https://www.aliexpress.com/store/1234"}
	want := affiliate.Product{ID: id, Title: prod.Title, ImageURL: prod.ImageURL, Price: prod.Price, Currency: prod.Currency,
		CommissionRate: prod.CommissionRate, ShopURL: prod.ShopURL}
	for _, simplify := range []bool{false, true} {
		t.Run(fmt.Sprintf("simplify=%v", simplify), func(t *testing.T) {
			c, p := start(t, affiliatetest.PlatformConfig{Simplify: simplify}, nil)
			p.SetProduct(id, prod)
			got, err := c.ProductDetail(t.Context(), id, "USD", "EN")
			if err != nil || got != want {
				t.Errorf("ProductDetail(%s) = %+v, %v; want %+v", id, got, err, want)
			}
			if got, err := c.ProductDetail(t.Context(), "1005000000000001", "", ""); !errors.Is(err, affiliate.ErrNotPromotable) {
				t.Errorf("ProductDetail(unknown) = %+v, %v; want ErrNotPromotable", got, err)
			}
			r := p.Requests()[0]
			if r.Get("method") != affiliatetest.MethodProductDetail || r.Get("target_currency") != "USD" || r.Get("tracking_id") != tracking || r.Get("fields") == "" {
				t.Errorf("productdetail request = %v, want method, target_currency, tracking_id and fields", r)
			}
		})
	}
}

func TestOnCall(t *testing.T) {
	var mu sync.Mutex
	var got []string
	c, p := start(t, affiliatetest.PlatformConfig{}, func(c *affiliate.Config) {
		c.OnCall = func(result string, d time.Duration, n int) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprintf("%s/%d", result, n))
		}
	})
	p.FailNext(affiliatetest.Fail5xx, 1)
	c.GenerateBatch(t.Context(), []string{page1, page2})
	p.FailNext(affiliatetest.FailNotRegistered, 1)
	c.GenerateBatch(t.Context(), []string{page1})
	c.ProductDetail(t.Context(), "1", "", "")
	want := "transport_error/2 ok/2 platform_error/1 not_promotable/1"
	if s := strings.Join(got, " "); s != want {
		t.Errorf("OnCall results = %q, want %q", s, want)
	}
}

// TestNoSecretInErrorsOrLogs makes every kind of failure, logging at debug, and looks for the secret
// and every sign sent in the errors and the log.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex // guards logs
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var errs []error
	var signs []string
	run := func(failure affiliatetest.Failure, mod func(*affiliate.Config)) {
		c, p := start(t, affiliatetest.PlatformConfig{}, func(c *affiliate.Config) {
			c.Logger = logger
			if mod != nil {
				mod(c)
			}
		})
		p.FailAlways(failure)
		_, err := c.GenerateBatch(timeout(t, 300*time.Millisecond), []string{page1})
		errs = append(errs, err)
		for _, r := range p.Requests() {
			signs = append(signs, r.Get("sign"))
		}
	}
	for _, f := range []affiliatetest.Failure{affiliatetest.Fail5xx, affiliatetest.FailHTML, affiliatetest.FailGarbage,
		affiliatetest.FailHang, affiliatetest.FailRateLimit, affiliatetest.FailNotRegistered} {
		run(f, nil)
	}
	run(affiliatetest.FailNone, func(c *affiliate.Config) { c.AppSecret = testSecret + "x" })
	run(affiliatetest.FailNone, func(c *affiliate.Config) { c.AppKey = "1" })

	// A platform that echoes the request's parameters back in its message.
	var echoed []string
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		echoed = append(echoed, r.PostForm.Get("sign"))
		mu.Unlock()
		fmt.Fprintf(w, `{"error_response":{"type":"ISV","code":"InvalidParameter","msg":"bad sign %s for secret %s","request_id":"1"}}`,
			r.PostForm.Get("sign"), testSecret)
	}))
	defer echo.Close()
	run(affiliatetest.FailNone, func(c *affiliate.Config) { c.APIURL = echo.URL })

	for _, err := range errs {
		if err == nil {
			t.Fatalf("errors = %v, want every call to fail", errs)
		}
	}
	mu.Lock()
	text := logs.String()
	signs = append(signs, echoed...)
	mu.Unlock()
	if len(echoed) == 0 || !strings.Contains(errs[len(errs)-1].Error(), "[redacted]") {
		t.Errorf("echoing platform: %d requests, error %v; want the sign and secret redacted", len(echoed), errs[len(errs)-1])
	}
	for _, err := range errs {
		text += "\n" + err.Error()
	}
	if strings.Contains(text, testSecret) {
		t.Errorf("the secret appears in errors or logs:\n%s", text)
	}
	for _, s := range signs {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("sign %s appears in errors or logs:\n%s", s, text)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
