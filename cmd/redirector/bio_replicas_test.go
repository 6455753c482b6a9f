package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/redistest"
)

// TestReplicasShareBioPageChanges: a bio page kept rendered on replica B shows, within a second,
// a page change, a deleted link and a deleted page made through replica A (renders are kept 10
// minutes otherwise).
func TestReplicasShareBioPageChanges(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	p, ps := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	t.Cleanup(ps.Close)
	environ := append(platformEnviron(p, ps.URL+"/sync"), "REDIS_URL="+rs.URL, "ADMIN_TOKEN="+e2eToken, "LOG_LEVEL=warn")
	a := startRun(t, nil, environ)
	b := startRun(t, nil, environ)
	replicaWaitListeners(t, rs, 2)

	var ids []string
	for _, u := range []string{"https://www.aliexpress.com/item/1005007100000001.html", "https://www.aliexpress.com/item/1005007100000002.html"} {
		r := a.do(t, http.MethodPost, "/api/links", `{"url":"`+u+`"}`, e2eToken)
		var l struct{ ID string }
		if err := json.Unmarshal([]byte(r.body), &l); r.status != http.StatusCreated || err != nil {
			t.Fatalf("A: POST /api/links = %d %s", r.status, r.body)
		}
		ids = append(ids, l.ID)
	}
	if r := a.do(t, http.MethodPost, "/api/pages", `{"handle":"Shared.Page","title":"First title","items":[{"id":"`+ids[0]+`"},{"id":"`+ids[1]+`"}]}`, e2eToken); r.status != http.StatusCreated {
		t.Fatalf("A: POST /api/pages = %d %s", r.status, r.body)
	}
	// B renders the page now, and keeps the render.
	if r := b.do(t, http.MethodGet, "/@shared.page", "", ""); r.status != http.StatusOK || !strings.Contains(r.body, "First title") || !strings.Contains(r.body, "/"+ids[0]+"?src=bio") {
		t.Fatalf("B: GET /@shared.page = %d, want 200 with the title and both items:\n%s", r.status, r.body)
	}
	await := func(what string, done func(e2eReply) bool) {
		t.Helper()
		start := time.Now()
		for {
			r := b.do(t, http.MethodGet, "/@shared.page", "", "")
			if done(r) {
				t.Logf("B shows %s %v after the change", what, time.Since(start).Round(time.Millisecond))
				return
			}
			if time.Since(start) > replicaBound {
				t.Fatalf("B: /@shared.page does not show %s within %v of the change made on A (%d):\n%s", what, replicaBound, r.status, r.body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if r := a.do(t, http.MethodPatch, "/api/pages/shared.page", `{"title":"Second title"}`, e2eToken); r.status != http.StatusOK {
		t.Fatalf("A: PATCH /api/pages = %d %s", r.status, r.body)
	}
	await("the new title", func(r e2eReply) bool { return strings.Contains(r.body, "Second title") })
	if r := a.do(t, http.MethodDelete, "/api/links/"+ids[0], "", e2eToken); r.status != http.StatusNoContent {
		t.Fatalf("A: DELETE /api/links = %d %s", r.status, r.body)
	}
	await("the deleted link gone", func(r e2eReply) bool {
		return r.status == http.StatusOK && !strings.Contains(r.body, "/"+ids[0]+"?") && strings.Contains(r.body, "/"+ids[1]+"?src=bio")
	})
	if r := a.do(t, http.MethodDelete, "/api/pages/SHARED.PAGE", "", e2eToken); r.status != http.StatusNoContent {
		t.Fatalf("A: DELETE /api/pages = %d %s", r.status, r.body)
	}
	await("404 for the deleted page", func(r e2eReply) bool { return r.status == http.StatusNotFound })
}
