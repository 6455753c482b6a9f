package affiliate_test

import (
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/affiliate/affiliatetest"
)

// TestProductDetailsBatch: one signed productdetail.get call answers up to MaxDetailIDs products; a
// removed product is missing from the answer, an unpromotable one has a zero commission rate, and more
// ids than the maximum are refused without a call.
func TestProductDetailsBatch(t *testing.T) {
	for _, simplify := range []bool{false, true} {
		t.Run(fmt.Sprintf("simplify=%v", simplify), func(t *testing.T) {
			c, p := start(t, affiliatetest.PlatformConfig{Simplify: simplify}, nil)
			ids := make([]string, affiliate.MaxDetailIDs)
			for i := range ids {
				ids[i] = strconv.Itoa(1005001000 + i)
				p.SetProduct(ids[i], affiliatetest.Product{Title: "Lamp " + ids[i], Price: "1.00", Currency: "USD"})
			}
			p.RemoveProduct(ids[0])
			p.SetProductNotPromotable(ids[1])
			got, err := c.ProductDetails(t.Context(), ids, "", "")
			if err != nil {
				t.Fatalf("ProductDetails(%d ids) error = %v", len(ids), err)
			}
			if n := p.CallsOf(affiliatetest.MethodProductDetail); n != 1 {
				t.Errorf("productdetail.get calls = %d, want 1", n)
			}
			if _, ok := got[ids[0]]; ok || len(got) != len(ids)-1 {
				t.Errorf("ProductDetails answered %d products (removed one included: %v), want %d", len(got), ok, len(ids)-1)
			}
			if r := got[ids[1]].CommissionRate; r != "0.0%" {
				t.Errorf("unpromotable product's commission_rate = %q, want 0.0%%", r)
			}
			if r := got[ids[2]]; r.CommissionRate != "7.0%" || r.Title != "Lamp "+ids[2] || r.ID != ids[2] {
				t.Errorf("product %s = %+v, want its title and 7.0%%", ids[2], r)
			}
			if _, err := c.ProductDetails(t.Context(), append(ids, "1005009999"), "", ""); err == nil {
				t.Errorf("ProductDetails(%d ids) error = nil, want refused", len(ids)+1)
			}
			if n := p.Calls(); n != 1 {
				t.Errorf("platform calls = %d, want 1 (too many ids are not sent)", n)
			}
		})
	}
}

// TestProductDetailsSpareOnly: a background details call takes no token the clicks need.
func TestProductDetailsSpareOnly(t *testing.T) {
	c, p := start(t, affiliatetest.PlatformConfig{}, func(c *affiliate.Config) { c.RatePerSecond, c.Burst = 0.01, 4 })
	p.SetProduct("1005001", affiliatetest.Product{Title: "Lamp"})
	for i := range 2 { // a burst of 4 keeps 3 for the clicks: two calls may go
		if _, err := c.ProductDetails(t.Context(), []string{"1005001"}, "", ""); err != nil && i == 0 {
			t.Fatalf("ProductDetails with a full limiter error = %v", err)
		}
	}
	if _, err := c.ProductDetails(t.Context(), []string{"1005001"}, "", ""); !errors.Is(err, affiliate.ErrWouldWait) {
		t.Errorf("ProductDetails with half the burst left error = %v, want ErrWouldWait", err)
	}
	if n := p.Calls(); n > 2 {
		t.Errorf("platform calls = %d, want at most 2", n)
	}
	if _, err := c.GenerateBatch(t.Context(), []string{"https://www.aliexpress.com/item/1005001.html"}); err != nil {
		t.Errorf("GenerateBatch after the details calls error = %v, want a token left for it", err)
	}
}

// TestProductQuery: product.query finds promotable products by title words, never removed or
// unpromotable ones.
func TestProductQuery(t *testing.T) {
	c, p := start(t, affiliatetest.PlatformConfig{}, nil)
	for i, title := range []string{"Solar garden lamp", "Garden hose", "Desk lamp", "Lamp shade"} {
		p.SetProduct(strconv.Itoa(1005001+i), affiliatetest.Product{Title: title, Price: "2.00", Currency: "USD"})
	}
	p.RemoveProduct("1005003")
	p.SetProductNotPromotable("1005004")
	got, err := c.ProductQuery(t.Context(), "garden lamp", 5, "", "")
	if err != nil {
		t.Fatalf("ProductQuery error = %v", err)
	}
	var ids []string
	for _, g := range got {
		ids = append(ids, g.ID)
	}
	if fmt.Sprint(ids) != "[1005001 1005002]" {
		t.Errorf("ProductQuery(garden lamp) = %v, want [1005001 1005002]", ids)
	}
	if got, err := c.ProductQuery(t.Context(), "bicycle", 5, "", ""); err != nil || len(got) != 0 {
		t.Errorf("ProductQuery(bicycle) = %v, %v; want none (resp_code 405)", got, err)
	}
}
