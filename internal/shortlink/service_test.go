package shortlink_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/clocktest"
	"github.com/redirector/redirector/internal/invalidate"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/shortid"
	"github.com/redirector/redirector/internal/shortlink"
	"github.com/redirector/redirector/internal/store"
)

// service is a Service as cmd/redirector wires it, over a real redis-server, with the Lookup its
// changes reach (whose first tier answers for a minute without asking the store).
type service struct {
	*shortlink.Service
	lookup  *shortlink.Lookup
	records *store.Records
	clock   *clocktest.Clock
}

func newService(t *testing.T) service {
	t.Helper()
	lookup, records, _, clk := setup(t)
	changes := invalidate.New(context.Background(), nil, nil, invalidate.Handlers{Record: lookup.Forget})
	t.Cleanup(changes.Close)
	return service{Service: shortlink.NewService(records, changes), lookup: lookup, records: records, clock: clk}
}

// page is the accepted page of raw.
func page(t testing.TB, raw string) aliurl.Page {
	t.Helper()
	p, err := aliurl.Parse(raw)
	if err != nil {
		t.Fatalf("aliurl.Parse(%q): %v", raw, err)
	}
	return p
}

// create calls Create, failing the test on an error or when created is not want.
func (s service) create(t *testing.T, raw, slug string, want bool) link.Record {
	t.Helper()
	rec, created, err := s.Create(context.Background(), page(t, raw), slug, s.clock.Now())
	if err != nil || created != want {
		t.Fatalf("Create(%q, slug %q) = %+v, created %v, %v; want created %v, nil", raw, slug, rec, created, err, want)
	}
	return rec
}

// leadsTo checks that the lookup answers id with want ("" for no link).
func (s service) leadsTo(t *testing.T, what, id, want string) {
	t.Helper()
	got, ok, err := s.lookup.Target(context.Background(), id)
	if err != nil || got != want || ok != (want != "") {
		t.Errorf("%s: Target(%q) = %q, %v, %v; want %q, %v, nil", what, id, got, ok, err, want, want != "")
	}
}

// TestCreateChoosesID: a product page gets its product code, another page a random id, a slug itself;
// the same page asked again without a slug gets its link back (created false).
func TestCreateChoosesID(t *testing.T) {
	s := newService(t)
	code, _ := shortid.Product(productID)
	s.clock.Set(time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600)))
	wantTime := time.Date(2026, 3, 1, 11, 0, 0, 123000000, time.UTC)

	first := s.create(t, "https://m.aliexpress.com/item/"+productID+".html?spm=a2g0o.home.0.0", "", true)
	if first.ID != code || first.Target != productTarget || !first.Created.Equal(wantTime) || first.Created.Location() != time.UTC || !first.Updated.Equal(first.Created) {
		t.Errorf("Create(product) = %+v, want id %q, target %q, created and updated %v (UTC, to the millisecond)", first, code, productTarget, wantTime)
	}
	s.clock.Advance(time.Hour)
	for _, spelling := range []string{productTarget, "https://es.aliexpress.com/i/" + productID + ".html?utm_source=x"} {
		if again := s.create(t, spelling, "", false); again.ID != first.ID || !again.Created.Equal(first.Created) {
			t.Errorf("Create(same product as %s) = %+v, want the first link %+v", spelling, again, first)
		}
	}
	s.leadsTo(t, "product code", code, productTarget)

	other := s.create(t, "https://m.aliexpress.com/store/1234?spm=x", "", true)
	if len(other.ID) != shortid.RandomLen || other.Target != storeTarget {
		t.Errorf("Create(store page) = %+v, want a random %d-character id and target %q", other, shortid.RandomLen, storeTarget)
	}
	if again := s.create(t, storeTarget, "", false); again.ID != other.ID {
		t.Errorf("Create(same store page) = id %q, want %q", again.ID, other.ID)
	}
	s.leadsTo(t, "random id", other.ID, storeTarget)

	slugged := s.create(t, productTarget, "Summer_Sale-2026", true)
	if slugged.ID != "Summer_Sale-2026" || slugged.Target != productTarget {
		t.Errorf("Create(slug) = %+v, want the slug as id", slugged)
	}
	// A second slug for the same product is another link.
	if second := s.create(t, productTarget, "winter-sale", true); second.ID != "winter-sale" {
		t.Errorf("second slug for one product = %q, want winter-sale", second.ID)
	}
	s.leadsTo(t, "slug", "Summer_Sale-2026", productTarget)
	s.leadsTo(t, "slug in another case (matched ignoring case: issue 18)", "summer_sale-2026", productTarget)
}

