package affiliate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// The request and answer of aliexpress.affiliate.order.listbyindex, as the public SDKs describe them
// (bububa/opentaobao: model/aedata/AliexpressAffiliateOrderListbyindexAPIRequest.go, Order.go,
// TrafficOrderResultDto.go; sergioteula/python-aliexpress-api's order list): the request takes
// start_time, end_time ("yyyy-MM-dd HH:mm:ss" in the platform's zone), status, fields, page_size and
// start_query_index_id; the result carries min_query_index_id, max_query_index_id,
// current_record_count and orders ({"order":[…]} or, simplified, a bare list). Ids and amounts come as
// numbers in some answers and as strings in others: both are read.
const methodOrderListByIndex = "aliexpress.affiliate.order.listbyindex"

// methodOrderGet reports orders by sub-order id (order_ids, comma-separated; bububa/opentaobao's
// AliexpressAffiliateOrderGetAPIRequest.go); its answer has the same order rows.
const methodOrderGet = "aliexpress.affiliate.order.get"

// OrderFields is what OrderPage asks the platform to return for each order.
const OrderFields = "order_id,sub_order_id,tracking_id,custom_parameters,product_id,product_title,product_count," +
	"order_status,effect_detail_status,paid_amount,finished_amount,estimated_paid_commission," +
	"estimated_finished_commission,commission_rate,settled_currency,paid_time,finished_time," +
	"completed_settlement_time,ship_to_country,is_new_buyer,is_hot_product"

// OrderTimeLayout is how the platform writes order times and the query's window.
const OrderTimeLayout = "2006-01-02 15:04:05"

// MaxOrderPageSize is the largest page_size order.listbyindex accepts.
const MaxOrderPageSize = 50

// OrderQuery is one page's request. StartTime and EndTime are "2006-01-02 15:04:05" in the platform's
// zone; StartIndex is "" for the first page, else the MaxIndex of the page before.
type OrderQuery struct {
	Status string
	// TimeType names the time the window applies to ("Payment Completed Time", …); "" leaves it out.
	TimeType           string
	StartTime, EndTime string
	PageSize           int
	StartIndex         string
}

// OrderPage is one page of orders and its cursor.
type OrderPage struct {
	Orders             []Order
	MinIndex, MaxIndex string
}

// Order is one sub-order as the platform reports it. Amounts are in cents of SettledCurrency; times are
// "2006-01-02 15:04:05" in the platform's zone.
type Order struct {
	OrderID, SubOrderID, TrackingID, CustomParameters string
	ProductID, ProductTitle                           string
	ProductCount                                      int64
	Status, EffectDetailStatus                        string
	PaidAmount, FinishedAmount                        int64
	EstimatedPaidCommission                           int64
	EstimatedFinishedCommission                       int64
	CommissionRate, SettledCurrency                   string
	PaidTime, FinishedTime, SettlementTime            string
	ShipToCountry, IsNewBuyer, IsHotProduct           string
}

// OrderPage asks order.listbyindex for one page. It waits for the client's rate limit and any ban like
// link generation (and only within ctx), and returns the errors GenerateBatch does; an empty result
// (resp_code 405) is an empty page, not an error.
func (c *Client) OrderPage(ctx context.Context, q OrderQuery) (OrderPage, error) {
	if q.PageSize <= 0 || q.PageSize > MaxOrderPageSize {
		return OrderPage{}, fmt.Errorf("aliexpress: order page size %d outside 1..%d", q.PageSize, MaxOrderPageSize)
	}
	params := url.Values{
		"status":     {q.Status},
		"start_time": {q.StartTime},
		"end_time":   {q.EndTime},
		"page_size":  {strconv.Itoa(q.PageSize)},
		"fields":     {OrderFields},
	}
	if q.TimeType != "" {
		params.Set("time_type", q.TimeType)
	}
	if q.StartIndex != "" {
		params.Set("start_query_index_id", q.StartIndex)
	}
	var page OrderPage
	err := c.call(ctx, methodOrderListByIndex, params, 1, true, func(body []byte) (err error) {
		page, err = parseOrders(body)
		return err
	})
	return page, err
}

type orderEnvelope struct {
	Resp    *methodResponse[orderResult] `json:"aliexpress_affiliate_order_listbyindex_response"`
	GetResp *methodResponse[orderResult] `json:"aliexpress_affiliate_order_get_response"`
	Error   *errorResponse               `json:"error_response"`
}

