package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
)

// TestRunDevShareLinks: in -dev the sandbox answers share links, so they work offline: each code leads to a
// sandbox product page of its own, through /go and the admin API alike.
func TestRunDevShareLinks(t *testing.T) {
	t.Parallel()
	s := startRun(t, []string{"-dev"}, nil)
	tests := []struct{ name, link, code string }{
		{"affiliate short link", "https://s.click.aliexpress.com/e/_abc", "_abc"},
		{"app share link", "https://a.aliexpress.com/_xyz", "_xyz"},
		{"old short link", "http://click.aliexpress.com/e/bXyZ12", "bXyZ12"},
	}
	for _, tc := range tests {
		r := s.do(t, http.MethodGet, "/go?u="+url.QueryEscape(tc.link), "", "")
		page := affiliatetest.SharePage(tc.code)
		if loc := r.header.Get("Location"); r.status != http.StatusFound || !strings.HasPrefix(loc, page+"?") || !strings.Contains(loc, sandboxMarker+"=") {
			t.Errorf("%s: GET /go?u=%s in -dev = %d Location %q, want 302 to %s marked %s", tc.name, tc.link, r.status, loc, page, sandboxMarker)
		}
	}

	m := regexp.MustCompile(`admin token:\s+([0-9a-f]{32})`).FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("-dev printed no admin token:\n%s", s.stderr)
	}
	r := s.do(t, http.MethodPost, "/api/links", `{"url":"https://a.aliexpress.com/_xyz"}`, m[1])
	var link struct{ Target string }
	if err := json.Unmarshal([]byte(r.body), &link); err != nil || r.status != http.StatusCreated || link.Target != affiliatetest.SharePage("_xyz") {
		t.Errorf("POST /api/links share link in -dev = %d %s, want 201 with target %s", r.status, r.body, affiliatetest.SharePage("_xyz"))
	}
}