// TestCreateRefuses: a bad slug or a share link is link.ErrInvalid with a reason, a taken slug
// link.ErrExists; nothing is written.
func TestCreateRefuses(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	s.create(t, storeTarget, "taken-slug", true)
	codeOf, _ := shortid.Product("1005001000000001")
	tests := []struct {
		name, url, slug string
		want            error
	}{
		{"slug too short", productTarget, "ab", link.ErrInvalid},
		{"slug too long", productTarget, strings.Repeat("a", 65), link.ErrInvalid},
		{"slug with space", productTarget, "a b c", link.ErrInvalid},
		{"slug with slash", productTarget, "abc/def", link.ErrInvalid},
		{"slug with brace", productTarget, "abc{d}", link.ErrInvalid},
		{"slug non-ASCII", productTarget, "caf\u00e9", link.ErrInvalid},
		{"reserved slug", productTarget, "admin", link.ErrInvalid},
		{"reserved slug any case", productTarget, "HealthZ", link.ErrInvalid},
		{"slug shaped like a product code", productTarget, codeOf, link.ErrInvalid},
		{"share link not followed", "https://a.aliexpress.com/_mKx1a2B", "", link.ErrInvalid},
		{"slug taken", productTarget, "taken-slug", link.ErrExists},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, created, err := s.Create(ctx, page(t, tc.url), tc.slug, s.clock.Now())
			if !errors.Is(err, tc.want) || created || rec != (link.Record{}) {
				t.Fatalf("Create(%q, slug %q) = %+v, %v, %v; want %v", tc.url, tc.slug, rec, created, err, tc.want)
			}
			if errors.Is(err, link.ErrInvalid) && (err.Error() == "" || len(err.Error()) > 200) {
				t.Errorf("Create(%q, slug %q): reason %q, want a short one", tc.url, tc.slug, err)
			}
		})
	}
	n := 0
	if err := s.records.Each(ctx, func(link.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("records after refused creates = %d, want 1 (the taken slug's)", n)
	}
	s.leadsTo(t, "taken slug", "taken-slug", storeTarget)
}

// TestCreateSlugRace: of creates of one slug that race, exactly one succeeds; the others get link.ErrExists.
func TestCreateSlugRace(t *testing.T) {
	s := newService(t)
	const n = 20
	errs := make([]error, n)
	recs := make([]link.Record, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			recs[i], _, errs[i] = s.Create(context.Background(), page(t, fmt.Sprintf("https://www.aliexpress.com/item/%d.html", 1005001000000120+i)), "contested", s.clock.Now())
		})
	}
	close(start)
	wg.Wait()
	created, conflicts, winner := 0, 0, ""
	for i, err := range errs {
		switch {
		case err == nil:
			created++
			winner = recs[i].Target
		case errors.Is(err, link.ErrExists):
			conflicts++
		}
	}
	if created != 1 || conflicts != n-1 {
		t.Fatalf("%d concurrent creates of one slug: errors %v, want one nil and %d ErrExists", n, errs, n-1)
	}
	s.leadsTo(t, "contested slug", "contested", winner)
}

// TestCreatePageRace: racing creates of one page that is not a product, without a slug, agree on one
// id: exactly one racer gets created true, the others the same link with created false (issue 13, item 9).
func TestCreatePageRace(t *testing.T) {
	s := newService(t)
	for _, tc := range []struct {
		name   string
		page   string
		racers int
	}{
		{"8 racers", "https://www.aliexpress.com/w/wholesale-red-lamp.html", 8},
		{"50 racers", "https://www.aliexpress.com/w/wholesale-blue-lamp.html", 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := page(t, tc.page)
			recs := make([]link.Record, tc.racers)
			created := make([]bool, tc.racers)
			errs := make([]error, tc.racers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range tc.racers {
				wg.Go(func() {
					<-start
					recs[i], created[i], errs[i] = s.Create(context.Background(), p, "", s.clock.Now())
				})
			}
			close(start)
			wg.Wait()
			n := 0
			ids := map[string]int{}
			for i := range tc.racers {
				if errs[i] != nil {
					t.Fatalf("Create(%s) = %v, want no error", tc.page, errs[i])
				}
				if created[i] {
					n++
				}
				ids[recs[i].ID]++
			}
			if n != 1 || len(ids) != 1 {
				t.Fatalf("%d concurrent Create(%s): %d created, ids %v; want one created and one id", tc.racers, tc.page, n, ids)
			}
			for id := range ids {
				if again := s.create(t, tc.page, "", false); again.ID != id {
					t.Errorf("Create(%s) after the race = id %q, want %q", tc.page, again.ID, id)
				}
				s.leadsTo(t, "raced page", id, p.URL)
			}
		})
	}
}

