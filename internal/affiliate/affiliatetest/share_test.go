package affiliatetest_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/aliurl"
)

func TestSharePage(t *testing.T) {
	product := regexp.MustCompile(`^https://www\.aliexpress\.com/item/1005[0-9]{12}\.html$`)
	seen := make(map[string]string)
	for _, code := range []string{"_abc", "_xyz", "_DdwQn3v", "bXyZ12", "_abd"} {
		got := affiliatetest.SharePage(code)
		if !product.MatchString(got) || got != affiliatetest.SharePage(code) {
			t.Errorf("SharePage(%q) = %q, want the same product page every time", code, got)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("SharePage(%q) = SharePage(%q) = %q, want different pages", code, other, got)
		}
		seen[got] = code
	}
}

// TestShareServerThroughResolver follows share links to the share server as the service does.
func TestShareServerThroughResolver(t *testing.T) {
	s, err := affiliatetest.NewShareServer()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := aliurl.NewResolver(aliurl.ResolverConfig{DialContext: s.Dial, TLSClientConfig: s.TLSConfig()})
	tests := []struct{ link, code string }{
		{"https://s.click.aliexpress.com/e/_abc", "_abc"},
		{"https://a.aliexpress.com/_xyz", "_xyz"},
		{"https://click.aliexpress.com/e/bXyZ12", "bXyZ12"},
	}
	for _, tc := range tests {
		p, err := aliurl.Parse(tc.link)
		if err != nil {
			t.Fatalf("Parse(%q) = %v", tc.link, err)
		}
		got, err := r.Resolve(t.Context(), p)
		if want := affiliatetest.SharePage(tc.code); err != nil || got.URL != want || got.Kind != aliurl.Product {
			t.Errorf("Resolve(%q) = %+v, %v; want the product %s", tc.link, got, err, want)
		}
	}
	// a. links go through s.click: two requests; the others one each.
	if n := s.Requests(); n != 4 {
		t.Errorf("share server got %d requests, want 4", n)
	}

	resp, err := (&http.Client{Transport: &http.Transport{DialContext: s.Dial, TLSClientConfig: s.TLSConfig()}}).
		Get("https://a.aliexpress.com/not-a-share-link")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET a.aliexpress.com/not-a-share-link = %d, want 404", resp.StatusCode)
	}
}
