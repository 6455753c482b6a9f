package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/redirector/redirector/internal/console"
)

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data: https://*.alicdn.com https://*.aliexpress-media.com; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// get serves one request through a real HTTP server, so the headers are those a browser sees.
func get(t *testing.T, srv *httptest.Server, method, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, string(body)
}

func checkSecurityHeaders(t *testing.T, path string, h http.Header) {
	t.Helper()
	for _, want := range []struct{ key, value string }{
		{"Content-Security-Policy", wantCSP},
		{"X-Content-Type-Options", "nosniff"},
		{"X-Frame-Options", "DENY"},
		{"Referrer-Policy", "no-referrer"},
	} {
		if got := h.Get(want.key); got != want.value {
			t.Errorf("GET %s: %s = %q, want %q", path, want.key, got, want.value)
		}
	}
}

func TestPage(t *testing.T) {
	srv := httptest.NewServer(console.New())
	defer srv.Close()
	for _, path := range []string{"/admin", "/admin/"} {
		t.Run(path, func(t *testing.T) {
			resp, body := get(t, srv, http.MethodGet, path, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200", path, resp.StatusCode)
			}
			if got, want := resp.Header.Get("Content-Type"), "text/html; charset=utf-8"; got != want {
				t.Errorf("GET %s: Content-Type = %q, want %q", path, got, want)
			}
			if got, want := resp.Header.Get("Cache-Control"), "no-store"; got != want {
				t.Errorf("GET %s: Cache-Control = %q, want %q", path, got, want)
			}
			checkSecurityHeaders(t, path, resp.Header)
			if !strings.Contains(body, `<script src="/admin/static/console.js" defer></script>`) {
				t.Errorf("GET %s: page does not load /admin/static/console.js", path)
			}
		})
	}
}

// TestPageHasNothingInline checks that the page works under its own policy: no inline script,
// no event-handler attributes, no inline style, and nothing loaded from another origin.
func TestPageHasNothingInline(t *testing.T) {
	srv := httptest.NewServer(console.New())
	defer srv.Close()
	_, page := get(t, srv, http.MethodGet, "/admin", nil)

	scripts := regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`).FindAllStringSubmatch(page, -1)
	if len(scripts) == 0 {
		t.Fatal("page has no script element")
	}
	for _, s := range scripts {
		if !strings.Contains(s[1], `src="/admin/static/`) {
			t.Errorf("script %q does not load a console file", s[0])
		}
		if strings.TrimSpace(s[2]) != "" {
			t.Errorf("script %q has inline code", s[0])
		}
	}
	for name, re := range map[string]*regexp.Regexp{
		"event-handler attribute": regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`),
		"style attribute":         regexp.MustCompile(`(?i)<[^>]+\sstyle\s*=`),
		"style element":           regexp.MustCompile(`(?i)<style\b`),
		"javascript: URL":         regexp.MustCompile(`(?i)javascript:`),
		"URL of another origin":   regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`),
	} {
		if m := re.FindString(page); m != "" {
			t.Errorf("page has a %s: %q", name, m)
		}
	}
}