// TestCreatePageStaleIndex: when the link a page's id was given to is deleted or points elsewhere,
// creating the page again gives it a new id, which the page keeps from then on. A product whose code
// was retargeted gets a random id the same way.
func TestCreatePageStaleIndex(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		page  string
		stale func(id string) error
	}{
		{"deleted", "https://www.aliexpress.com/w/wholesale-green-lamp.html", func(id string) error {
			return s.Delete(ctx, id, s.clock.Now())
		}},
		{"retargeted", "https://www.aliexpress.com/w/wholesale-pink-lamp.html", func(id string) error {
			_, err := s.Retarget(ctx, id, page(t, "https://www.aliexpress.com/store/912399"), s.clock.Now())
			return err
		}},
		{"product code retargeted", "https://www.aliexpress.com/item/1005001000000140.html", func(id string) error {
			_, err := s.Retarget(ctx, id, page(t, "https://www.aliexpress.com/store/912398"), s.clock.Now())
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := s.create(t, tc.page, "", true)
			if err := tc.stale(old.ID); err != nil {
				t.Fatalf("making %s stale: %v", old.ID, err)
			}
			fresh := s.create(t, tc.page, "", true)
			if fresh.ID == old.ID {
				t.Fatalf("Create(%s) after its link %s was %s = the same id, want a new one", tc.page, old.ID, tc.name)
			}
			if again := s.create(t, tc.page, "", false); again.ID != fresh.ID {
				t.Errorf("Create(%s) once more = id %q, want %q (the index names the new link)", tc.page, again.ID, fresh.ID)
			}
			s.leadsTo(t, "new link", fresh.ID, fresh.Target)
		})
	}
}

// TestChangesReachTheLookup: what Create, Retarget and Delete change is answered at once by the Lookup
// they tell (through the invalidation owner), although its first tier keeps entries for a minute.
func TestChangesReachTheLookup(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	s.leadsTo(t, "before Create", "lamp", "") // a miss, now in the first tier
	s.create(t, storeTarget, "lamp", true)
	s.leadsTo(t, "right after Create", "lamp", storeTarget)

	s.clock.Advance(time.Second)
	rec, err := s.Retarget(ctx, "lamp", page(t, "https://m.aliexpress.com/item/"+productID+".html?spm=1"), s.clock.Now())
	if err != nil || rec.ID != "lamp" || rec.Target != productTarget || !rec.Updated.After(rec.Created) {
		t.Fatalf("Retarget = %+v, %v; want lamp → %q, updated after created", rec, err, productTarget)
	}
	s.leadsTo(t, "right after Retarget", "lamp", productTarget)

	if err := s.Delete(ctx, "lamp", s.clock.Now()); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	s.leadsTo(t, "right after Delete", "lamp", "")

	// A deleted product code stays deleted, and a deleted slug is free again.
	code := s.create(t, productTarget, "", true).ID
	if err := s.Delete(ctx, code, s.clock.Now()); err != nil {
		t.Fatalf("Delete(product code): %v", err)
	}
	s.leadsTo(t, "deleted product code", code, "")
	s.create(t, storeTarget, "lamp", true)
	s.leadsTo(t, "re-created slug", "lamp", storeTarget)
}

// TestRetargetDeleteRefuse: an id without a live link is link.ErrNotFound, a share link link.ErrInvalid.
func TestRetargetDeleteRefuse(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	s.create(t, storeTarget, "gone-soon", true)
	if err := s.Delete(ctx, "gone-soon", s.clock.Now()); err != nil {
		t.Fatal(err)
	}
	s.create(t, storeTarget, "still-here", true)
	for _, id := range []string{"no-such-link", "gone-soon"} {
		if _, err := s.Retarget(ctx, id, page(t, productTarget), s.clock.Now()); !errors.Is(err, link.ErrNotFound) {
			t.Errorf("Retarget(%q) = %v, want ErrNotFound", id, err)
		}
		if err := s.Delete(ctx, id, s.clock.Now()); !errors.Is(err, link.ErrNotFound) {
			t.Errorf("Delete(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := s.Retarget(ctx, "still-here", page(t, "https://a.aliexpress.com/_mKx1a2B"), s.clock.Now()); !errors.Is(err, link.ErrInvalid) {
		t.Errorf("Retarget(to a share link) = %v, want ErrInvalid", err)
	}
	s.leadsTo(t, "after refused Retarget", "still-here", storeTarget)
}
