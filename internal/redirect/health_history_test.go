package redirect

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
)

// TestHealthHistoryAPI: GET /api/links/{id} shows the link's changes of health state, newest first, as
// the checks found them (ok at creation, gone, ok again); the list leaves them out; a new target starts
// the history over and deleting the link deletes it.
func TestHealthHistoryAPI(t *testing.T) {
	e := newEnv(t, envOptions{Health: true})
	p := e.platform
	pid := strconv.FormatInt(productID(31), 10)
	p.SetProduct(pid, affiliatetest.Product{Title: "Desk lamp", ImageURL: "https://ae01.alicdn.com/kf/x.jpg"})
	// e.clock runs with the wall clock: each change is known to lie within the span of what made it.
	type span struct{ from, to time.Time }
	createdFrom := e.clock.Now()
	l := e.createH(fmt.Sprintf(`{"url": %q}`, product(31)), http.StatusCreated) // Inspect: unknown → ok
	created := span{createdFrom, e.clock.Now()}

	get := func() healthLink {
		t.Helper()
		r := e.api(http.MethodGet, "/api/links/"+l.ID, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET /api/links/%s = %s", l.ID, r)
		}
		var got healthLink
		decodeLoose(t, r, &got)
		return got
	}
	check := func() span {
		t.Helper()
		e.clock.Advance(time.Hour)
		from := e.clock.Now()
		if _, err := e.monitor.CheckAll(t.Context()); err != nil {
			t.Fatalf("CheckAll: %v", err)
		}
		return span{from, e.clock.Now()}
	}
	within := func(at time.Time, s span) bool {
		return !at.Before(s.from.Truncate(time.Millisecond)) && !at.After(s.to)
	}
	check() // ok again: no change
	p.RemoveProduct(pid)
	gone := check()
	p.RestoreProduct(pid)
	back := check()

	got := get()
	want := []struct {
		when     span
		from, to string
	}{{back, "gone", "ok"}, {gone, "ok", "gone"}, {created, "unknown", "ok"}}
	if len(got.HealthHistory) != len(want) {
		t.Fatalf("health_history = %+v, want %+v (newest first)", got.HealthHistory, want)
	}
	for i, h := range got.HealthHistory {
		if w := want[i]; h.From != w.from || h.To != w.to || !within(h.At, w.when) {
			t.Errorf("health_history[%d] = %+v, want %s → %s within %v", i, h, w.from, w.to, w.when)
		}
	}
	if got.Health == nil || got.Health.State != "ok" {
		t.Errorf("health = %+v, want ok", got.Health)
	}

	// The list does not carry it.
	r := e.api(http.MethodGet, "/api/links", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET /api/links = %s", r)
	}
	var list struct {
		Links []map[string]any `json:"links"`
	}
	decodeLoose(t, r, &list)
	for _, m := range list.Links {
		if _, ok := m["health_history"]; ok {
			t.Errorf("GET /api/links: link %v carries health_history", m["id"])
		}
	}

	// A new target: the history starts over with its first check.
	if r := e.api(http.MethodPatch, "/api/links/"+l.ID, fmt.Sprintf(`{"url": %q}`, product(32))); r.status != http.StatusOK {
		t.Fatalf("PATCH = %s", r)
	}
	if h := get().HealthHistory; len(h) != 0 {
		t.Errorf("after a new target: health_history = %+v, want none", h)
	}
	p.SetProduct(strconv.FormatInt(productID(32), 10), affiliatetest.Product{Title: "Chair", ImageURL: "https://ae01.alicdn.com/kf/y.jpg"})
	first := check()
	if h := get().HealthHistory; len(h) != 1 || h[0].From != "unknown" || h[0].To != "ok" || !within(h[0].At, first) {
		t.Errorf("the new target's first check: health_history = %+v, want [unknown → ok at %v]", h, first)
	}

	// Deleting the link deletes it.
	if r := e.api(http.MethodDelete, "/api/links/"+l.ID, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %s", r)
	}
	if n, err := e.rdb.Exists(t.Context(), "rd:v1:{"+l.ID+"}:hh").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS the deleted link's history = %d, %v; want 0", n, err)
	}
	if orphans := e.orphanKeys(); len(orphans) > 0 {
		t.Errorf("keys without an owner or expiry: %q", orphans)
	}
}
