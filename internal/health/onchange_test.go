package health_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/health"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/redistest"
	"github.com/redirector/redirector/internal/shortlink"
	"github.com/redirector/redirector/internal/store"
)

type nopChanges struct{}

func (nopChanges) RecordChanged(context.Context, string) {}

// OnChange (the link.health_changed webhook) hears of each change of a link's state, once: unknown → ok at
// the first check, nothing when a check finds the same, ok → gone when the product disappears.
func TestOnChange(t *testing.T) {
	const pid = 1005001234567001
	fake, client, rdb, rec := startHealthFixture(t, pid)
	ctx := context.Background()
	records := store.NewRecords(rdb)
	fake.SetProduct(strconv.Itoa(pid), affiliatetest.Product{ID: strconv.Itoa(pid), Title: "Desk Lamp", Price: "9.99", Currency: "USD"})

	type change struct {
		id       string
		from, to link.HealthState
	}
	var mu sync.Mutex
	var told []change
	m := health.New(records, client, nopChanges{}, health.Options{Rate: 1000, OnChange: func(id string, from, to link.HealthState) {
		mu.Lock()
		told = append(told, change{id, from, to})
		mu.Unlock()
	}})
	check := func(what string, want ...change) {
		t.Helper()
		mu.Lock()
		told = nil
		mu.Unlock()
		if _, err := m.CheckAll(ctx); err != nil {
			t.Fatalf("%s: CheckAll: %v", what, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(told, want) {
			t.Errorf("%s: told %+v, want %+v", what, told, want)
		}
	}
	check("first check", change{rec.ID, link.HealthUnknown, link.HealthOK})
	check("same again")
	fake.RemoveProduct(strconv.Itoa(pid))
	check("product gone", change{rec.ID, link.HealthOK, link.HealthGone})
}

// startHealthFixture starts what a monitor test needs: a real redis-server, the strict platform fake
// with a client of it, and a short link (its record) for product pid, created through shortlink.
func startHealthFixture(t *testing.T, pid int) (*affiliatetest.Platform, *affiliate.Client, *redis.Client, link.Record) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	fake, hs := affiliatetest.NewServer(affiliatetest.PlatformConfig{})
	t.Cleanup(hs.Close)
	cfg := fake.Config()
	client, err := affiliate.New(affiliate.Config{
		AppKey: cfg.AppKey, AppSecret: cfg.Secret, TrackingID: cfg.TrackingID, APIURL: hs.URL,
		RatePerSecond: 1000, HTTPClient: &http.Client{Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	page, err := aliurl.Parse("https://www.aliexpress.com/item/" + strconv.Itoa(pid) + ".html")
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := shortlink.NewService(store.NewRecords(rdb), nopChanges{}).Create(context.Background(), page, "", time.Now())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return fake, client, rdb, rec
}
