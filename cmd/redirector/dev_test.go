package main

import (
	"encoding/json"
	"io"
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

// TestRunDevPreview: in -dev the sandbox knows every product, so a preview fetcher of a product short
// link gets the Open Graph card (title, an image on AliExpress's image host, price), and a person the
// redirect.
func TestRunDevPreview(t *testing.T) {
	t.Parallel()
	s := startRun(t, []string{"-dev"}, []string{"ADMIN_TOKEN=" + e2eToken})
	const page = "https://www.aliexpress.com/item/1005007654321098.html"
	r := s.do(t, http.MethodPost, "/api/links", `{"url":"`+page+`"}`, e2eToken)
	var link struct{ ID string }
	if err := json.Unmarshal([]byte(r.body), &link); err != nil || r.status != http.StatusCreated {
		t.Fatalf("POST /api/links %s in -dev = %d %s, want 201", page, r.status, r.body)
	}
	tests := []struct {
		name, ua string
		status   int
		want     []string // in the body
	}{
		{"preview fetcher", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", http.StatusOK,
			[]string{`property="og:title" content="Sandbox product 1005007654321098"`, `property="og:image" content="https://ae01.alicdn.com/`, "9.99"}},
		{"person", e2eUA, http.StatusFound, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.base+"/"+link.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("User-Agent", tc.ua)
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatalf("GET /%s as %s: %v", link.ID, tc.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("GET /%s as %s in -dev = %d, want %d; body:\n%s", link.ID, tc.name, resp.StatusCode, tc.status, body)
			}
			for _, want := range tc.want {
				if !strings.Contains(string(body), want) {
					t.Errorf("GET /%s as %s in -dev: body lacks %q:\n%s", link.ID, tc.name, want, body)
				}
			}
		})
	}
}
