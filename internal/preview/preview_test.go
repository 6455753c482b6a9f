package preview_test

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/preview"
)

const (
	productID = "1005001234567890"
	target    = "https://www.aliexpress.com/item/" + productID + ".html"
	location  = "https://s.click.aliexpress.com/e/_abc"
	shortURL  = "https://go.example.com/4bNbq4b6AY"
)

// anyone is the client of a fetch whose client does not matter to the test.
var anyone netip.Addr

func newPreviewer(t *testing.T) (*preview.Previewer, *affiliatetest.Platform) {
	t.Helper()
	return newPreviewerWith(t, preview.Options{})
}

func newPreviewerWith(t *testing.T, opts preview.Options) (*preview.Previewer, *affiliatetest.Platform) {
	t.Helper()
	fake, srv := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	t.Cleanup(srv.Close)
	cfg := fake.Config()
	client, err := affiliate.New(affiliate.Config{
		AppKey: cfg.AppKey, AppSecret: cfg.Secret, TrackingID: cfg.TrackingID, APIURL: srv.URL + "/sync",
		RatePerSecond: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return preview.New(client, opts), fake
}

func TestPreviewRendersOpenGraphTagsEscaped(t *testing.T) {
	p, fake := newPreviewer(t)
	fake.SetProduct(productID, affiliatetest.Product{
		ID: productID, Title: `Wireless <earbuds> "Pro" & case`, ImageURL: "https://ae01.alicdn.com/kf/S123.jpg",
		Price: "12.34", Currency: "USD",
	})
	page, ok := p.Preview(context.Background(), target, location, shortURL, anyone)
	if !ok {
		t.Fatal("Preview: ok=false, want a page")
	}
	s := string(page)
	for _, want := range []string{
		`<meta property="og:title" content="Wireless &lt;earbuds&gt; &#34;Pro&#34; &amp; case">`,
		`<meta property="og:image" content="https://ae01.alicdn.com/kf/S123.jpg">`,
		`<meta property="og:url" content="` + shortURL + `">`,
		`<meta name="twitter:card" content="summary_large_image">`,
		`12.34 USD`,
		`<a href="` + location + `">`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %s\npage:\n%s", want, s)
		}
	}
	if strings.Contains(s, "<earbuds>") {
		t.Errorf("title not escaped:\n%s", s)
	}
}

func TestPreviewFetchesEachProductOnce(t *testing.T) {
	p, fake := newPreviewer(t)
	fake.SetProduct(productID, affiliatetest.Product{ID: productID, Title: "Lamp", ImageURL: "https://ae01.alicdn.com/kf/S1.jpg", Price: "3.00", Currency: "USD"})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, ok := p.Preview(context.Background(), target, location, shortURL, anyone); !ok {
				t.Error("Preview: ok=false")
			}
		})
	}
	wg.Wait()
	if _, ok := p.Preview(context.Background(), target, location, shortURL, anyone); !ok {
		t.Error("Preview after load: ok=false")
	}
	if got := fake.Calls(); got != 1 {
		t.Errorf("platform calls = %d, want 1", got)
	}
}

func TestPreviewDeclines(t *testing.T) {
	p, fake := newPreviewer(t)
	fake.SetProduct("1005000000000001", affiliatetest.Product{ID: "1005000000000001", Title: "Bad image", ImageURL: "https://evil.example/x.jpg"})
	tests := []struct {
		name, target string
	}{
		{"unknown product", target},
		{"image off AliExpress", "https://www.aliexpress.com/item/1005000000000001.html"},
		{"store page", "https://www.aliexpress.com/store/1234"},
		{"not a URL", "::"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if page, ok := p.Preview(context.Background(), tc.target, location, shortURL, anyone); ok {
				t.Errorf("Preview(%q) = ok with %q, want ok=false", tc.target, page)
			}
		})
	}
}

func TestPreviewPlatformDownDeclines(t *testing.T) {
	p, fake := newPreviewer(t)
	fake.FailAlways(affiliatetest.Fail5xx)
	if _, ok := p.Preview(context.Background(), target, location, shortURL, anyone); ok {
		t.Error("Preview with the platform failing: ok=true, want false")
	}
}

// A fetch that would call the platform asks Admit first; one answered from the cache does not.
func TestPreviewAdmit(t *testing.T) {
	fetcher := netip.MustParseAddr("203.0.113.9")
	var admit atomic.Bool
	var asked atomic.Int64
	p, fake := newPreviewerWith(t, preview.Options{Admit: func(_ context.Context, client netip.Addr) bool {
		asked.Add(1)
		if client != fetcher {
			t.Errorf("Admit(client = %v), want the client Preview was given", client)
		}
		return admit.Load()
	}})
	fake.SetProduct(productID, affiliatetest.Product{ID: productID, Title: "Lamp", ImageURL: "https://ae01.alicdn.com/kf/S1.jpg"})
	ctx := context.Background()
	if _, ok := p.Preview(ctx, target, location, shortURL, fetcher); ok {
		t.Error("Preview with Admit refusing: ok=true, want false")
	}
	if n := fake.Calls(); n != 0 {
		t.Errorf("platform calls with Admit refusing = %d, want 0", n)
	}
	admit.Store(true) // the refusal was not remembered: the next fetcher may ask
	if _, ok := p.Preview(ctx, target, location, shortURL, fetcher); !ok {
		t.Error("Preview admitted: ok=false, want a page")
	}
	admit.Store(false)
	if _, ok := p.Preview(ctx, target, location, shortURL, fetcher); !ok {
		t.Error("Preview from the cache with Admit refusing: ok=false, want a page (a cached answer costs nothing)")
	}
	if n := asked.Load(); n != 2 {
		t.Errorf("Admit asked %d times, want 2 (not for the cached answer)", n)
	}
	if n := fake.Calls(); n != 1 {
		t.Errorf("platform calls = %d, want 1", n)
	}
}