// Orders asks order.get for the orders with the sub-order ids given (at most MaxOrderPageSize); ids the
// platform does not know are left out. Its errors are OrderPage's.
func (c *Client) Orders(ctx context.Context, subOrderIDs []string) ([]Order, error) {
	if len(subOrderIDs) == 0 || len(subOrderIDs) > MaxOrderPageSize {
		return nil, fmt.Errorf("aliexpress: %d order ids outside 1..%d", len(subOrderIDs), MaxOrderPageSize)
	}
	for _, id := range subOrderIDs {
		if err := checkSource(id); err != nil {
			return nil, err
		}
	}
	params := url.Values{"order_ids": {strings.Join(subOrderIDs, ",")}, "fields": {OrderFields}}
	var page OrderPage
	err := c.call(ctx, methodOrderGet, params, len(subOrderIDs), true, func(body []byte) (err error) {
		page, err = parseOrders(body)
		return err
	})
	return page.Orders, err
}

type orderResult struct {
	MinIndex flexString        `json:"min_query_index_id"`
	MaxIndex flexString        `json:"max_query_index_id"`
	Orders   list[orderFields] `json:"orders"`
}

type orderFields struct {
	OrderID                     flexString `json:"order_id"`
	SubOrderID                  flexString `json:"sub_order_id"`
	TrackingID                  string     `json:"tracking_id"`
	CustomParameters            string     `json:"custom_parameters"`
	ProductID                   flexString `json:"product_id"`
	ProductTitle                string     `json:"product_title"`
	ProductCount                flexString `json:"product_count"`
	Status                      string     `json:"order_status"`
	EffectDetailStatus          string     `json:"effect_detail_status"`
	PaidAmount                  flexString `json:"paid_amount"`
	FinishedAmount              flexString `json:"finished_amount"`
	EstimatedPaidCommission     flexString `json:"estimated_paid_commission"`
	EstimatedFinishedCommission flexString `json:"estimated_finished_commission"`
	CommissionRate              flexString `json:"commission_rate"`
	SettledCurrency             string     `json:"settled_currency"`
	PaidTime                    string     `json:"paid_time"`
	FinishedTime                string     `json:"finished_time"`
	SettlementTime              string     `json:"completed_settlement_time"`
	ShipToCountry               string     `json:"ship_to_country"`
	IsNewBuyer                  flexString `json:"is_new_buyer"`
	IsHotProduct                flexString `json:"is_hot_product"`
}

// flexString reads a JSON string, number or boolean as its text.
type flexString string

// UnmarshalJSON accepts a string, a number, a boolean or null.
func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case bytes.Equal(b, []byte("null")):
		*f = ""
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err == nil {
			*f = flexString(n)
			return nil
		}
		var v bool
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("not a string, number or boolean: %s", b)
		}
		*f = flexString(strconv.FormatBool(v))
	}
	return nil
}

func (f flexString) int() (int64, error) {
	if f == "" {
		return 0, nil
	}
	return strconv.ParseInt(string(f), 10, 64)
}

// parseOrders reads an order.listbyindex answer. A row whose counts are not whole numbers makes the
// answer malformed (a *TransportError): it is not guessed at.
func parseOrders(body []byte) (OrderPage, error) {
	var env orderEnvelope
	if err := decode(body, &env); err != nil {
		return OrderPage{}, err
	}
	resp := env.Resp
	if resp == nil {
		resp = env.GetResp
	}
	res, empty, err := result(env.Error, resp)
	if err != nil || empty {
		return OrderPage{}, err
	}
	page := OrderPage{MinIndex: string(res.MinIndex), MaxIndex: string(res.MaxIndex), Orders: make([]Order, 0, len(res.Orders))}
	for _, o := range res.Orders {
		out := Order{
			OrderID: string(o.OrderID), SubOrderID: string(o.SubOrderID), TrackingID: o.TrackingID,
			CustomParameters: o.CustomParameters, ProductID: string(o.ProductID), ProductTitle: o.ProductTitle,
			Status: o.Status, EffectDetailStatus: o.EffectDetailStatus, CommissionRate: string(o.CommissionRate),
			SettledCurrency: o.SettledCurrency, PaidTime: o.PaidTime, FinishedTime: o.FinishedTime,
			SettlementTime: o.SettlementTime, ShipToCountry: o.ShipToCountry, IsNewBuyer: string(o.IsNewBuyer),
			IsHotProduct: string(o.IsHotProduct),
		}
		for _, n := range []struct {
			dst *int64
			v   flexString
		}{
			{&out.ProductCount, o.ProductCount}, {&out.PaidAmount, o.PaidAmount}, {&out.FinishedAmount, o.FinishedAmount},
			{&out.EstimatedPaidCommission, o.EstimatedPaidCommission},
			{&out.EstimatedFinishedCommission, o.EstimatedFinishedCommission},
		} {
			if *n.dst, err = n.v.int(); err != nil {
				return OrderPage{}, &TransportError{Err: fmt.Errorf("order %s: malformed number %q", o.SubOrderID, n.v)}
			}
		}
		page.Orders = append(page.Orders, out)
	}
	return page, nil
}
