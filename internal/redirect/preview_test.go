package redirect

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
)

func TestPreviewFetchersGetOpenGraphPage(t *testing.T) {
	e := newEnv(t, envOptions{Preview: true})
	pid := strconv.FormatInt(productID(900), 10)
	e.platform.SetProduct(pid, affiliatetest.Product{
		ID: pid, Title: "Folding desk lamp", ImageURL: "https://ae01.alicdn.com/kf/Slamp.jpg", Price: "19.99", Currency: "USD",
	})
	l := e.create(`{"url":"`+product(900)+`"}`, http.StatusCreated)

	r := e.get("/"+l.ID, "User-Agent", facebook)
	if r.status != http.StatusOK {
		t.Fatalf("GET /%s as facebookexternalhit = %v, want 200 with a preview page", l.ID, r)
	}
	body := string(r.body)
	for _, want := range []string{
		`<meta property="og:title" content="Folding desk lamp">`,
		`<meta property="og:image" content="https://ae01.alicdn.com/kf/Slamp.jpg">`,
		`<meta property="og:url" content="` + testBase + "/" + l.ID + `">`,
		`href="` + e.platform.Link(product(900)) + `"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("preview page lacks %s\n%s", want, body)
		}
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("preview page CSP = %q, want a strict policy", csp)
	}

	// People and other bots still get the redirect, and no preview fetch is counted.
	for _, ua := range []string{chromeUA, googleUA} {
		if r := e.get("/"+l.ID, "User-Agent", ua); r.status != http.StatusFound {
			t.Errorf("GET /%s as %q = %v, want 302", l.ID, ua, r)
		}
	}
	waitFor(t, "every click recorded so far flushed", func() bool { return e.counter.Pending() == 0 })
	var got linkReply
	decode(t, e.api(http.MethodGet, "/api/links/"+l.ID, ""), &got)
	if got.Clicks == nil || *got.Clicks != 1 {
		t.Errorf("clicks = %v, want 1 (the person's; not the preview fetcher's or the crawler's)", got.Clicks)
	}
}

func TestPreviewWithoutDetailsIsThePlainRedirect(t *testing.T) {
	e := newEnv(t, envOptions{Preview: true})
	l := e.create(`{"url":"`+product(901)+`"}`, http.StatusCreated) // the fake knows no details for it
	if r := e.get("/"+l.ID, "User-Agent", facebook); r.status != http.StatusFound {
		t.Errorf("GET /%s as a preview fetcher without product details = %v, want 302", l.ID, r)
	}
}
