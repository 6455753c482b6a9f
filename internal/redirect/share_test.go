package redirect

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
)

// TestGoShareUnreachable: a share link whose host cannot be reached sends the visitor to the AliExpress home page
// (counted untagged), and the failure is remembered for a while: a second click makes no new request.
func TestGoShareUnreachable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		failure affiliatetest.ShareFailure
	}{
		{"time-out", affiliatetest.ShareHang},
		{"503", affiliatetest.Share5xx},
		{"429", affiliatetest.Share429},
		{"connection refused", affiliatetest.ShareRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			shares := startShares(t)
			// UPSTREAM_TIMEOUT at its default, not the tests' 300 ms: the last click must be tagged, and a
			// loaded machine can take longer than 300 ms to answer it.
			e := newEnv(t, envOptions{Shares: shares, UpstreamTimeout: 2 * time.Second})
			shares.Fail(tc.failure)
			fetches := func() int { return shares.Requests() + shares.Refused() }
			const link = "https://s.click.aliexpress.com/e/_down"

			checkRedirect(t, "GET /go share link, host "+tc.name, e.get(goPath(link)), homePage)
			if got := counterValue(t, e.metrics.Go.Untagged); got != 1 {
				t.Errorf("untagged /go redirects counted = %v, want 1", got)
			}
			first := fetches()
			if first == 0 {
				t.Fatalf("share host reached 0 times, want the link followed")
			}

			e.clock.Advance(20 * time.Second)
			checkRedirect(t, "GET /go share link again within 30s", e.get(goPath(link)), homePage)
			if got := fetches(); got != first {
				t.Errorf("share host reached %d times after a second click within 30s, want %d (the failure remembered)", got, first)
			}

			shares.Fail(affiliatetest.ShareOK)
			e.clock.Advance(11 * time.Second)
			page := affiliatetest.SharePage("_down")
			checkRedirect(t, "GET /go share link once the host is back", e.get(goPath(link)), e.platform.Link(page))
			if got := e.platform.SourceValues(); len(got) != 1 || got[0] != page {
				t.Errorf("platform was asked for %q, want [%q]", got, page)
			}
		})
	}
}

// TestGoShareLinks: share links that lead to a page are that page; those that lead nowhere are refused.
func TestGoShareLinks(t *testing.T) {
	t.Parallel()
	shares := startShares(t)
	e := newEnv(t, envOptions{Shares: shares})
	for _, link := range []string{"https://s.click.aliexpress.com/e/_abc", "https://a.aliexpress.com/_xyz", "http://click.aliexpress.com/e/bXyZ12"} {
		code := link[strings.LastIndexAny(link, "/")+1:]
		checkRedirect(t, "GET /go "+link, e.get(goPath(link)), e.platform.Link(affiliatetest.SharePage(code)))
	}

	tests := []struct {
		name    string
		failure affiliatetest.ShareFailure
		reason  string
	}{
		{"unknown code", affiliatetest.ShareGone, "share link is unknown or has expired"},
		{"off AliExpress", affiliatetest.ShareOffsite, "share link does not lead to an AliExpress page"},
	}
	for i, tc := range tests {
		shares.Fail(tc.failure)
		path := goPath(fmt.Sprintf("https://s.click.aliexpress.com/e/_bad%d", i))
		r := e.get(path)
		if r.status != http.StatusBadRequest || r.header.Get("Location") != "" || strings.TrimSpace(string(r.body)) != tc.reason {
			t.Errorf("%s: GET %s = %s, want 400 %q and no Location", tc.name, path, r, tc.reason)
		}
	}
}

// TestCreateShareLink: the admin API makes a link from a share link's page, and refuses, with a reason, a share
// link it could not follow: a link is never made from a page nobody has seen.
func TestCreateShareLink(t *testing.T) {
	t.Parallel()
	shares := startShares(t)
	e := newEnv(t, envOptions{Shares: shares})
	l := e.create(`{"url":"https://s.click.aliexpress.com/e/_abc"}`, http.StatusCreated)
	if want := affiliatetest.SharePage("_abc"); l.Target != want {
		t.Errorf("POST /api/links share link: target %q, want %q", l.Target, want)
	}

	tests := []struct {
		name    string
		failure affiliatetest.ShareFailure
		reason  string
	}{
		{"time-out", affiliatetest.ShareHang, "the share link could not be followed: share link could not be resolved"},
		{"503", affiliatetest.Share5xx, "the share link could not be followed: share link could not be resolved"},
		{"429", affiliatetest.Share429, "the share link could not be followed: share link could not be resolved"},
		{"connection refused", affiliatetest.ShareRefused, "the share link could not be followed: share link could not be resolved"},
		{"unknown code", affiliatetest.ShareGone, "the share link could not be followed: share link is unknown or has expired"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			shares.Fail(tc.failure)
			body := fmt.Sprintf(`{"url":"https://s.click.aliexpress.com/e/_new%d"}`, i)
			if msg := apiError(t, "POST /api/links "+body, e.api(http.MethodPost, "/api/links", body), http.StatusBadRequest); msg != tc.reason {
				t.Errorf("POST /api/links %s: error %q, want %q", body, msg, tc.reason)
			}
		})
	}
}
