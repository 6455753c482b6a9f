package affiliate

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

const (
	methodLinkGenerate  = "aliexpress.affiliate.link.generate"
	methodProductDetail = "aliexpress.affiliate.productdetail.get"

	codeRateLimit = "ApiCallLimit"
	respOK        = 200
	respEmpty     = 405 // "The result is empty"
)

// errorResponse is the gateway's answer to a request it refused.
type errorResponse struct {
	Type      string `json:"type"`
	Code      string `json:"code"`
	Msg       string `json:"msg"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// methodResponse is the body under "<method>_response" that every affiliate method shares.
type methodResponse[T any] struct {
	RespResult struct {
		RespCode int    `json:"resp_code"`
		RespMsg  string `json:"resp_msg"`
		Result   T      `json:"result"`
	} `json:"resp_result"`
	RequestID string `json:"request_id"`
}

// list decodes both forms the platform uses for a list: {"<name>":[…]} and, simplified, a bare […].
type list[T any] []T

// UnmarshalJSON accepts either form.
func (l *list[T]) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, (*[]T)(l))
	}
	var wrapped map[string][]T
	if err := json.Unmarshal(b, &wrapped); err != nil {
		return err
	}
	*l = nil
	for _, v := range wrapped {
		*l = append(*l, v...)
	}
	return nil
}

type linkEnvelope struct {
	Resp  *methodResponse[linkResult] `json:"aliexpress_affiliate_link_generate_response"`
	Error *errorResponse              `json:"error_response"`
}

type linkResult struct {
	PromotionLinks   list[promotionLink] `json:"promotion_links"`
	TotalResultCount int                 `json:"total_result_count"`
}

type promotionLink struct {
	PromotionLink string `json:"promotion_link"`
	SourceValue   string `json:"source_value"`
}

type productEnvelope struct {
	Resp  *methodResponse[productResult] `json:"aliexpress_affiliate_productdetail_get_response"`
	Error *errorResponse                 `json:"error_response"`
}

type productResult struct {
	CurrentRecordCount int                 `json:"current_record_count"`
	Products           list[productFields] `json:"products"`
}

type productFields struct {
	ProductID     json.Number `json:"product_id"`
	Title         string      `json:"product_title"`
	ImageURL      string      `json:"product_main_image_url"`
	Price         string      `json:"target_sale_price"`
	PriceCurrency string      `json:"target_sale_price_currency"`
	Commission    string      `json:"commission_rate"`
	ShopURL       string      `json:"shop_url"`
}

func (p productFields) product() Product {
	return Product{ID: p.ProductID.String(), Title: p.Title, ImageURL: p.ImageURL, Price: p.Price,
		Currency: p.PriceCurrency, CommissionRate: p.Commission, ShopURL: p.ShopURL}
}

// result checks the parts every answer shares. It returns empty=true for resp_code 405, a
// *PlatformError for an error_response or another resp_code, and a *TransportError for a body that
// is neither.
func result[T any](e *errorResponse, r *methodResponse[T]) (res T, empty bool, err error) {
	switch {
	case e != nil:
		msg := e.Msg
		if msg == "" {
			msg = e.Message
		}
		return res, false, &PlatformError{Code: e.Code, Msg: msg, RequestID: e.RequestID}
	case r == nil:
		return res, false, &TransportError{Err: fmt.Errorf("unexpected response shape")}
	}
	switch rr := r.RespResult; rr.RespCode {
	case respOK:
		return rr.Result, false, nil
	case respEmpty:
		return res, true, nil
	default:
		return res, false, &PlatformError{Code: strconv.Itoa(rr.RespCode), Msg: rr.RespMsg, RequestID: r.RequestID}
	}
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &TransportError{Err: fmt.Errorf("decode response: %w", err)}
	}
	return nil
}

// parseLinks reads a link.generate answer into one Result per source. A source the answer does not
// link gets ErrNotPromotable.
func parseLinks(body []byte, sources []string) (map[string]Result, error) {
	var env linkEnvelope
	if err := decode(body, &env); err != nil {
		return nil, err
	}
	res, _, err := result(env.Error, env.Resp)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Result, len(sources))
	for _, s := range sources {
		out[s] = Result{Err: ErrNotPromotable}
	}
	for _, pl := range res.PromotionLinks {
		if _, asked := out[pl.SourceValue]; asked && validLink(pl.PromotionLink) {
			out[pl.SourceValue] = Result{Link: pl.PromotionLink}
		}
	}
	return out, nil
}

// validLink keeps anything but an absolute http(s) link out of a redirect's Location.
func validLink(s string) bool {
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(s, "http://")
	}
	return ok && rest != "" && rest[0] != '/' && !strings.ContainsAny(s, " \t\r\n\\")
}

// parseProduct reads a productdetail.get answer for id.
func parseProduct(body []byte, id string) (Product, error) {
	var env productEnvelope
	if err := decode(body, &env); err != nil {
		return Product{}, err
	}
	res, empty, err := result(env.Error, env.Resp)
	if err != nil {
		return Product{}, err
	}
	if !empty {
		for _, p := range res.Products {
			if p.ProductID.String() == id {
				return p.product(), nil
			}
		}
	}
	return Product{}, ErrNotPromotable
}
