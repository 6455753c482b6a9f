package affiliate_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
)

func orderClient(t *testing.T, simplify bool) (*affiliatetest.Platform, *affiliate.Client) {
	t.Helper()
	fake, srv := affiliatetest.NewServer(affiliatetest.PlatformConfig{Simplify: simplify})
	t.Cleanup(srv.Close)
	cfg := fake.Config()
	c, err := affiliate.New(affiliate.Config{AppKey: cfg.AppKey, AppSecret: cfg.Secret, TrackingID: cfg.TrackingID, APIURL: srv.URL, RatePerSecond: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return fake, c
}

// TestOrderPages: order.listbyindex pages follow the cursor, signed and checked by the strict fake, in
// both list forms; order.get finds orders by sub-order id; a platform error is an error.
func TestOrderPages(t *testing.T) {
	for _, simplify := range []bool{false, true} {
		fake, c := orderClient(t, simplify)
		zone := fake.Config().OrderZone
		paid := time.Date(2026, 11, 1, 10, 0, 0, 0, zone)
		var want []string
		for i := range 7 {
			o := affiliatetest.Order{OrderID: "1", SubOrderID: strconv.Itoa(100 + i), TrackingID: "t", ProductID: "5",
				ProductCount: 2, Status: affiliatetest.StatusPaid, PaidAmount: 1234, EstimatedPaidCommission: 86,
				Currency: "USD", PaidAt: paid.Add(time.Duration(i) * time.Minute), CustomParameters: `{"af":"x"}`}
			want = append(want, o.SubOrderID)
			fake.PutOrders(o)
		}
		q := affiliate.OrderQuery{Status: affiliatetest.StatusPaid, PageSize: 3,
			StartTime: paid.Add(-time.Hour).Format(affiliate.OrderTimeLayout), EndTime: paid.Add(time.Hour).Format(affiliate.OrderTimeLayout)}
		var got []affiliate.Order
		for range 5 {
			page, err := c.OrderPage(context.Background(), q)
			if err != nil {
				t.Fatalf("simplify %v: OrderPage(%+v): %v", simplify, q, err)
			}
			got = append(got, page.Orders...)
			if len(page.Orders) < q.PageSize {
				break
			}
			q.StartIndex = page.MaxIndex
		}
		if len(got) != len(want) {
			t.Fatalf("simplify %v: %d orders, want %d", simplify, len(got), len(want))
		}
		for i, o := range got {
			if o.SubOrderID != want[i] || o.PaidAmount != 1234 || o.EstimatedPaidCommission != 86 || o.ProductCount != 2 ||
				o.CustomParameters != `{"af":"x"}` || o.PaidTime != paid.Add(time.Duration(i)*time.Minute).Format(affiliate.OrderTimeLayout) {
				t.Errorf("order %d = %+v", i, o)
			}
		}
		// The form's page_size bound is the client's too.
		if _, err := c.OrderPage(context.Background(), affiliate.OrderQuery{Status: affiliatetest.StatusPaid, PageSize: 51}); err == nil {
			t.Error("page size 51: no error")
		}
		byID, err := c.Orders(context.Background(), []string{want[2], "nope"})
		if err != nil || len(byID) != 1 || byID[0].SubOrderID != want[2] {
			t.Errorf("Orders(%s, nope) = %+v, %v; want the one", want[2], byID, err)
		}
		fake.FailOrderCall(0, affiliatetest.FailNotRegistered)
		_, err = c.OrderPage(context.Background(), q)
		var pe *affiliate.PlatformError
		if !errors.As(err, &pe) {
			t.Errorf("failed call: err %v, want a *PlatformError", err)
		}
	}
}
