package main

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
	"github.com/redirector/redirector/internal/aliurl"
)

// sandboxOrderEvery is how often the -dev sandbox may report a new order or move one on.
const sandboxOrderEvery = 20 * time.Second

// sandboxShop makes the -dev sandbox's believable trickle of orders: now and then one of the products
// whose links were generated (clicked) is bought, on the channel it was tagged with, and orders move
// on from paid to confirmed to settled, a few becoming invalid. Not safe for concurrent use.
type sandboxShop struct {
	rng    *rand.Rand
	next   int64
	orders []affiliatetest.Order // the orders reported so far, as last reported
}

// step returns the orders to report at now: perhaps a new order of one of the products in sources
// (link.generate's source values, with the tracking id of their call), and perhaps a status change.
func (s *sandboxShop) step(sources []sandboxSource, now time.Time) []affiliatetest.Order {
	var out []affiliatetest.Order
	var products []sandboxSource
	for _, src := range sources {
		if p, err := aliurl.Parse(src.page); err == nil && p.Kind == aliurl.Product {
			products = append(products, sandboxSource{page: p.ID, tracking: src.tracking})
		}
	}
	if len(products) > 0 && s.rng.IntN(3) > 0 {
		pick := products[s.rng.IntN(len(products))]
		s.next++
		count := int64(1 + s.rng.IntN(2))
		paid := count * int64(500+s.rng.IntN(4500))
		o := affiliatetest.Order{
			OrderID: strconv.FormatInt(3000000000+s.next, 10), SubOrderID: strconv.FormatInt(8000000000+s.next, 10),
			TrackingID: pick.tracking, ProductID: pick.page, ProductTitle: "Sandbox product " + pick.page,
			ProductCount: count, Status: affiliatetest.StatusPaid, PaidAmount: paid,
			EstimatedPaidCommission: paid * 7 / 100, CommissionRate: "7.0", Currency: "USD", PaidAt: now,
		}
		s.orders = append(s.orders, o)
		out = append(out, o)
	}
	if len(s.orders) > 1 && s.rng.IntN(2) == 0 {
		i := s.rng.IntN(len(s.orders) - 1) // never the order just made
		o := &s.orders[i]
		switch {
		case o.Status == affiliatetest.StatusPaid && s.rng.IntN(10) == 0:
			o.Status = affiliatetest.StatusInvalid
		case o.Status == affiliatetest.StatusPaid:
			o.Status, o.FinishedAt, o.FinishedAmount = affiliatetest.StatusConfirmed, now, o.PaidAmount
			o.EstimatedFinishedCommission = o.EstimatedPaidCommission
		case o.Status == affiliatetest.StatusConfirmed:
			o.Status = affiliatetest.StatusSettled
		default:
			return out
		}
		o.StatusAt = now
		out = append(out, *o)
	}
	return out
}

type sandboxSource struct{ page, tracking string }

// runSandboxShop reports the shop's orders to p every sandboxOrderEvery until stop is closed.
func runSandboxShop(p *affiliatetest.Platform, stop <-chan struct{}) {
	shop := &sandboxShop{rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))}
	t := time.NewTicker(sandboxOrderEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		var sources []sandboxSource
		for _, f := range p.Requests() {
			if f.Get("method") == affiliatetest.MethodLinkGenerate {
				for _, s := range splitComma(f.Get("source_values")) {
					sources = append(sources, sandboxSource{page: s, tracking: f.Get("tracking_id")})
				}
			}
		}
		if orders := shop.step(sources, time.Now()); len(orders) > 0 {
			p.PutOrders(orders...)
		}
	}
}

func splitComma(s string) []string {
	var out []string
	for s != "" {
		i := 0
		for i < len(s) && s[i] != ',' {
			i++
		}
		if i > 0 {
			out = append(out, s[:i])
		}
		if i == len(s) {
			break
		}
		s = s[i+1:]
	}
	return out
}
