package redirect

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/store"
)

// BenchmarkListPage measures GET /api/links answering a page of 1,000 links found by a search and
// sorted by clicks, through the real handler over a real redis-server holding 2,000 links (half of
// them match), each with a product, labels and clicks:
//
//	go test -run '^$' -bench BenchmarkListPage -benchtime 50x ./internal/redirect/
func BenchmarkListPage(b *testing.B) {
	for _, n := range []int{2000, 10000} {
		b.Run(fmt.Sprintf("links=%d", n), func(b *testing.B) {
			e := newEnv(b, envOptions{Health: true})
			seedLinks(b, e, n)
			req := httptest.NewRequest(http.MethodGet, "/api/links?q=spring&sort=clicks&limit=1000", nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				e.handler.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("GET = %d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// seedLinks writes n links straight to the store: every other one labelled "spring", each with a
// product title, a health state and some clicks.
func seedLinks(b *testing.B, e *env, n int) {
	b.Helper()
	ctx := context.Background()
	counters := store.NewCounters(e.rdb, 0)
	day := e.clock.Now().UTC().Format("20060102")
	spring, _ := link.NewLabels([]string{"Spring campaign", "flyer"})
	autumn, _ := link.NewLabels([]string{"Autumn"})
	var counts []link.ClickCount
	for i := range n {
		rec := link.Record{ID: fmt.Sprintf("bench-%05d", i), Target: product(100000 + i), Created: e.clock.Now(), Labels: autumn}
		if i%2 == 0 {
			rec.Labels = spring
		}
		if err := e.records.Create(ctx, rec); err != nil {
			b.Fatal(err)
		}
		h := link.Health{State: link.HealthOK, Seen: e.clock.Now(), Product: link.Product{
			Title: fmt.Sprintf("Product number %d with a longish title", i), Image: "https://ae01.alicdn.com/kf/x.jpg",
			Price: "12.34", Currency: "USD", CommissionRate: "7%"}}
		if _, _, err := e.records.SetHealth(ctx, rec, h, ""); err != nil {
			b.Fatal(err)
		}
		counts = append(counts, link.ClickCount{ID: rec.ID, Day: day, Clicks: int64(i % 97)})
	}
	if err := counters.AddClicks(ctx, counts); err != nil {
		b.Fatal(err)
	}
}
