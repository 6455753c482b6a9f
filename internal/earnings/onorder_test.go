package earnings_test

import (
	"context"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/earnings"
)

// OnOrder (the order.updated webhook) hears of each new order and each change once: an order read again
// unchanged, as a full re-sync reads every order, is not news.
func TestSyncOnOrder(t *testing.T) {
	zone := earnings.DefaultZone()
	e := newEnv(t, zone)
	gens := fiveHundred(time.Now())[:10]
	e.fake.PutOrders(orders(gens)...)
	var told []earnings.Order
	s := e.syncer(earnings.SyncOptions{Zone: zone, OnOrder: func(o earnings.Order) { told = append(told, o) }})
	ctx := context.Background()
	if err := s.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	seen := map[string]bool{}
	for _, o := range told {
		seen[o.SubOrderID] = true
	}
	if len(told) != 10 || len(seen) != 10 {
		t.Fatalf("first sync told %d orders (%d distinct), want 10 once each", len(told), len(seen))
	}
	told = nil
	if err := e.rdb.Del(ctx, "rd:v1:orders:sync").Err(); err != nil { // a lost cursor: everything read again
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatalf("full re-sync: %v", err)
	}
	if len(told) != 0 {
		t.Errorf("a re-sync of unchanged orders told %d, want 0", len(told))
	}
	at := time.Now()
	gens[3].o.Status, gens[3].o.StatusAt, gens[3].o.FinishedAt = affiliatetest.StatusConfirmed, at, at
	e.fake.PutOrders(gens[3].o)
	if err := s.Sync(ctx); err != nil {
		t.Fatalf("incremental Sync: %v", err)
	}
	if len(told) != 1 || told[0].SubOrderID != gens[3].o.SubOrderID || told[0].Status != earnings.StatusConfirmed {
		t.Errorf("after a status change told %+v, want order %s confirmed, once", told, gens[3].o.SubOrderID)
	}
}
