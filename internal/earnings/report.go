package earnings

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Totals is what a set of orders earned. Amounts are in cents of Currency ("" when there were none;
// "mixed" when orders were settled in several currencies, whose sums then mean little).
type Totals struct {
	Orders    int64  `json:"orders"` // orders that count: not invalid, refunded or blocked
	Items     int64  `json:"items"`
	Sales     int64  `json:"sales"`
	Estimated int64  `json:"estimated_commission"`
	Settled   int64  `json:"settled_commission"`
	Currency  string `json:"currency"`
}

// Add counts o.
func (t *Totals) Add(o Order) {
	if o.Void {
		return
	}
	t.Orders++
	t.Items += o.Items
	t.Sales += o.Sales
	t.Estimated += o.Estimated
	t.Settled += o.Settled
	switch {
	case t.Currency == "":
		t.Currency = o.Currency
	case t.Currency != o.Currency && o.Currency != "":
		t.Currency = "mixed"
	}
}

// Sum totals orders.
func Sum(orders []Order) Totals {
	var t Totals
	for _, o := range orders {
		t.Add(o)
	}
	return t
}

// Dimensions a report groups by.
const (
	ByLink    = "link"
	ByChannel = "channel"
	ByProduct = "product"
	ByDay     = "day"
)

// Row is one group of a report. Key is the link id (ByLink: "" for orders of no one link, told apart by
// Bucket), the channel, the product id or the day.
type Row struct {
	Key    string `json:"key"`
	Bucket string `json:"bucket,omitempty"` // ByLink: BucketLink, BucketShared or BucketGo
	Totals
}

// Group totals orders by dimension by (one of ByLink, ByChannel, ByProduct, ByDay), sorted by key (and
// bucket). ok=false: by is none of them.
func Group(orders []Order, by string) (rows []Row, ok bool) {
	key := map[string]func(Order) (string, string){
		ByLink: func(o Order) (string, string) {
			if o.Bucket == BucketShared {
				// Shared orders belong to the product on its channel: one row each, never a link's.
				return o.Channel + "/" + o.ProductID, o.Bucket
			}
			return o.LinkID, o.Bucket
		},
		ByChannel: func(o Order) (string, string) { return o.Channel, "" },
		ByProduct: func(o Order) (string, string) { return o.ProductID, "" },
		ByDay:     func(o Order) (string, string) { return o.Day, "" },
	}[by]
	if key == nil {
		return nil, false
	}
	type k struct{ key, bucket string }
	groups := map[k]*Row{}
	for _, o := range orders {
		kk, b := key(o)
		r := groups[k{kk, b}]
		if r == nil {
			r = &Row{Key: kk, Bucket: b}
			groups[k{kk, b}] = r
		}
		r.Add(o)
	}
	rows = make([]Row, 0, len(groups))
	for _, r := range groups {
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, func(a, b Row) int { return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Bucket, b.Bucket)) })
	return rows, true
}

// DayRange is the time from the start of day from to the end of day to ("2006-01-02", inclusive) in
// zone, whose days may be 23 or 25 hours long. It fails when a day is malformed or to is before from.
func DayRange(from, to string, zone *time.Location) (start, end time.Time, err error) {
	f, err := time.ParseInLocation("2006-01-02", from, zone)
	if err != nil {
		return start, end, fmt.Errorf("from %q is not a day (2006-01-02)", from)
	}
	t, err := time.ParseInLocation("2006-01-02", to, zone)
	if err != nil {
		return start, end, fmt.Errorf("to %q is not a day (2006-01-02)", to)
	}
	if t.Before(f) {
		return start, end, fmt.Errorf("to %s is before from %s", to, from)
	}
	return f, time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, zone), nil
}
