package affiliate

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// MaxDetailIDs is the most product ids ProductDetails sends in one productdetail.get call. The public
// SDKs read (sergioteula/python-aliexpress-api, which joins a list of ids with commas) state no limit;
// 20 is a conservative choice, and the fake platform (affiliatetest) refuses more.
const MaxDetailIDs = 20

// MaxQuery is the most products ProductQuery asks for.
const MaxQuery = 50

const methodProductQuery = "aliexpress.affiliate.product.query"

// ProductDetails asks the platform about up to MaxDetailIDs products in one productdetail.get call and
// returns what it knows of each, by id: a product missing from the map has no details any more (gone,
// or never in the affiliate programme). It never takes a token a click may need: it sends only while
// the client's rate limiter holds more than half its burst (see spare), and otherwise returns
// ErrWouldWait without sending, as it does during a platform ban. Failures as GenerateBatch's.
func (c *Client) ProductDetails(ctx context.Context, ids []string, currency, language string) (map[string]Product, error) {
	if len(ids) == 0 {
		return map[string]Product{}, nil
	}
	if len(ids) > MaxDetailIDs {
		return nil, fmt.Errorf("aliexpress: %d product ids exceed the productdetail.get maximum of %d", len(ids), MaxDetailIDs)
	}
	for _, id := range ids {
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			return nil, fmt.Errorf("aliexpress: product id %q is not a number", id)
		}
	}
	params := url.Values{
		"product_ids":     {strings.Join(ids, ",")},
		"fields":          {detailFields},
		"target_currency": {cmp.Or(currency, "USD")},
		"target_language": {cmp.Or(language, "EN")},
		"tracking_id":     {c.trackingID},
	}
	var out map[string]Product
	err := c.callWith(ctx, methodProductDetail, params, len(ids), c.spare, func(body []byte) error {
		var env productEnvelope
		if err := decode(body, &env); err != nil {
			return err
		}
		res, empty, err := result(env.Error, env.Resp)
		if err != nil {
			return err
		}
		out = make(map[string]Product, len(ids))
		if empty {
			return nil
		}
		asked := make(map[string]bool, len(ids))
		for _, id := range ids {
			asked[id] = true
		}
		for _, p := range res.Products {
			if id := p.ProductID.String(); asked[id] {
				out[id] = p.product()
			}
		}
		return nil
	})
	return out, err
}

// ProductQuery asks product.query for up to n (at most MaxQuery) products matching keywords, in
// currency and language (defaults USD, EN), and returns them as the platform ranks them. Like
// ProductDetails it takes only a spare token: ErrWouldWait, without sending, when there is none.
func (c *Client) ProductQuery(ctx context.Context, keywords string, n int, currency, language string) ([]Product, error) {
	keywords = strings.TrimSpace(keywords)
	if keywords == "" {
		return nil, fmt.Errorf("aliexpress: empty keywords")
	}
	n = min(max(n, 1), MaxQuery)
	params := url.Values{
		"keywords":        {keywords},
		"page_no":         {"1"},
		"page_size":       {strconv.Itoa(n)},
		"fields":          {detailFields},
		"target_currency": {cmp.Or(currency, "USD")},
		"target_language": {cmp.Or(language, "EN")},
		"tracking_id":     {c.trackingID},
	}
	var out []Product
	err := c.callWith(ctx, methodProductQuery, params, 1, c.spare, func(body []byte) error {
		var env queryEnvelope
		if err := decode(body, &env); err != nil {
			return err
		}
		res, empty, err := result(env.Error, env.Resp)
		if err != nil || empty {
			return err
		}
		for _, p := range res.Products {
			out = append(out, p.product())
		}
		return nil
	})
	return out, err
}

// spare takes a token only while at least half the limiter's burst would remain for the clicks (all of
// it for a burst of 1: then only from a full limiter), so a background call never leaves a click waiting
// unless the clicks alone would soon have spent the burst; otherwise, and during a ban, ErrWouldWait.
func (c *Client) spare(ctx context.Context) error {
	burst := c.limiter.Burst()
	need := min(burst, (burst+1)/2+1)
	if c.limiter.Tokens() < float64(need) {
		return fmt.Errorf("aliexpress: no spare platform token: %w", ErrWouldWait)
	}
	return c.sendable(ctx)
}

// queryEnvelope is product.query's answer: the shape of productdetail.get's, with paging counts
// (sergioteula/python-aliexpress-api models/product.py, ProductsResponse).
type queryEnvelope struct {
	Resp  *methodResponse[queryResult] `json:"aliexpress_affiliate_product_query_response"`
	Error *errorResponse               `json:"error_response"`
}

type queryResult struct {
	CurrentPageNo      int                 `json:"current_page_no"`
	CurrentRecordCount int                 `json:"current_record_count"`
	TotalRecordCount   int                 `json:"total_record_count"`
	Products           list[productFields] `json:"products"`
}
