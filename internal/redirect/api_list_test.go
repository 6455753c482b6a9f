package redirect

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/earnings"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/store"
)

// listPage is a page of GET /api/links.
type listPage struct {
	Links      []healthLink `json:"links"`
	Total      int          `json:"total"`
	NextCursor string       `json:"next_cursor"`
}

// list gets one page of GET /api/links?query, failing the test unless it answers 200.
func (e *env) list(query string) listPage {
	e.t.Helper()
	r := e.api(http.MethodGet, "/api/links?"+query, "")
	if r.status != http.StatusOK {
		e.t.Fatalf("GET /api/links?%s = %s, want 200", query, r)
	}
	var p listPage
	decode(e.t, r, &p)
	return p
}

// listIDs pages through GET /api/links?query, limit at a time, and returns the ids in order and the
// total every page gave (the test fails if the pages disagree).
func (e *env) listIDs(query string, limit int) ([]string, int) {
	e.t.Helper()
	var ids []string
	cursor, total := "", -1
	for range 100 {
		p := e.list(fmt.Sprintf("%s&limit=%d&cursor=%s", query, limit, url.QueryEscape(cursor)))
		if total >= 0 && p.Total != total {
			e.t.Fatalf("GET /api/links?%s: total %d on one page, %d on another", query, p.Total, total)
		}
		total = p.Total
		for _, l := range p.Links {
			ids = append(ids, l.ID)
		}
		if p.NextCursor == "" {
			return ids, total
		}
		cursor = p.NextCursor
	}
	e.t.Fatalf("GET /api/links?%s: more than 100 pages", query)
	return nil, 0
}

// listFixture makes four links with slugs, labels, a channel, product titles, clicks and orders:
//
//	summer: "Summer-Sale", labels Summer 2026 + flyer, 5 clicks, 700 cents of commission
//	winter: "winter-coats" on testChannel, label Winter, 20 clicks, 300 cents
//	brush:  no slug (the product code), title "Bamboo Toothbrush", 1 click, the first clicked
//	gadget: "gadgets", never clicked
//
// Clicks come in the order brush, summer, winter, each in a later millisecond.
func listFixture(t *testing.T, e *env) (summer, winter, brush, gadget string) {
	t.Helper()
	ctx := context.Background()
	// Each in a later millisecond, so that their order by creation is theirs.
	step := func() { e.clock.Advance(10 * time.Millisecond) }
	summer = e.createH(`{"url":"`+product(700)+`","slug":"Summer-Sale","labels":["Summer 2026"," flyer ","FLYER"]}`, http.StatusCreated).ID
	step()
	winter = e.createH(`{"url":"`+product(701)+`","slug":"winter-coats","channel":"`+testChannel+`","labels":["Winter"]}`, http.StatusCreated).ID
	step()
	brush = e.createH(`{"url":"`+product(702)+`"}`, http.StatusCreated).ID
	step()
	gadget = e.createH(`{"url":"`+product(703)+`","slug":"gadgets"}`, http.StatusCreated).ID
	titles := map[string]string{summer: "Beach Towel", winter: "Down Coat", brush: "Bamboo Toothbrush", gadget: "USB Fan"}
	for id, title := range titles {
		rec, ok, err := e.records.Get(ctx, id)
		if err != nil || !ok {
			t.Fatalf("Get(%s) = %v, %v", id, ok, err)
		}
		h := link.Health{State: link.HealthOK, Seen: e.clock.Now(), Product: link.Product{Title: title, Price: "9.99", Currency: "USD", CommissionRate: "7%"}}
		if id == gadget {
			h.State = link.HealthGone
		}
		if ok, _, err := e.records.SetHealth(ctx, rec, h, ""); err != nil || !ok {
			t.Fatalf("SetHealth(%s) = %v, %v", id, ok, err)
		}
	}
	counters := store.NewCounters(e.rdb, 0)
	day := e.clock.Now().UTC().Format("20060102")
	for _, c := range []struct {
		id string
		n  int64
	}{{brush, 1}, {summer, 5}, {winter, 20}} {
		before := time.Now().UnixMilli()
		waitFor(t, "the next millisecond", func() bool { return time.Now().UnixMilli() > before })
		if err := counters.AddClicks(ctx, []link.ClickCount{{ID: c.id, Day: day, Clicks: c.n}}); err != nil {
			t.Fatalf("AddClicks(%s): %v", c.id, err)
		}
	}
	orders := earnings.NewStore(e.rdb, 0)
	for i, o := range []struct {
		id   string
		cent int64
	}{{summer, 400}, {summer, 300}, {winter, 300}} {
		_, err := orders.Put(ctx, earnings.Order{SubOrderID: fmt.Sprint(9000 + i), Status: earnings.StatusPaid, Estimated: o.cent,
			Currency: "USD", PaidAt: e.clock.Now(), Bucket: earnings.BucketLink, LinkID: o.id, Items: 1})
		if err != nil {
			t.Fatalf("Put order: %v", err)
		}
	}
	return summer, winter, brush, gadget
}

func TestListSearchSortFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Health: true})
	summer, winter, brush, gadget := listFixture(t, e)
	brushProduct := fmt.Sprint(productID(702))

	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{gadget, brush, winter, summer}},                      // newest first
		{"order=asc", []string{summer, winter, brush, gadget}},             // oldest first
		{"q=summer", []string{summer}},                                     // the slug, ignoring case
		{"q=SALE", []string{summer}},                                       // part of the slug
		{"q=bamboo", []string{brush}},                                      // the product's title
		{"q=" + brushProduct[4:], []string{brush}},                         // part of the product id
		{"q=flyer", []string{summer}},                                      // a label
		{"q=%20coat%20", []string{winter}},                                 // the title, trimmed
		{"q=nothing-like-it", nil},                                         // no match
		{"label=winter", []string{winter}},                                 // a label, ignoring case
		{"label=Flyer&q=beach", []string{summer}},                          // both
		{"label=fly", nil},                                                 // a label is matched whole
		{"channel=" + testChannel, []string{winter}},                       // the channel
		{"health=gone", []string{gadget}},                                  // the health state
		{"health=ok&sort=clicks", []string{winter, summer, brush}},         // filtered and sorted
		{"sort=clicks", []string{winter, summer, brush, gadget}},           // most clicked first
		{"sort=clicks&order=asc", []string{gadget, brush, summer, winter}}, // least clicked first
		{"sort=last_click", []string{winter, summer, brush, gadget}},       // last clicked first, never last
		{"sort=earnings", []string{summer, winter, gadget, brush}},         // most commission first, ties by id
		{"ids=" + brush + "," + summer, []string{brush, summer}},           // the console's bulk export
		{"ids=" + brush + ",nosuchlink", []string{brush}},                  // an id without a link is left out
	}
	for _, tc := range tests {
		for _, limit := range []int{1, 3, 1000} {
			got, total := e.listIDs(tc.query, limit)
			if !slices.Equal(got, tc.want) || total != len(tc.want) {
				t.Errorf("GET /api/links?%s (limit %d) = %q total %d, want %q total %d", tc.query, limit, got, total, tc.want, len(tc.want))
			}
		}
	}

	// What each link carries: product, labels, channel, health, counts, earnings.
	p := e.list("q=summer")
	if len(p.Links) != 1 {
		t.Fatalf("q=summer: %d links", len(p.Links))
	}
	l := p.Links[0]
	if l.Product == nil || l.Product.Title != "Beach Towel" || l.Product.Price != "9.99" || l.Product.CommissionRate != "7%" {
		t.Errorf("summer's product = %+v, want Beach Towel at 9.99 with 7%%", l.Product)
	}
	if !slices.Equal(l.Labels, []string{"Summer 2026", "flyer"}) {
		t.Errorf("summer's labels = %q, want [Summer 2026 flyer] (trimmed, deduplicated ignoring case)", l.Labels)
	}
	if l.Health == nil || l.Health.State != "ok" || l.Clicks == nil || *l.Clicks != 5 || l.Visitors == nil || l.LastClick == nil {
		t.Errorf("summer's health %+v, clicks %v, visitors %v, last click %v; want ok, 5, 0 and a time", l.Health, l.Clicks, l.Visitors, l.LastClick)
	}
	if !strings.Contains(string(l.Earnings), `"orders":2`) || !strings.Contains(string(l.Earnings), `"estimated_commission":700`) {
		t.Errorf("summer's earnings = %s, want 2 orders and 700 cents", l.Earnings)
	}
	if w := e.list("q=winter").Links; len(w) != 1 || w[0].Channel != testChannel {
		t.Errorf("winter's channel = %+v, want %s", w, testChannel)
	}

	// A cursor belongs to its order.
	clicks := e.list("sort=clicks&limit=1")
	r := e.api(http.MethodGet, "/api/links?sort=created&limit=1&cursor="+clicks.NextCursor, "")
	if msg := apiError(t, "a clicks cursor with sort=created", r, http.StatusBadRequest); !strings.Contains(msg, "cursor") {
		t.Errorf("a cursor of another order: %q, want it to name the cursor", msg)
	}
}

func TestListBadParams(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Health: true})
	for _, tc := range []struct{ query, names string }{
		{"sort=popular", "sort"},
		{"order=up", "order"},
		{"health=dead", "health"},
		{"channel=nope", "channel"},
		{"label=" + strings.Repeat("x", link.MaxLabelLen+1), "label"},
		{"label=a%07b", "label"},
		{"ids=abc,%7Bbad%7D", "ids"},
		{"ids=" + strings.Repeat("abcd,", maxListIDs+1), "ids"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=2&limit=3", "limit"},
		{"q=" + strings.Repeat("q", maxQueryText+1), "q"},
		{"q=a%00b", "q"},
		{"format=xml", "format"},
		{"cursor=bm90LWEtY3Vyc29y", "cursor"},
	} {
		r := e.api(http.MethodGet, "/api/links?"+tc.query, "")
		if msg := apiError(t, "GET /api/links?"+tc.query, r, http.StatusBadRequest); !strings.HasPrefix(msg, tc.names) {
			t.Errorf("GET /api/links?%s: error %q, want it to start with %q", tc.query, msg, tc.names)
		}
	}
}
