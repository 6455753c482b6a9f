package redirect

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/shortid"
)

// Slugs are matched ignoring case; random ids are not; two slugs differing only in case cannot both
// be created; a click on a slug typed in another case counts for its link.
func TestSlugIgnoresCase(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	l := e.create(`{"url":"`+product(740)+`","slug":"Summer-Sale"}`, http.StatusCreated)
	want := e.get("/Summer-Sale")
	if want.status != http.StatusFound {
		t.Fatalf("GET /Summer-Sale = %s, want 302", want)
	}
	for i, typed := range []string{"summer-sale", "SUMMER-SALE", "sUmMeR-sAlE"} {
		if r := e.get("/"+typed, "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1)); r.status != http.StatusFound || r.header.Get("Location") != want.header.Get("Location") {
			t.Errorf("GET /%s = %s, want 302 to %s", typed, r, want.header.Get("Location"))
		}
	}
	for _, taken := range []string{"summer-sale", "SUMMER-SALE", "Summer-Sale"} {
		r := e.api(http.MethodPost, "/api/links", `{"url":"`+product(741)+`","slug":"`+taken+`"}`)
		apiError(t, "POST slug "+taken, r, http.StatusConflict)
	}

	// The clicks of every spelling are the link's.
	e.flushClicks()
	var got linkReply
	decode(t, e.api(http.MethodGet, "/api/links/"+l.ID, ""), &got)
	if got.Clicks == nil || *got.Clicks != 4 {
		t.Errorf("clicks of %s after 4 visitors' clicks in 4 spellings = %d, want 4", l.ID, *cmp.Or(got.Clicks, new(int64)))
	}

	// A random id stays case-sensitive.
	random := e.create(`{"url":"https://www.aliexpress.com/w/wholesale-lamp.html"}`, http.StatusCreated)
	if shortid.Classify(random.ID) != shortid.KindRandom {
		t.Fatalf("id %s is not a random id", random.ID)
	}
	swapped := swapCase(random.ID)
	if r := e.get("/" + swapped); r.status != http.StatusNotFound {
		t.Errorf("GET /%s (random id %s in other case) = %s, want 404", swapped, random.ID, r)
	}

	// Deleted, the slug leads nowhere in any case and is free again, in any case.
	if r := e.api(http.MethodDelete, "/api/links/Summer-Sale", ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %s", r)
	}
	if r := e.get("/SUMMER-sale"); r.status != http.StatusNotFound {
		t.Errorf("GET /SUMMER-sale after delete = %s, want 404", r)
	}
	e.create(`{"url":"`+product(742)+`","slug":"summer-SALE"}`, http.StatusCreated)
	if r := e.get("/Summer-Sale"); r.status != http.StatusFound || r.header.Get("Location") != e.platform.Link(product(742)) {
		t.Errorf("GET /Summer-Sale after summer-SALE was made = %s, want 302 to %s", r, e.platform.Link(product(742)))
	}
}

// Slugs stored before they were matched ignoring case keep working as they are, and IndexSlugs (run at
// start) gives them the matching; of two that differ only in case, each keeps its exact spelling.
func TestSlugCaseExistingSlugs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	now := e.clock.Now()
	for _, rec := range []link.Record{
		{ID: "Old-Flyer", Target: product(750), Created: now},
		{ID: "Twin-Slug", Target: product(751), Created: now},
		{ID: "twin-slug", Target: product(752), Created: now.Add(1)},
	} {
		if err := e.records.Create(ctx, rec); err != nil { // as before: no fold entry
			t.Fatal(err)
		}
	}
	if r := e.get("/Old-Flyer"); r.status != http.StatusFound {
		t.Fatalf("GET /Old-Flyer = %s, want 302", r)
	}
	if _, err := e.records.IndexSlugs(ctx, func(id string) bool { return shortid.Classify(id) == shortid.KindSlug }); err != nil {
		t.Fatalf("IndexSlugs: %v", err)
	}
	if r := e.get("/old-flyer"); r.status != http.StatusFound || r.header.Get("Location") != e.platform.Link(product(750)) {
		t.Errorf("GET /old-flyer after IndexSlugs = %s, want 302 to %s", r, e.platform.Link(product(750)))
	}
	for id, page := range map[string]int{"Twin-Slug": 751, "twin-slug": 752} {
		if r := e.get("/" + id); r.status != http.StatusFound || r.header.Get("Location") != e.platform.Link(product(page)) {
			t.Errorf("GET /%s = %s, want 302 to its own page %s", id, r, e.platform.Link(product(page)))
		}
	}
	apiError(t, "POST OLD-FLYER", e.api(http.MethodPost, "/api/links", `{"url":"`+product(753)+`","slug":"OLD-FLYER"}`), http.StatusConflict)
}

func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		case 'A' <= r && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, s)
}
