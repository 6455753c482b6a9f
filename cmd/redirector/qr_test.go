package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/shortid"
)

// The service wires a QR code cache and shows its counts in /metrics.
func TestRunQRCacheMetrics(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	p, ps := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	t.Cleanup(ps.Close)
	s := startRun(t, nil, append(platformEnviron(p, ps.URL), "REDIS_URL="+rs.URL, "ADMIN_TOKEN="+e2eToken))
	defer func() {
		if err := s.stop(t); err != nil {
			t.Errorf("run = %v, want nil", err)
		}
	}()
	code, err := shortid.Product("1005001234567890")
	if err != nil {
		t.Fatal(err)
	}
	path := "/" + code + "/qr.png?size=2048&ecc=H"
	first := s.do(t, http.MethodGet, path, "", "")
	if first.status != http.StatusOK || first.header.Get("ETag") == "" {
		t.Fatalf("GET %s = %d ETag %q, want 200 with an ETag", path, first.status, first.header.Get("ETag"))
	}
	if r := s.do(t, http.MethodGet, path, "", ""); r.status != http.StatusOK || r.body != first.body {
		t.Fatalf("GET %s again = %d, %d bytes; want 200 and the same %d bytes", path, r.status, len(r.body), len(first.body))
	}
	r := s.do(t, http.MethodGet, "/metrics", "", "")
	for _, want := range []string{
		"redirector_qr_renders_total 1\n",
		"redirector_qr_cache_hits_total 1\n",
		"redirector_qr_refused_total 0\n",
		"redirector_qr_cache_bytes ",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("GET /metrics = %d, no line %q", r.status, strings.TrimSpace(want))
		}
	}
}
