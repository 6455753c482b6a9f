package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/cache"
	"github.com/redirector/redirector/internal/store"
)

// Product id ranges, one per use, so that no scenario finds another's products cached.
const (
	hotProduct   = 1005001234567890
	idProduct    = 1005001234567891
	zipfBase     = 1005003000000000
	coldBase     = 1005007000000000
	soakColdBase = 1005008000000000
	millionBase  = 1005005000000000
)

// productURL returns the product page URL of product id, as a visitor would paste it.
func productURL(id uint64) string {
	return fmt.Sprintf("https://www.aliexpress.com/item/%d.html", id)
}

// goURL returns the service's /go URL for page.
func goURL(base, page string) string {
	return base + "/go?u=" + url.QueryEscape(page)
}

// zipfOrder returns length indexes into n items drawn from a Zipf distribution of exponent s
// (s > 1), the most popular items spread over the range rather than first, from a fixed seed so
// that every run asks for the same sequence.
func zipfOrder(n, length int, s float64) []uint32 {
	r := rand.New(rand.NewPCG(6, 6))
	z := rand.NewZipf(r, s, 1, uint64(n-1))
	perm := r.Perm(n)
	out := make([]uint32, length)
	for i := range out {
		out[i] = uint32(perm[z.Uint64()])
	}
	return out
}

// prefill writes a tagged link for each of the n products from base straight into Redis, under
// the key and in the encoding the service itself uses (internal/cache), with the link the fake
// platform would have given. It uses workers concurrent connections.
func prefill(ctx context.Context, redisURL string, base uint64, n, workers int) error {
	rdb, err := store.Connect(ctx, redisURL, store.ConnectOptions{PoolSize: workers, MinIdleConns: 1})
	if err != nil {
		return fmt.Errorf("prefill: %w", err)
	}
	defer rdb.Close()
	links := cache.NewLinks(rdb, cache.LinkOptions{Tier1Size: 0, RedisTimeout: 5 * time.Second})
	now := time.Now()
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				page, err := aliurl.Parse(productURL(base + uint64(i)))
				if err == nil {
					fresh := now.Add(24 * time.Hour)
					err = links.Set(ctx, page.URL, cache.Link{
						URL:        affiliatetest.Link(page.URL),
						Status:     cache.Promoted,
						FreshUntil: fresh,
						StaleUntil: fresh.Add(30 * 24 * time.Hour),
					})
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("prefill: %w", firstErr)
	}
	return ctx.Err()
}
