package main

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
)

// TestSandboxShop: the sandbox's orders are of clicked products on their channel, and only move
// forward: paid → confirmed → settled, or paid → invalid.
func TestSandboxShop(t *testing.T) {
	shop := &sandboxShop{rng: rand.New(rand.NewPCG(1, 2))}
	sources := []sandboxSource{
		{page: "https://www.aliexpress.com/item/1005001234567890.html", tracking: "sandbox"},
		{page: "https://www.aliexpress.com/category/100.html", tracking: "sandbox"}, // no product: never bought
	}
	if got := shop.step(nil, time.Now()); len(got) != 0 {
		t.Fatalf("orders with nothing clicked: %+v", got)
	}
	order := map[string]int{affiliatetest.StatusPaid: 1, affiliatetest.StatusConfirmed: 2, affiliatetest.StatusSettled: 3, affiliatetest.StatusInvalid: 4}
	last := map[string]string{}
	now := time.Now()
	for i := range 200 {
		for _, o := range shop.step(sources, now.Add(time.Duration(i)*time.Second)) {
			if o.ProductID != "1005001234567890" || o.TrackingID != "sandbox" {
				t.Fatalf("order of %s on %s", o.ProductID, o.TrackingID)
			}
			if prev := last[o.SubOrderID]; prev != "" && order[o.Status] <= order[prev] {
				t.Fatalf("order %s went from %s to %s", o.SubOrderID, prev, o.Status)
			}
			if o.Status == affiliatetest.StatusInvalid && last[o.SubOrderID] != affiliatetest.StatusPaid {
				t.Fatalf("order %s became invalid from %q", o.SubOrderID, last[o.SubOrderID])
			}
			last[o.SubOrderID] = o.Status
		}
	}
	seen := map[string]bool{}
	for _, s := range last {
		seen[s] = true
	}
	for s := range order {
		if !seen[s] {
			t.Errorf("no order ended %s in 200 steps: %v", s, last)
		}
	}
}
