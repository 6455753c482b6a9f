package redirect

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestPoisonedRecordsAreRefused is issue 13's item 6: whoever can write Redis cannot make an open
// redirect. A record whose target is not an accepted AliExpress page answers 404 with no Location,
// on the redirect and on its QR code, and is counted once in redirector_records_rejected_total.
// The admin API and the export show the record as it is stored (they are the admin's view of the
// store, served as JSON, and build no Location).
func TestPoisonedRecordsAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Preview: true})
	ctx := context.Background()
	tests := []struct {
		name, id, target string
	}{
		{"another site", "evil", "https://evil.example/login"},
		{"javascript", "evil-js", "javascript:alert(1)"},
		{"scheme-relative", "evil-slashes", "//evil.example"},
	}
	before := e.metricValue("redirector_records_rejected_total")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Written the way store/records.go lays a record out.
			if err := e.rdb.HSet(ctx, "rd:v1:{"+tc.id+"}:rec",
				"target", tc.target, "created", "1700000000000", "updated", "1700000000000").Err(); err != nil {
				t.Fatalf("HSET: %v", err)
			}
			requests := []struct {
				what, method, path string
				header             []string
			}{
				{"a click", http.MethodGet, "/" + tc.id, nil},
				{"a scan", http.MethodGet, "/" + tc.id + "?qr", nil},
				{"HEAD", http.MethodHead, "/" + tc.id, nil},
				{"a preview fetcher", http.MethodGet, "/" + tc.id, []string{"User-Agent", facebook}},
				{"its QR code", http.MethodGet, "/" + tc.id + "/qr.png", nil},
				{"its SVG QR code", http.MethodGet, "/" + tc.id + "/qr.svg", nil},
			}
			for _, rq := range requests {
				r := e.request(rq.method, rq.path, nil, rq.header...)
				if r.status != http.StatusNotFound || r.header.Get("Location") != "" {
					t.Errorf("%s (%s %s) with target %q stored = %s, want 404 and no Location", rq.what, rq.method, rq.path, tc.target, r)
				}
				if strings.Contains(string(r.body), "evil") {
					t.Errorf("%s (%s %s): body %q repeats the stored target", rq.what, rq.method, rq.path, r.body)
				}
			}

			// The admin's view shows what is stored, as data.
			r := e.api(http.MethodGet, "/api/links/"+tc.id, "")
			var l linkReply
			decode(t, r, &l)
			if r.status != http.StatusOK || l.Target != tc.target {
				t.Errorf("GET /api/links/%s = %s, want 200 showing the stored target %q", tc.id, r, tc.target)
			}
		})
	}
	if got := e.metricValue("redirector_records_rejected_total") - before; got != float64(len(tests)) {
		t.Errorf("redirector_records_rejected_total grew by %v, want %d (each record refused once, when read)", got, len(tests))
	}
	export := e.api(http.MethodGet, "/api/export", "")
	for _, tc := range tests {
		if !strings.Contains(string(export.body), `"id":"`+tc.id+`"`) {
			t.Errorf("GET /api/export = %s, want the stored record %s in it", export, tc.id)
		}
	}
	if n := e.platform.Calls(); n != 0 {
		t.Errorf("platform calls = %d, want 0: a refused record asks nothing", n)
	}
}
