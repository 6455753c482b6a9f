package affiliatetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MethodOrderListByIndex is the order report the fake serves. Its request and answer follow the public
// SDKs: bububa/opentaobao (model/aedata/AliexpressAffiliateOrderListbyindexAPIRequest.go: start_time,
// end_time, status, fields, page_size, start_query_index_id; TrafficOrderResultDto.go: min_query_index_id,
// max_query_index_id, current_record_count, orders; Order.go: the order row's fields, effect_detail_status
// "FullRefund" or "Antispam") and sergioteula/python-aliexpress-api (the same fields, times
// "yyyy-MM-dd HH:mm:ss", page_size at most 50). Ids and amounts are written as numbers and the
// commissions as strings, as answers seen in other public clients are.
const MethodOrderListByIndex = "aliexpress.affiliate.order.listbyindex"

// MethodOrderGet reports orders by sub-order id: order_ids (comma-separated sub-order ids, "only sub-order
// ids are supported") and fields, as bububa/opentaobao's AliexpressAffiliateOrderGetAPIRequest.go has
// it; the answer is aliexpress_affiliate_order_get_response with the same resp_result and order rows.
const MethodOrderGet = "aliexpress.affiliate.order.get"

// Order statuses, as order.listbyindex takes and reports them.
const (
	StatusPaid      = "Payment Completed"
	StatusConfirmed = "Buyer Confirmed Receipt"
	StatusSettled   = "Completed Settlement"
	StatusInvalid   = "Invalid"
)

// OrderTimeLayout is how the platform writes times.
const OrderTimeLayout = "2006-01-02 15:04:05"

var orderZone = mustZone("America/Los_Angeles")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(fmt.Sprintf("affiliatetest: load zone %s: %v", name, err))
	}
	return loc
}

// Order is one sub-order the fake reports. Amounts are in cents.
type Order struct {
	OrderID, SubOrderID         string // numeric strings
	TrackingID                  string
	CustomParameters            string // JSON, or ""
	ProductID, ProductTitle     string
	ProductCount                int64
	Status, EffectDetailStatus  string
	PaidAmount, FinishedAmount  int64
	EstimatedPaidCommission     int64
	EstimatedFinishedCommission int64
	CommissionRate, Currency    string
	PaidAt                      time.Time // when it was paid; written in OrderZone
	FinishedAt                  time.Time // zero until it is
	// StatusAt is when the order reached Status (zero: PaidAt). A query's time window applies to it,
	// so an order paid long ago that settles today is in today's window of Completed Settlement.
	StatusAt time.Time
}

// orderBook is the fake's orders; guarded by Platform.mu.
type orderBook struct {
	rows      []orderRow // in index order
	next      int64      // the next index id
	failAfter int        // order calls that still succeed before failWith applies; negative: none
	failWith  Failure
	calls     int // order.listbyindex calls received
}

type orderRow struct {
	index int64
	o     Order
}

// failure is the failure an order call gets: fail (set by FailNext) unless FailOrderCall chose this
// call. It counts the call.
func (b *orderBook) failure(fail Failure) Failure {
	b.calls++
	if b.failWith != FailNone {
		if b.failAfter == 0 {
			f := b.failWith
			b.failWith = FailNone
			return f
		}
		b.failAfter--
	}
	return fail
}

// PutOrders adds orders, or replaces those with the same SubOrderID (a status change, a refund): a
// replaced order gets a new index id, after every other, as the platform re-reports a changed order.
// Times are kept to the second, as the platform writes them.
func (p *Platform) PutOrders(orders ...Order) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := &p.orders
	for _, o := range orders {
		// The platform keeps whole seconds.
		o.PaidAt, o.FinishedAt, o.StatusAt = o.PaidAt.Truncate(time.Second), o.FinishedAt.Truncate(time.Second), o.StatusAt.Truncate(time.Second)
		b.rows = slices.DeleteFunc(b.rows, func(r orderRow) bool { return r.o.SubOrderID == o.SubOrderID })
		b.next++
		b.rows = append(b.rows, orderRow{index: 1000000 + b.next, o: o})
	}
}

// FailOrderCall makes order.listbyindex call number after+1 from now fail as f (once); the calls
// before it are answered.
func (p *Platform) FailOrderCall(after int, f Failure) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.orders.failAfter, p.orders.failWith = after, f
}

// OrderCalls returns how many order.listbyindex calls the fake received.
func (p *Platform) OrderCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.orders.calls
}

