package bio

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/store"
)

func TestCheck(t *testing.T) {
	base := Page{Handle: "ana.picks", Title: "Ana"}
	with := func(f func(*Page)) Page { p := base; f(&p); return p }
	cases := []struct {
		name   string
		page   Page
		stored bool
		ok     bool
	}{
		{"minimal", base, true, true},
		{"handle of 3", with(func(p *Page) { p.Handle = "a_1" }), true, true},
		{"handle of 30", with(func(p *Page) { p.Handle = strings.Repeat("a", 30) }), true, true},
		{"handle of 2", with(func(p *Page) { p.Handle = "ab" }), true, false},
		{"handle of 31", with(func(p *Page) { p.Handle = strings.Repeat("a", 31) }), true, false},
		{"handle with @", with(func(p *Page) { p.Handle = "@ana" }), true, false},
		{"handle with a brace", with(func(p *Page) { p.Handle = "a{b}c" }), true, false},
		{"handle not ASCII", with(func(p *Page) { p.Handle = "anä" }), true, false},
		{"blank title", with(func(p *Page) { p.Title = "  " }), true, false},
		{"title too long", with(func(p *Page) { p.Title = strings.Repeat("é", MaxTitle+1) }), true, false},
		{"title of max runes", with(func(p *Page) { p.Title = strings.Repeat("é", MaxTitle) }), true, true},
		{"text with a line break", with(func(p *Page) { p.Text = "a\nb" }), true, true},
		{"title with a line break", with(func(p *Page) { p.Title = "a\nb" }), true, false},
		{"text not UTF-8", with(func(p *Page) { p.Text = "\xff" }), true, false},
		{"avatar on alicdn", with(func(p *Page) { p.Avatar = "https://ae01.alicdn.com/kf/a.jpg" }), true, true},
		{"avatar over http", with(func(p *Page) { p.Avatar = "http://ae01.alicdn.com/kf/a.jpg" }), true, false},
		{"avatar elsewhere", with(func(p *Page) { p.Avatar = "https://alicdn.com.evil.example/a.jpg" }), true, false},
		{"avatar initials", with(func(p *Page) { p.Avatar = "AP" }), true, true},
		{"avatar markup", with(func(p *Page) { p.Avatar = "<b>" }), true, false},
		{"items", with(func(p *Page) {
			p.Items = []Item{{Heading: "Desk"}, {ID: "aZ3kP9qX", Caption: "lamp"}}
		}), true, true},
		{"url item as input", with(func(p *Page) { p.Items = []Item{{URL: "https://www.aliexpress.com/"}} }), false, true},
		{"url item stored", with(func(p *Page) { p.Items = []Item{{URL: "https://www.aliexpress.com/"}} }), true, false},
		{"empty item", with(func(p *Page) { p.Items = []Item{{Caption: "x"}} }), true, false},
		{"heading with caption", with(func(p *Page) { p.Items = []Item{{Heading: "h", Caption: "c"}} }), true, false},
		{"bad id", with(func(p *Page) { p.Items = []Item{{ID: "a{b}"}} }), true, false},
		{"too many items", with(func(p *Page) { p.Items = make([]Item, MaxItems+1) }), true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.page, tc.stored)
			if (err == nil) != tc.ok {
				t.Fatalf("Check(%+v, %v) = %v, want ok=%v", tc.page, tc.stored, err, tc.ok)
			}
			if err != nil && !errors.Is(err, link.ErrInvalid) {
				t.Errorf("Check(%+v) = %v, want link.ErrInvalid", tc.page, err)
			}
		})
	}
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	rs := redistest.Start(t)
	rdb, err := store.Connect(ctx, rs.URL, store.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	s := NewStore(rdb, time.Hour)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	p := Page{Handle: "Mia.Shop", Title: "Mia", Items: []Item{{ID: "aZ3kP9qX"}}, Created: now, Updated: now}
	if err := s.Create(ctx, p); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Create(ctx, Page{Handle: "mia.SHOP", Title: "x", Created: now, Updated: now}); !errors.Is(err, link.ErrExists) {
		t.Errorf("Create of the handle in another case = %v, want link.ErrExists", err)
	}
	got, ok, err := s.Get(ctx, "MIA.shop")
	if err != nil || !ok || got.Handle != "Mia.Shop" || got.Title != "Mia" {
		t.Errorf("Get(MIA.shop) = %+v, %v, %v; want the page as created", got, ok, err)
	}
	// Views of a page count; views of a handle without a page write nothing.
	err = s.AddClicks(ctx, []link.ClickCount{{ID: "mia.shop", Day: "20261130", Clicks: 3}, {ID: "ghost", Day: "20261130", Clicks: 5}})
	if err != nil {
		t.Fatalf("AddClicks: %v", err)
	}
	if n, err := s.Views(ctx, "Mia.Shop"); err != nil || n != 3 {
		t.Errorf("Views = %d, %v; want 3", n, err)
	}
	if n, err := rdb.Exists(ctx, viewsKey("ghost"), viewDayKey("ghost", "20261130")).Result(); err != nil || n != 0 {
		t.Errorf("keys of views of a handle without a page: %d, %v; want none", n, err)
	}
	if ttl := rdb.PTTL(ctx, viewDayKey("mia.shop", "20261130")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("a day of views has TTL %v, want the retention (1h)", ttl)
	}
	if err := s.Delete(ctx, "MIA.SHOP"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if n, err := rdb.Exists(ctx, pageKey("mia.shop"), viewsKey("mia.shop")).Result(); err != nil || n != 0 {
		t.Errorf("keys left by Delete: %d, %v; want none", n, err)
	}
	if pages, err := s.List(ctx); err != nil || len(pages) != 0 {
		t.Errorf("List after Delete = %v, %v; want none", pages, err)
	}
	if err := s.Delete(ctx, "mia.shop"); !errors.Is(err, link.ErrNotFound) {
		t.Errorf("second Delete = %v, want link.ErrNotFound", err)
	}
	// A stored page is checked as input is.
	if err := rdb.Set(ctx, pageKey("bad"), `{"handle":"bad","title":"","items":[]}`, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, "bad"); err == nil {
		t.Errorf("Get of a stored page without a title: no error")
	}
}