// TestPageReferencesServed follows every src and href of the page that points into the console.
func TestPageReferencesServed(t *testing.T) {
	srv := httptest.NewServer(console.New())
	defer srv.Close()
	_, page := get(t, srv, http.MethodGet, "/admin", nil)
	refs := regexp.MustCompile(`(?:src|href)="(/admin/static/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("page references %d console files, want at least 3 (script, style, icon)", len(refs))
	}
	for _, ref := range refs {
		resp, _ := get(t, srv, http.MethodGet, ref[1], nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s (referenced by the page): status %d, want 200", ref[1], resp.StatusCode)
		}
	}
}

func TestStatic(t *testing.T) {
	srv := httptest.NewServer(console.New())
	defer srv.Close()
	tests := []struct {
		name, path, contentType, contains string
	}{
		{"script", "/admin/static/console.js", "text/javascript; charset=utf-8", "'use strict';"},
		{"style", "/admin/static/console.css", "text/css; charset=utf-8", ":root"},
		{"icon", "/admin/static/icon.svg", "image/svg+xml", "<svg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, srv, http.MethodGet, tc.path, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200", tc.path, resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("GET %s: Content-Type = %q, want %q", tc.path, got, tc.contentType)
			}
			if got, want := resp.Header.Get("Cache-Control"), "no-cache"; got != want {
				t.Errorf("GET %s: Cache-Control = %q, want %q", tc.path, got, want)
			}
			checkSecurityHeaders(t, tc.path, resp.Header)
			if !strings.Contains(body, tc.contains) {
				t.Errorf("GET %s: body does not contain %q", tc.path, tc.contains)
			}
			etag := resp.Header.Get("ETag")
			if etag == "" {
				t.Fatalf("GET %s: no ETag", tc.path)
			}
			resp, body = get(t, srv, http.MethodGet, tc.path, http.Header{"If-None-Match": {etag}})
			if resp.StatusCode != http.StatusNotModified || body != "" {
				t.Errorf("GET %s with If-None-Match %s: status %d with %d bytes, want 304 and none", tc.path, etag, resp.StatusCode, len(body))
			}
			resp, body = get(t, srv, http.MethodHead, tc.path, nil)
			if resp.StatusCode != http.StatusOK || body != "" {
				t.Errorf("HEAD %s: status %d with %d bytes, want 200 and none", tc.path, resp.StatusCode, len(body))
			}
		})
	}
}

func TestNotServed(t *testing.T) {
	srv := httptest.NewServer(console.New())
	defer srv.Close()
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"unknown file", http.MethodGet, "/admin/static/nope.js", http.StatusNotFound},
		{"the static directory", http.MethodGet, "/admin/static/", http.StatusNotFound},
		{"index by name", http.MethodGet, "/admin/static/index.html", http.StatusNotFound},
		{"go source", http.MethodGet, "/admin/static/../console.go", http.StatusNotFound},
		{"other page", http.MethodGet, "/admin/settings", http.StatusNotFound},
		{"outside the prefix", http.MethodGet, "/administrator", http.StatusNotFound},
		{"POST page", http.MethodPost, "/admin", http.StatusMethodNotAllowed},
		{"DELETE file", http.MethodDelete, "/admin/static/console.js", http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := get(t, srv, tc.method, tc.path, nil)
			if resp.StatusCode != tc.status {
				t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
			}
			checkSecurityHeaders(t, tc.path, resp.Header)
			if tc.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: Allow = %q, want %q", tc.method, tc.path, resp.Header.Get("Allow"), "GET, HEAD")
			}
		})
	}
}

// TestScriptBuildsNoHTML checks the console's script for the ways data could become markup or
// code, and for URLs of other origins: everything it shows goes through textContent.
func TestScriptBuildsNoHTML(t *testing.T) {
	srv := httptest.NewServer(console.New())
	defer srv.Close()
	_, js := get(t, srv, http.MethodGet, "/admin/static/console.js", nil)
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "DOMParser", "createContextualFragment"} {
		if strings.Contains(js, bad) {
			t.Errorf("console.js uses %s", bad)
		}
	}
	// The SVG namespace is a name, not a place the script fetches from; "https://" alone (in a sentence
	// or a check of a pasted URL) names no origin.
	rest := strings.ReplaceAll(js, "'http://www.w3.org/2000/svg'", "")
	if m := regexp.MustCompile(`https?://[A-Za-z0-9][^\s'"]*`).FindString(rest); m != "" && !strings.HasPrefix(m, "https://www.aliexpress.com/item/") {
		t.Errorf("console.js names another origin: %q", m)
	}
	_, css := get(t, srv, http.MethodGet, "/admin/static/console.css", nil)
	if strings.Contains(css, "url(") || strings.Contains(css, "@import") {
		t.Error("console.css loads something (url( or @import)")
	}
}
