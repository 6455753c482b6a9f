// Package earnings is what the links earn: the platform's order reports synced into the store, each
// order attributed to at most one link, and the totals per link, channel, product and day.
package earnings

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/redirector/redirector/internal/affiliate"
	"github.com/redirector/redirector/internal/aliurl"
	"github.com/redirector/redirector/internal/link"
)

// Order statuses as the platform reports them, in the order an order goes through them; Invalid ends
// an order wherever it was.
const (
	StatusPaid      = "Payment Completed"
	StatusConfirmed = "Buyer Confirmed Receipt"
	StatusSettled   = "Completed Settlement"
	StatusInvalid   = "Invalid"
)

// Statuses are the statuses a sync asks for, each in its own pass.
var Statuses = []string{StatusPaid, StatusConfirmed, StatusSettled, StatusInvalid}

// timeTypes names, per status, the time a query's window applies to (order.list's time_type): an order
// paid long ago that settles today is found in today's window. Invalid has none of its own.
var timeTypes = map[string]string{
	StatusPaid:      "Payment Completed Time",
	StatusConfirmed: "Buyer Confirmed Receipt Time",
	StatusSettled:   "Completed Settlement Time",
}

// rank orders statuses: a report of a lower rank never replaces a higher one already stored (a sync's
// passes and overlaps read an order in several statuses, and the latest must win).
func rank(status string) int {
	switch status {
	case StatusPaid:
		return 1
	case StatusConfirmed:
		return 2
	case StatusSettled:
		return 3
	case StatusInvalid:
		return 4
	}
	return 0
}

// Buckets say how an order was attributed.
const (
	// BucketLink: the order belongs to Order.LinkID.
	BucketLink = "link"
	// BucketShared: several links of the product on the channel could have sold it; it belongs to the
	// product and the channel, to none of them (never to each).
	BucketShared = "shared"
	// BucketGo: no short link names it: /go traffic, or a link made outside this service.
	BucketGo = "go"
)

// Order is one sub-order as stored: what the platform reported, reduced to what reports need, with its
// attribution. Amounts are in cents of Currency.
type Order struct {
	SubOrderID string    `json:"sub_order_id"`
	OrderID    string    `json:"order_id"`
	Channel    string    `json:"channel"` // the tracking id it was made on
	ProductID  string    `json:"product_id"`
	Title      string    `json:"title,omitempty"`
	Status     string    `json:"status"`
	Void       bool      `json:"void,omitempty"` // Invalid, or refunded or blocked (effect_detail_status): counts nothing
	Items      int64     `json:"items"`
	Sales      int64     `json:"sales"`     // paid amount
	Estimated  int64     `json:"estimated"` // estimated commission: at completion when known, else at payment
	Settled    int64     `json:"settled"`   // commission of a settled order
	Currency   string    `json:"currency"`
	PaidAt     time.Time `json:"paid_at"`
	Day        string    `json:"day"` // "2006-01-02" of PaidAt in the platform's zone
	Bucket     string    `json:"bucket"`
	LinkID     string    `json:"link_id,omitempty"`
}

// Links is what attribution knows of the short links: which ids are live, and which live links lead
// to a product on a channel. Build it with NewLinks; the zero value knows no link.
type Links struct {
	ids       map[string]bool
	byProduct map[string][]string // channel + "|" + product id → live link ids
}

// NewLinks indexes records (deleted ones are skipped). defaultChannel is the channel of a record that
// names none.
func NewLinks(records []link.Record, defaultChannel string) Links {
	l := Links{ids: make(map[string]bool), byProduct: make(map[string][]string)}
	for _, r := range records {
		if r.Deleted {
			continue
		}
		l.ids[r.ID] = true
		page, err := aliurl.Parse(r.Target)
		if err != nil || page.Kind != aliurl.Product {
			continue
		}
		ch := r.Channel
		if ch == "" {
			ch = defaultChannel
		}
		k := ch + "|" + page.ID
		l.byProduct[k] = append(l.byProduct[k], r.ID)
	}
	return l
}

// Attribute decides whose order o is, in this order: the sub-id it carries (an "af" in
// custom_parameters) names a live link; else the tracking id and product id name the one live link of
// that product on that channel; several such links: the product and channel (BucketShared); none: BucketGo.
func (l Links) Attribute(o affiliate.Order) (bucket, linkID string) {
	if id := subID(o.CustomParameters); id != "" && l.ids[id] {
		return BucketLink, id
	}
	switch ids := l.byProduct[o.TrackingID+"|"+o.ProductID]; len(ids) {
	case 0:
		return BucketGo, ""
	case 1:
		return BucketLink, ids[0]
	}
	return BucketShared, ""
}

// subID is the "af" that custom_parameters carries: a JSON object ({"af":"id"}), or, as some reports
// write it, a query string ("af=id&cn=…").
func subID(custom string) string {
	custom = strings.TrimSpace(custom)
	if custom == "" {
		return ""
	}
	if custom[0] == '{' {
		var m map[string]any
		if json.Unmarshal([]byte(custom), &m) != nil {
			return ""
		}
		s, _ := m["af"].(string)
		return s
	}
	for kv := range strings.SplitSeq(custom, "&") {
		if v, ok := strings.CutPrefix(kv, "af="); ok {
			return v
		}
	}
	return ""
}

// fromPlatform reduces a reported order; zone is the zone of its times. ok=false: the row has no
// sub-order id or no readable paid time and is not stored.
func fromPlatform(o affiliate.Order, zone *time.Location, l Links) (Order, bool) {
	paid, err := time.ParseInLocation(affiliate.OrderTimeLayout, o.PaidTime, zone)
	if o.SubOrderID == "" || err != nil {
		return Order{}, false
	}
	out := Order{
		SubOrderID: o.SubOrderID, OrderID: o.OrderID, Channel: o.TrackingID, ProductID: o.ProductID,
		Title: o.ProductTitle, Status: o.Status, Items: o.ProductCount, Sales: o.PaidAmount,
		Estimated: o.EstimatedPaidCommission, Currency: o.SettledCurrency,
		PaidAt: paid.UTC(), Day: paid.Format("2006-01-02"),
	}
	if o.EstimatedFinishedCommission > 0 {
		out.Estimated = o.EstimatedFinishedCommission
	}
	if o.Status == StatusSettled {
		out.Settled = out.Estimated
	}
	if o.Status == StatusInvalid || o.EffectDetailStatus != "" {
		// Invalid, "FullRefund" or "Antispam": no commission will be paid, and it is no sale.
		out.Void = true
		out.Items, out.Sales, out.Estimated, out.Settled = 0, 0, 0, 0
	}
	out.Bucket, out.LinkID = l.Attribute(o)
	return out, true
}