// orderListByIndex answers a page: the orders of the status that reached it within [start_time,
// end_time] (in OrderZone), after start_query_index_id, at most page_size (default 20, at most 50).
func (p *Platform) orderListByIndex(w http.ResponseWriter, form url.Values, reqID string) {
	bad := func(msg string) {
		writeJSON(w, errorBody(&apiError{"InvalidParameter", msg}, reqID))
	}
	zone := p.cfg.OrderZone
	start, err1 := time.ParseInLocation(OrderTimeLayout, form.Get("start_time"), zone)
	end, err2 := time.ParseInLocation(OrderTimeLayout, form.Get("end_time"), zone)
	if err1 != nil || err2 != nil {
		bad("start_time and end_time must be yyyy-MM-dd HH:mm:ss")
		return
	}
	status := form.Get("status")
	if !slices.Contains([]string{StatusPaid, StatusConfirmed, StatusSettled, StatusInvalid}, status) {
		bad("status must be one of Payment Completed, Buyer Confirmed Receipt, Completed Settlement, Invalid")
		return
	}
	size := 20
	if v := form.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 50 {
			bad("page_size must be 1..50")
			return
		}
		size = n
	}
	var after int64
	if v := form.Get("start_query_index_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			bad("start_query_index_id is not one this platform handed out")
			return
		}
		after = n
	}
	var rows []map[string]any
	var minIdx, maxIdx int64
	p.mu.Lock()
	for _, r := range p.orders.rows {
		o := r.o
		at := o.StatusAt
		if at.IsZero() {
			at = o.PaidAt
		}
		if r.index <= after || o.Status != status || at.Before(start) || at.After(end) {
			continue
		}
		if len(rows) == size {
			break
		}
		if minIdx == 0 {
			minIdx = r.index
		}
		maxIdx = r.index
		rows = append(rows, orderJSON(o, zone))
	}
	p.mu.Unlock()
	if len(rows) == 0 {
		writeJSON(w, respBody(MethodOrderListByIndex, 405, "The result is empty", nil, reqID))
		return
	}
	result := map[string]any{
		"current_record_count": len(rows),
		"min_query_index_id":   strconv.FormatInt(minIdx, 10),
		"max_query_index_id":   strconv.FormatInt(maxIdx, 10),
		"orders":               p.list("order", rows),
	}
	writeJSON(w, respBody(MethodOrderListByIndex, 200, "Call succeeds", result, reqID))
}

func orderJSON(o Order, zone *time.Location) map[string]any {
	m := map[string]any{
		"order_id":                      json.Number(o.OrderID),
		"sub_order_id":                  json.Number(o.SubOrderID),
		"tracking_id":                   o.TrackingID,
		"product_id":                    json.Number(o.ProductID),
		"product_title":                 o.ProductTitle,
		"product_count":                 o.ProductCount,
		"order_status":                  o.Status,
		"paid_amount":                   o.PaidAmount,
		"finished_amount":               o.FinishedAmount,
		"estimated_paid_commission":     strconv.FormatInt(o.EstimatedPaidCommission, 10),
		"estimated_finished_commission": strconv.FormatInt(o.EstimatedFinishedCommission, 10),
		"commission_rate":               o.CommissionRate,
		"settled_currency":              o.Currency,
		"paid_time":                     o.PaidAt.In(zone).Format(OrderTimeLayout),
		"ship_to_country":               "US",
		"is_new_buyer":                  "N",
		"is_hot_product":                "N",
	}
	if o.CustomParameters != "" {
		m["custom_parameters"] = o.CustomParameters
	}
	if o.EffectDetailStatus != "" {
		m["effect_detail_status"] = o.EffectDetailStatus
	}
	if !o.FinishedAt.IsZero() {
		m["finished_time"] = o.FinishedAt.In(zone).Format(OrderTimeLayout)
	}
	if o.Status == StatusSettled {
		m["completed_settlement_time"] = o.FinishedAt.In(zone).Format(OrderTimeLayout)
	}
	return m
}

// orderGet answers the orders with the sub-order ids asked for (at most 50), in the order asked.
func (p *Platform) orderGet(w http.ResponseWriter, form url.Values, reqID string) {
	ids := strings.Split(form.Get("order_ids"), ",")
	if len(ids) > 50 {
		writeJSON(w, errorBody(&apiError{"InvalidParameter", "order_ids takes at most 50 ids"}, reqID))
		return
	}
	var rows []map[string]any
	p.mu.Lock()
	for _, id := range ids {
		for _, r := range p.orders.rows {
			if r.o.SubOrderID == id {
				rows = append(rows, orderJSON(r.o, p.cfg.OrderZone))
			}
		}
	}
	p.mu.Unlock()
	if len(rows) == 0 {
		writeJSON(w, respBody(MethodOrderGet, 405, "The result is empty", nil, reqID))
		return
	}
	result := map[string]any{"current_record_count": len(rows), "orders": p.list("order", rows)}
	writeJSON(w, respBody(MethodOrderGet, 200, "Call succeeds", result, reqID))
}
