package earnings_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/earnings"
	"github.com/redirector/redirector/internal/link"
	"github.com/redirector/redirector/internal/redistest"
)

const (
	chA = "test_tracking" // the default channel
	chB = "chan_b"
)

// records is a fixed set of short links.
type records []link.Record

func (r records) Each(_ context.Context, fn func(link.Record) error) error {
	for _, rec := range r {
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

func product(id string) string { return "https://www.aliexpress.com/item/" + id + ".html" }

// testLinks: p1 on the default channel (one link), p2 on chB, p3 twice on the default channel (shared),
// p4 once, plus a deleted link of p2 on chB that must not make p2 shared.
var testLinks = records{
	{ID: "l1", Target: product("1001")},
	{ID: "l2", Target: product("1002"), Channel: chB},
	{ID: "l3a", Target: product("1003")},
	{ID: "l3b", Target: product("1003"), Channel: chA},
	{ID: "l4", Target: product("1004")},
	{ID: "old2", Target: product("1002"), Channel: chB, Deleted: true},
}

type env struct {
	fake   *affiliatetest.Platform
	client *affiliate.Client
	rdb    *redis.Client
	store  *earnings.Store
}

func newEnv(t *testing.T, zone *time.Location) env {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	fake, hs := affiliatetest.NewServer(affiliatetest.PlatformConfig{TrackingIDs: []string{chB}, OrderZone: zone})
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
	return env{fake: fake, client: client, rdb: rdb, store: earnings.NewStore(rdb, 0)}
}

func (e env) syncer(opts earnings.SyncOptions) *earnings.Syncer {
	opts.DefaultChannel = chA
	return earnings.NewSyncer(e.client, testLinks, e.store, opts)
}

// gen is a generated order and who it belongs to, decided when it is made (not by the code under test).
type gen struct {
	o             affiliatetest.Order
	owner, bucket string // owner: a link id, or channel/product for shared orders
}

// fiveHundred makes 500 orders: 420 paid, 60 confirmed, 20 settled (12 pages of 50), spread over 40 days.
func fiveHundred(now time.Time) []gen {
	var out []gen
	for i := range 500 {
		g := gen{o: affiliatetest.Order{
			OrderID: fmt.Sprint(8000000 + i/2), SubOrderID: fmt.Sprint(9000000 + i),
			TrackingID: chA, ProductCount: int64(1 + i%3), PaidAmount: int64(1000 + i),
			EstimatedPaidCommission: int64(50 + i%7), Currency: "USD", CommissionRate: "7.0",
			PaidAt: now.Add(-time.Duration(i%40)*24*time.Hour - time.Duration(i)*time.Minute),
		}}
		switch i % 6 {
		case 0:
			g.o.ProductID, g.owner, g.bucket = "1001", "l1", earnings.BucketLink
		case 1:
			g.o.ProductID, g.o.TrackingID, g.owner, g.bucket = "1002", chB, "l2", earnings.BucketLink
		case 2:
			g.o.ProductID, g.owner, g.bucket = "1003", chA+"/1003", earnings.BucketShared
		case 3: // the sub-id wins over the product's own links
			g.o.ProductID, g.o.CustomParameters, g.owner, g.bucket = "1003", `{"af":"l4"}`, "l4", earnings.BucketLink
		case 4: // p2 on the default channel: no link of it there
			g.o.ProductID, g.owner, g.bucket = "1002", "", earnings.BucketGo
		case 5:
			g.o.ProductID, g.owner, g.bucket = "1004", "l4", earnings.BucketLink
		}
		switch {
		case i >= 480:
			g.o.Status = affiliatetest.StatusSettled
			g.o.EstimatedFinishedCommission = g.o.EstimatedPaidCommission + 1
			g.o.FinishedAt = now.Add(-time.Hour)
			g.o.StatusAt = g.o.FinishedAt
		case i >= 420:
			g.o.Status = affiliatetest.StatusConfirmed
			g.o.EstimatedFinishedCommission = g.o.EstimatedPaidCommission + 1
			g.o.FinishedAt = now.Add(-2 * time.Hour)
			g.o.StatusAt = g.o.FinishedAt
		default:
			g.o.Status = affiliatetest.StatusPaid
		}
		out = append(out, g)
	}
	return out
}

// want totals the generated orders by key, as the service should.
func want(gens []gen, zone *time.Location, key func(gen) string) map[string]earnings.Totals {
	out := map[string]earnings.Totals{}
	for _, g := range gens {
		t := out[key(g)]
		if g.o.Status == affiliatetest.StatusInvalid || g.o.EffectDetailStatus != "" {
			out[key(g)] = t
			continue
		}
		t.Orders++
		t.Items += g.o.ProductCount
		t.Sales += g.o.PaidAmount
		c := g.o.EstimatedPaidCommission
		if g.o.EstimatedFinishedCommission > 0 {
			c = g.o.EstimatedFinishedCommission
		}
		t.Estimated += c
		if g.o.Status == affiliatetest.StatusSettled {
			t.Settled += c
		}
		t.Currency = "USD"
		out[key(g)] = t
	}
	return out
}

func got(t *testing.T, e env, by string) map[string]earnings.Totals {
	t.Helper()
	orders, err := e.store.Range(context.Background(), time.Unix(0, 0), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rows, ok := earnings.Group(orders, by)
	if !ok {
		t.Fatalf("Group(%q) not ok", by)
	}
	out := map[string]earnings.Totals{}
	for _, r := range rows {
		out[r.Key] = r.Totals
	}
	return out
}

func check(t *testing.T, e env, gens []gen, zone *time.Location) {
	t.Helper()
	for _, tc := range []struct {
		by  string
		key func(gen) string
	}{
		{earnings.ByLink, func(g gen) string { return g.owner }},
		{earnings.ByChannel, func(g gen) string { return g.o.TrackingID }},
		{earnings.ByProduct, func(g gen) string { return g.o.ProductID }},
		{earnings.ByDay, func(g gen) string { return g.o.PaidAt.In(zone).Format("2006-01-02") }},
	} {
		g, w := got(t, e, tc.by), want(gens, zone, tc.key)
		if len(g) != len(w) {
			t.Errorf("by %s: %d groups, want %d: got %v", tc.by, len(g), len(w), g)
		}
		for k, wt := range w {
			if g[k] != wt {
				t.Errorf("by %s, %q: got %+v, want %+v", tc.by, k, g[k], wt)
			}
		}
	}
}

func orders(gens []gen) []affiliatetest.Order {
	out := make([]affiliatetest.Order, len(gens))
	for i, g := range gens {
		out[i] = g.o
	}
	return out
}

// TestSyncFiveHundredOrders: 500 orders over 12 pages, a failure on page 7 and a retry, then two status
// changes and a refund: exact totals per link, channel, product and day after each step.
func TestSyncFiveHundredOrders(t *testing.T) {
	zone := earnings.DefaultZone()
	e := newEnv(t, zone)
	now := time.Now()
	gens := fiveHundred(now)
	e.fake.PutOrders(orders(gens)...)
	// Page 7 fails with a platform error (not retried by the client).
	e.fake.FailOrderCall(6, affiliatetest.FailNotRegistered)
	var written int
	s := e.syncer(earnings.SyncOptions{Zone: zone, OnOrders: func(n int) { written += n }})
	ctx := context.Background()
	err := s.Sync(ctx)
	var pe *affiliate.PlatformError
	if !errors.As(err, &pe) {
		t.Fatalf("first Sync error = %v, want the platform error of page 7", err)
	}
	if n := e.fake.OrderCalls(); n != 7 {
		t.Fatalf("order calls before the failure = %d, want 7", n)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatalf("retried Sync: %v", err)
	}
	// 12 pages of orders (9 paid, 2 confirmed, 1 settled, each status ending on a short page) and
	// Invalid's one empty answer make 13 calls; the failed call is the 14th: the retry resumed at page 7.
	if n := e.fake.OrderCalls(); n != 14 {
		t.Errorf("order calls = %d, want 14 (6 pages, the failure, then page 7 again and the 6 calls after it)", n)
	}
	if written != 500 {
		t.Errorf("orders written = %d, want 500", written)
	}
	check(t, e, gens, zone)

	// Two status changes and a refund, reported now.
	at := time.Now()
	gens[5].o.Status, gens[5].o.StatusAt, gens[5].o.FinishedAt = affiliatetest.StatusConfirmed, at, at
	gens[5].o.EstimatedFinishedCommission = 99
	gens[430].o.Status, gens[430].o.StatusAt = affiliatetest.StatusSettled, at
	gens[12].o.EffectDetailStatus, gens[12].o.StatusAt = "FullRefund", at
	e.fake.PutOrders(gens[5].o, gens[430].o, gens[12].o)
	if err := s.Sync(ctx); err != nil {
		t.Fatalf("incremental Sync: %v", err)
	}
	check(t, e, gens, zone)
	// A sync that reads everything again (a lost cursor) counts nothing twice.
	if err := e.rdb.Del(ctx, "rd:v1:orders:sync").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatalf("full re-sync: %v", err)
	}
	check(t, e, gens, zone)
	if last, err := e.store.LastSync(ctx); err != nil || last.IsZero() {
		t.Errorf("LastSync = %v, %v; want a time", last, err)
	}
}

// TestSyncTwoReplicas: two syncers at once: one syncs, the other finds the lease held; each order counts once.
func TestSyncTwoReplicas(t *testing.T) {
	zone := earnings.DefaultZone()
	e := newEnv(t, zone)
	gens := fiveHundred(time.Now())
	e.fake.PutOrders(orders(gens)...)
	e.fake.SetLatency(20 * time.Millisecond)
	a, b := e.syncer(earnings.SyncOptions{Zone: zone}), e.syncer(earnings.SyncOptions{Zone: zone})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	start := make(chan struct{})
	for i, s := range []*earnings.Syncer{a, b} {
		wg.Go(func() {
			<-start
			errs[i] = s.Sync(context.Background())
		})
	}
	close(start)
	wg.Wait()
	held := 0
	for _, err := range errs {
		switch {
		case errors.Is(err, earnings.ErrLeaseHeld):
			held++
		case err != nil:
			t.Fatalf("Sync: %v", err)
		}
	}
	if held != 1 {
		t.Errorf("syncs refused for the lease = %d, want 1 (errors %v)", held, errs)
	}
	check(t, e, gens, zone)
	// The lease is released: a later sync runs.
	if err := b.Sync(context.Background()); err != nil {
		t.Errorf("Sync after both: %v", err)
	}
	check(t, e, gens, zone)
}

// TestSyncDaylightSaving: with a zone that changes to summer time, orders around the change land on
// the platform's own day, and a day's range is that day's in the zone.
func TestSyncDaylightSaving(t *testing.T) {
	zone, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, zone)
	// 2026-03-08 02:00 PST became 03:00 PDT.
	at := func(s string) time.Time {
		ts, err := time.ParseInLocation(affiliatetest.OrderTimeLayout, s, zone)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	var gens []gen
	for i, s := range []string{"2026-03-07 23:59:59", "2026-03-08 01:30:00", "2026-03-08 23:30:00", "2026-03-09 00:30:00"} {
		gens = append(gens, gen{o: affiliatetest.Order{
			OrderID: fmt.Sprint(1 + i), SubOrderID: fmt.Sprint(100 + i), TrackingID: chA, ProductID: "1001",
			ProductCount: 1, PaidAmount: 100, EstimatedPaidCommission: 10, Currency: "USD",
			Status: affiliatetest.StatusPaid, PaidAt: at(s),
		}})
	}
	e.fake.PutOrders(orders(gens)...)
	s := e.syncer(earnings.SyncOptions{Zone: zone, Lookback: 400 * 24 * time.Hour})
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	byDay := got(t, e, earnings.ByDay)
	for day, n := range map[string]int64{"2026-03-07": 1, "2026-03-08": 2, "2026-03-09": 1} {
		if byDay[day].Orders != n {
			t.Errorf("orders on %s = %d, want %d (all days: %v)", day, byDay[day].Orders, n, byDay)
		}
	}
	from, to, err := earnings.DayRange("2026-03-08", "2026-03-08", zone)
	if err != nil {
		t.Fatal(err)
	}
	in, err := e.store.Range(context.Background(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 2 {
		t.Errorf("Range of 2026-03-08 in %s = %d orders, want 2: %+v", zone, len(in), in)
	}
}

// TestSyncPausedResumes: a sync paused (the breaker open) after three pages stops with ErrPaused and
// the next one resumes after them: 13 calls in all, as one uninterrupted sync makes, and exact totals.
func TestSyncPausedResumes(t *testing.T) {
	zone := earnings.DefaultZone()
	e := newEnv(t, zone)
	gens := fiveHundred(time.Now())
	e.fake.PutOrders(orders(gens)...)
	paused := true
	s := e.syncer(earnings.SyncOptions{Zone: zone, Paused: func() bool { return paused && e.fake.OrderCalls() >= 3 }})
	if err := s.Sync(context.Background()); !errors.Is(err, earnings.ErrPaused) {
		t.Fatalf("Sync with the breaker open = %v, want ErrPaused", err)
	}
	if n := e.fake.OrderCalls(); n != 3 {
		t.Fatalf("calls before the pause = %d, want 3", n)
	}
	paused = false
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.OrderCalls(); n != 13 {
		t.Errorf("calls in all = %d, want 13 (12 pages and Invalid's empty answer)", n)
	}
	check(t, e, gens, zone)
}
